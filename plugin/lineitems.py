"""Reading procurement line items from CSV, JSON or a workbook sheet (.xlsx, .xlsm, .ods), in
chunks, with errors that name file (and sheet), line (or row) and field.

    source = LineItemFile(path)            # header checked now: a bad file fails before work
    for rows in source.chunks(2000):       # `RawItem` tuples, in file order
        items = [to_item(r) for r in rows]

Memory does not grow with the file: rows are read as they are screened.  The one exception is
the duplicate-id check, a table of 64-bit id hashes (16 bytes a line; a hash seen twice is
confirmed against the file before it is reported), and a workbook's sheet, which its reader
holds (`entityscan.sheets`).  Header names map to line-item fields through
`entityscan.columns` (synonyms, ERP layouts, `--map`); unknown columns are kept in
`LineItem.extra` and echoed in the output.  A CSV file's encoding is chosen by
`entityscan.textencoding` and its delimiter sniffed.  JSON is a list of objects or
`{"items": [...]}`, read element by element with the standard library's decoder
(`json_items`).
"""

from __future__ import annotations

import codecs
import csv
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from entityscan.columns import FIELDS, HEADER_SYNONYMS, ColumnMap, header_key, map_columns
from entityscan.errors import InputError
from entityscan.jsonstream import JsonStreamError, json_items
from entityscan.model import LineItem
from entityscan.sheets import SHEET_SUFFIXES, Sheet, open_sheet
from entityscan.textencoding import (
    Encoding,
    choose_encoding,
    dialect_with,
    not_utf8,
    open_text,
)

MAX_CELL = 100_000  # characters; a longer cell is an export gone wrong, not a description
# The csv module's own bound: an unterminated quote stops here instead of reading the file
# into one cell (cells between MAX_CELL and this are refused with their field named).
MAX_RAW_CELL = 16 * 1024 * 1024
MAX_EXTRA_COLUMNS = 1000  # distinct unknown keys in a JSON file
CHUNK = 1000

_LOOKUP = {synonym: field for field, synonyms in HEADER_SYNONYMS.items()
           for synonym in synonyms}  # JSON keys: the built-in synonyms
# One shared "fields set" for every item built (line items are frozen, nothing adds to it);
# a set per item costs ~15 MB per 100,000 lines.
_ALL_FIELDS = set(LineItem.model_fields)

# (id, supplier, manufacturer, brand, description, part_number, extra): what travels between
# processes (a tenth of the cost of pickling a LineItem).
RawItem = tuple[str, str | None, str | None, str | None, str | None, str | None,
                dict[str, str]]


def _construct(raw: RawItem) -> LineItem:
    item_id, supplier, manufacturer, brand, description, part_number, extra = raw
    return LineItem.model_construct(_ALL_FIELDS, id=item_id, supplier=supplier,
                                    manufacturer=manufacturer, brand=brand,
                                    description=description, part_number=part_number,
                                    extra=extra)


_new = object.__new__
_set = object.__setattr__


def _construct_fast(raw: RawItem) -> LineItem:
    """What `model_construct` does for a model without defaults to fill, private attributes
    or extras, without its generic work: a fifth of the cost (it is paid on every line)."""
    item = _new(LineItem)
    _set(item, "__dict__", dict(zip(_FIELD_ORDER, raw, strict=True)))
    _set(item, "__pydantic_fields_set__", _ALL_FIELDS)
    _set(item, "__pydantic_extra__", None)
    _set(item, "__pydantic_private__", None)
    return item


_FIELD_ORDER = ("id", *FIELDS, "extra")


def _pick_constructor() -> Callable[[RawItem], LineItem]:
    """The fast constructor when it builds exactly what `model_construct` builds (checked
    once: it relies on how pydantic stores a model), else `model_construct`."""
    probe: RawItem = ("PO-1", "s", None, "b", "d", "p", {"k": "v"})
    try:
        fast, slow = _construct_fast(probe), _construct(probe)
        same = (fast == slow and fast.model_dump() == slow.model_dump()
                and fast.model_fields_set == slow.model_fields_set
                and fast.__getstate__() == slow.__getstate__())
    except Exception:
        same = False
    return _construct_fast if same else _construct


