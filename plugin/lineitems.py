"""Reading procurement line items from CSV or JSON, with errors that name file, line and field.

CSV header names map to line-item fields through `HEADER_SYNONYMS`; unknown columns are kept
in `LineItem.extra` and echoed in the output.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from entityscan.errors import InputError
from entityscan.model import LineItem

MAX_CELL = 100_000  # characters; a longer cell is an export gone wrong, not a description
MAX_FILE = 512 * 1024 * 1024

HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "line", "line_id", "line_no", "line_number", "item_id", "line_item",
           "po_line", "ref", "reference", "no", "number"),
    "supplier": ("supplier", "supplier_name", "vendor", "vendor_name", "seller", "distributor",
                 "reseller"),
    "manufacturer": ("manufacturer", "manufacturer_name", "mfr", "mfg", "make", "maker", "oem"),
    "brand": ("brand", "brand_name", "label", "trademark"),
    "description": ("description", "desc", "item_description", "product_description",
                    "product", "product_name", "item", "item_name", "title"),
    "part_number": ("part_number", "part_no", "part", "pn", "mpn", "sku", "model",
                    "model_number", "model_no", "catalog_number", "mfr_part_number",
                    "manufacturer_part_number", "article_number"),
}
_LOOKUP = {syn: field for field, syns in HEADER_SYNONYMS.items() for syn in syns}
_FIELDS = tuple(f for f in HEADER_SYNONYMS if f != "id")
# One shared "fields set" for every item read (line items are frozen, nothing adds to it);
# a set per item costs ~15 MB per 100,000 lines.
_ALL_FIELDS = set(LineItem.model_fields)


def _header_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if size > MAX_FILE:
        raise InputError(f"{path}: file is {size:,} bytes, over the {MAX_FILE:,}-byte limit")
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{path}: the file is empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} "
                         f"at offset {exc.start}); save the file as UTF-8") from None


def _map_headers(path: Path, headers: list[str]) -> dict[int, str]:
    """Column index -> line-item field, or `extra:<header>` for unknown columns."""
    mapping: dict[int, str] = {}
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        if not header.strip():
            raise InputError(f"{path}: line 1: column {index + 1} has an empty header")
        key = _header_key(header)
        target = _LOOKUP.get(key, f"extra:{header.strip()}")
        if target in seen:
            raise InputError(f"{path}: line 1: duplicate header {header.strip()!r} (columns "
                             f"{seen[target] + 1} and {index + 1} both mean `{target}`)")
        seen[target] = index
        mapping[index] = target
    if not any(t in _FIELDS for t in mapping.values()):
        raise InputError(f"{path}: line 1: no column to screen; need one of "
                         f"{', '.join(_FIELDS)} (or a synonym such as vendor, mfr, mpn, sku)")
    return mapping


def _make_item(path: Path, line: int, record: dict[str, str], extra: dict[str, str],
               default_id: str) -> LineItem:
    for name, value in [*record.items(), *extra.items()]:
        if len(value) > MAX_CELL:
            raise InputError(f"{path}: line {line}, field {name!r}: cell is {len(value):,} "
                             f"characters, over the {MAX_CELL:,} limit")
    item_id = (record.pop("id", "") or "").strip() or default_id
    clean = {k: (v.strip() or None) for k, v in record.items()}
    # Every value is already a checked string: skip pydantic's validation on the hot path.
    return LineItem.model_construct(_ALL_FIELDS, id=item_id, extra=extra, **clean)


def read_csv(path: Path) -> list[LineItem]:
    text = _read_text(path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(MAX_FILE)
    # StringIO streams rows; a list of lines would hold the file twice.
    reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)
    try:
        headers = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputError(f"{path}: line 1: cannot read the header row: {exc}") from None
    mapping = _map_headers(path, headers)
    items: list[LineItem] = []
    ids: set[str] = set()
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"{path}: line {reader.line_num}: malformed CSV: {exc}") from None
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(headers):
            raise InputError(f"{path}: line {reader.line_num}: {len(row)} cells but the header "
                             f"has {len(headers)} columns")
        record: dict[str, str] = {}
        extra: dict[str, str] = {}
        for index, cell in enumerate(row):
            target = mapping[index]
            if target.startswith("extra:"):
                extra[target[6:]] = cell
            else:
                record[target] = cell
        item = _make_item(path, reader.line_num, record, extra, f"line-{reader.line_num}")
        if item.id in ids:
            raise InputError(f"{path}: line {reader.line_num}, field 'id': duplicate id "
                             f"{item.id!r}")
        ids.add(item.id)
        items.append(item)
    return items


def read_json(path: Path) -> list[LineItem]:
    text = _read_text(path)
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: "
                         f"{exc.msg}") from None
    rows = doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise InputError(f"{path}: expected a list of line items or {{\"items\": [...]}}")
    items: list[LineItem] = []
    ids: set[str] = set()
    for number, raw in enumerate(rows, start=1):
        where = f"item {number}"
        if not isinstance(raw, dict):
            raise InputError(f"{path}: {where}: expected an object, got {type(raw).__name__}")
        record: dict[str, str] = {}
        extra: dict[str, str] = {}
        for key, value in raw.items():
            if isinstance(value, dict | list):
                if key == "extra" and isinstance(value, dict):
                    extra.update({str(k): str(v) for k, v in value.items()})
                    continue
                raise InputError(f"{path}: {where}, field {key!r}: expected text, got "
                                 f"{type(value).__name__}")
            text_value = "" if value is None else str(value)
            target = _LOOKUP.get(_header_key(str(key)))
            if target is None:
                extra[str(key)] = text_value
            else:
                record[target] = text_value
        if not any(record.get(f) for f in _FIELDS):
            raise InputError(f"{path}: {where}: nothing to screen; needs one of "
                             f"{', '.join(_FIELDS)}")
        item = _make_item(path, number, record, extra, f"item-{number}")
        if item.id in ids:
            raise InputError(f"{path}: {where}, field 'id': duplicate id {item.id!r}")
        ids.add(item.id)
        items.append(item)
    return items


def read_line_items(path: Path) -> list[LineItem]:
    """Line items from a CSV or JSON file (by extension, else by the first character)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return read_json(path)
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        return read_csv(path)
    head = _read_text(path).lstrip()[:1]
    return read_json(path) if head in "[{" else read_csv(path)