to_item: Callable[[RawItem], LineItem] = _pick_constructor()
"""The `LineItem` of a checked row (no second validation: every value is a checked str)."""


class _SeenIds:
    """Ids seen so far as 64-bit hashes in an open-addressing table (16 bytes an id)."""

    def __init__(self) -> None:
        self._table = array("q", bytes(8 * 4096))
        self._mask = 4095
        self._count = 0

    def add(self, item_id: str) -> bool:
        """Remember `item_id`; True when an id with the same hash was seen before."""
        h = hash(item_id) or 1  # 0 marks an empty slot
        table, mask = self._table, self._mask
        slot = h & mask
        while True:
            found = table[slot]
            if found == 0:
                table[slot] = h
                break
            if found == h:
                return True
            slot = (slot + 1) & mask
        self._count += 1
        if self._count * 2 > mask:
            self._grow()
        return False

    def _grow(self) -> None:
        old = self._table
        self._table = array("q", bytes(16 * len(old)))
        self._mask = 2 * len(old) - 1
        table, mask = self._table, self._mask
        for h in old:
            if h:
                slot = h & mask
                while table[slot]:
                    slot = (slot + 1) & mask
                table[slot] = h


class LineItemFile:
    """A CSV, JSON or workbook file of line items (by extension, else by its first
    character), opened and checked up to its header; `chunks()` reads it.

    `sheet`: a workbook's sheet (default: its first visible worksheet); `encoding`: a CSV
    file's (default: chosen by `entityscan.textencoding`); `overrides`: `--map` as
    {field: column}."""

    def __init__(self, path: Path, *, sheet: str | None = None, encoding: str | None = None,
                 overrides: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.encoding: Encoding | None = None
        self.sheet: Sheet | None = None
        if suffix in SHEET_SUFFIXES:
            self.kind = "sheet"
            if encoding is not None:
                raise InputError(f"{self.path}: --encoding is for CSV files; a workbook "
                                 f"names its own")
        elif sheet is not None:
            raise InputError(f"{self.path}: --sheet is for workbooks "
                             f"({', '.join(SHEET_SUFFIXES)})")
        elif suffix == ".json":
            self.kind = "json"
        elif suffix in (".csv", ".tsv", ".txt"):
            self.kind = "csv"
        else:
            with open_text(self.path) as handle:
                try:
                    head = handle.read(4096).lstrip()[:1]
                except UnicodeDecodeError:
                    head = ""
            self.kind = "json" if head and head in "[{" else "csv"
        self.columns: ColumnMap | None = None
        self._headers: list[str] = []
        self._header_row = 1
        self._lead = 0  # empty cells before a sheet's first column
        self._dialect: type[csv.Dialect] | csv.Dialect = csv.excel
        if self.kind == "json":
            if overrides:
                raise InputError(f"{self.path}: --map is for CSV and workbook columns; a JSON "
                                 f"file's keys are its fields")
            return
        if self.kind == "csv":
            self.encoding = choose_encoding(self.path, encoding)
            self._read_header()
        else:
            self.sheet = open_sheet(self.path, sheet)
            self._read_sheet_header()
        self.columns = map_columns(self._where(self._header_row), self._headers, overrides)

    @property
    def _name(self) -> str:
        """The file, and its sheet, as messages name them."""
        return self.sheet.where if self.sheet is not None else str(self.path)

    def _where(self, row: int) -> str:
        if self.sheet is not None:
            return f"{self.sheet.where}, row {row}"
        return f"{self.path}: line {row}"

    def describe_input(self) -> dict[str, Any]:
        """How the file was read: its kind, and its sheet, encoding and delimiter."""
        about: dict[str, Any] = {"file": str(self.path), "kind": self.kind}
        if self.sheet is not None:
            about.update(sheet=self.sheet.name, sheet_hidden=self.sheet.hidden)
        if self.encoding is not None:
            about.update(encoding=codecs.lookup(self.encoding.codec).name,
                         encoding_chosen_by=self.encoding.how,
                         delimiter=self._dialect.delimiter)
        return about

    # ----- CSV -----
    def _read_header(self) -> None:
        assert self.encoding is not None
        with open_text(self.path, self.encoding) as handle:
            try:
                sample = handle.read(4096)
                handle.seek(0)
                try:
                    # the delimiter only: the sniffer's guesses at quoting are less reliable
                    # than Excel's rules (a doubled quote inside a quoted cell)
                    delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
                except csv.Error:
                    delimiter = ","
                self._dialect = dialect_with(delimiter)
                csv.field_size_limit(MAX_RAW_CELL)
                reader = csv.reader(handle, self._dialect, strict=True)
                try:
                    self._headers = next(reader)
                except (StopIteration, csv.Error) as exc:
                    raise InputError(f"{self.path}: line 1: cannot read the header row: "
                                     f"{exc}") from None
            except UnicodeDecodeError:
                raise not_utf8(self.path, self.encoding.codec) from None

    # ----- workbook -----
    def _read_sheet_header(self) -> None:
        assert self.sheet is not None
        for number, cells in self.sheet.rows():  # the first row with something in it
            while cells and not cells[-1].strip():  # formatted but empty columns
                cells.pop()
            # columns left of the table (a reader that starts at column A)
            self._lead = next(i for i, c in enumerate(cells) if c.strip())
            self._headers, self._header_row = cells[self._lead:], number
            return
        raise InputError(f"{self.sheet.where}: the sheet is empty")

    def _sheet_lines(self) -> Iterator[tuple[int, list[str]]]:
        assert self.sheet is not None
        rows = self.sheet.rows()
        for number, _ in rows:
            if number == self._header_row:
                break
        lead = self._lead
        for number, cells in rows:
            if lead:
                if any(c.strip() for c in cells[:lead]):
                    raise InputError(f"{self._where(number)}: a cell left of the header's "
                                     f"first column")
                cells = cells[lead:]
            while len(cells) > len(self._headers) and not cells[-1].strip():
                cells.pop()
            yield number, cells

    def _csv_lines(self) -> Iterator[tuple[int, list[str]]]:
        assert self.encoding is not None
        path = self.path
        with open_text(path, self.encoding) as handle:
            csv.field_size_limit(MAX_RAW_CELL)
            reader = csv.reader(handle, self._dialect, strict=True)
            try:
                next(reader)  # the header, checked when the file was opened
                while True:
                    try:
                        row = next(reader)
                    except StopIteration:
                        break
                    except csv.Error as exc:
                        raise InputError(f"{path}: line {reader.line_num}: malformed CSV: "
                                         f"{exc}") from None
                    yield reader.line_num, row
            except UnicodeDecodeError:
                raise not_utf8(path, self.encoding.codec) from None

    def extra_columns(self) -> list[str]:
        """The unknown columns, in first-seen order: a table's from its header; a JSON
        file's from a pass over the file (its items may differ in keys)."""
        if self.columns is not None:
            return self.columns.extra_columns()
        seen: dict[str, None] = {}
        for rows in self.chunks(check_ids=False):
            for row in rows:
                for key in row[6]:
                    if key not in seen:
                        if len(seen) >= MAX_EXTRA_COLUMNS:
                            raise InputError(f"{self.path}: more than {MAX_EXTRA_COLUMNS} "
                                             f"distinct unknown keys; CSV output cannot "
                                             f"hold them (use --format json or ndjson)")
                        seen[key] = None
        return list(seen)

    def check(self) -> int:
        """Read the whole file as `chunks()` would and return its number of items: every
        error `chunks()` could raise is raised now (before anything is screened or saved)."""
        return sum(len(rows) for rows in self.chunks())

    def chunks(self, size: int = CHUNK, *, check_ids: bool = True) -> Iterator[list[RawItem]]:
        """The items in file order, `size` at a time."""
        rows = self._json_rows(check_ids) if self.kind == "json" else self._table_rows(check_ids)
        chunk: list[RawItem] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _table_rows(self, check_ids: bool) -> Iterator[RawItem]:
        assert self.columns is not None
        targets, width = self.columns.targets, len(self._headers)
        id_at = targets.index("id") if "id" in targets else None
        field_at = [targets.index(f) if f in targets else None for f in FIELDS]
        extra_at = [(i, t[6:]) for i, t in enumerate(targets) if t.startswith("extra:")]
        seen = _SeenIds() if check_ids else None
        sheet = self.sheet is not None
        lines = self._sheet_lines() if sheet else self._csv_lines()
        for line, row in lines:
            if not "".join(row).strip():
                continue
            where = f"row {line}" if sheet else f"line {line}"
            if len(row) > width:
                raise InputError(f"{self._where(line)}: {len(row)} cells but the header has "
                                 f"{width} columns")
            if max(map(len, row)) > MAX_CELL:
                _refuse_long_cell(self._name, where, {
                    t[6:] if t.startswith("extra:") else t: cell
                    for t, cell in zip(targets, row, strict=False)})
            count = len(row)
            item_id = (row[id_at].strip() if id_at is not None and id_at < count
                       else "") or (f"row-{line}" if sheet else f"line-{line}")
            values = [(row[i].strip() or None) if i is not None and i < count else None
                      for i in field_at]
            extra = {name: row[i] for i, name in extra_at if i < count}
            if seen is not None and seen.add(item_id):
                self._confirm_duplicate(item_id, where)
            yield (item_id, values[0], values[1], values[2], values[3], values[4], extra)

    # ----- JSON -----
    def _json_rows(self, check_ids: bool) -> Iterator[RawItem]:
        path = self.path
        seen = _SeenIds() if check_ids else None
        with open_text(path) as handle:
            try:
                for number, (line, raw) in enumerate(json_items(handle), start=1):
                    where = f"item {number} (line {line})"
                    row = _json_row(path, where, raw, f"item-{number}")
                    if seen is not None and seen.add(row[0]):
                        self._confirm_duplicate(row[0], where)
                    yield row
            except JsonStreamError as exc:
                raise InputError(f"{path}: {exc}") from None
            except UnicodeDecodeError:
                raise not_utf8(path) from None

    def _confirm_duplicate(self, item_id: str, where: str) -> None:
        """Two ids hashed alike: read the ids again up to here and raise if they are equal
        (a true 64-bit hash collision of two different ids is let through)."""
        count = 0
        for rows in self.chunks(check_ids=False):
            for row in rows:
                if row[0] == item_id:
                    count += 1
                    if count == 2:
                        raise InputError(f"{self._name}: {where}, field 'id': duplicate id "
                                         f"{item_id!r}")


def _json_row(path: Path, where: str, raw: Any, default_id: str) -> RawItem:
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
        target = _LOOKUP.get(header_key(str(key)))
        if target is None:
            extra[str(key)] = text_value
        else:
            record[target] = text_value
    if not any(record.get(f) for f in FIELDS):
        raise InputError(f"{path}: {where}: nothing to screen; needs one of "
                         f"{', '.join(FIELDS)}")
    for name, value in [*record.items(), *extra.items()]:
        if len(value) > MAX_CELL:
            _refuse_long_cell(path, where, {name: value})
    item_id = record.pop("id", "").strip() or default_id
    values = [(record.get(f) or "").strip() or None for f in FIELDS]
    return (item_id, values[0], values[1], values[2], values[3], values[4], extra)


def _refuse_long_cell(path: Path | str, where: str, cells: dict[str, str]) -> None:
    for name, value in cells.items():
        if len(value) > MAX_CELL:
            raise InputError(f"{path}: {where}, field {name!r}: cell is {len(value):,} "
                             f"characters, over the {MAX_CELL:,} limit")


def read_line_items(path: Path) -> list[LineItem]:
    """Every line item of a CSV or JSON file, in a list (small files; `LineItemFile` streams)."""
    return [to_item(row) for rows in LineItemFile(Path(path)).chunks() for row in rows]
