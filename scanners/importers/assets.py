"""Asset-system exports (NetBox devices, Snipe-IT assets, Lansweeper assets, a generic
inventory CSV) as inventory records: one device per row, with evidence from what the row says.

What a record says is judged like what a device says, by the same rules: its model number by
the `model` signature rules (whole, then word by word, so `Hikvision DS-2CD2143G2-I` is read
too), its serial by the `serial` rules, its MAC by the OUI registry and the `oui` rules.  Its
manufacturer is a label (`kind: label` evidence and the device's `brand`): what the record
claims, never proof of the maker, so a record that only says `Hikvision` is reviewed, not
flagged, and an `Amcrest` record with a Dahua MAC block is attributed to Dahua.  Every device
also carries descriptive evidence `probe: inventory, field: record` naming the file and line,
and an `inventory` object (layout, file, line, name, site, location, asset tag, category, the
manufacturer as written).

The file is streamed row by row; mapped cells are bounded, control characters removed, and a
row that cannot be read (a cell over the bound, a MAC or address that is not one, the wrong
number of cells) is reported as `file:line` and skipped.
"""

from __future__ import annotations

import codecs
import csv
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from entityscan.scanners import signals
from entityscan.scanners.importers.asset_layouts import Layout, detect, layouts
from entityscan.scanners.importers.common import MAX_LINE, Imported, ImportFormatError
from entityscan.scanners.inventory import Certainty, Device, Evidence
from entityscan.scanners.oui import normalise_mac
from entityscan.scanners.signals import RuleSet

#: A mapped cell longer than this is no model, serial or address: the row is reported.
MAX_VALUE = 256
#: Any cell (notes columns too) longer than this ends the record as unreadable.
MAX_CELL = 64 * 1024
MAX_COLUMNS = 1024
#: Records read in one run, over all files; the rest of a file is reported, not read.  The
#: document holds every device until it is written (about 26 KB each), so this bounds memory
#: near 5 GiB; larger estates are imported in parts (a site at a time).
MAX_RECORDS = 200_000
MAX_ADDRESSES = 8
_HEAD = 64 * 1024
_SEP_LINE = re.compile(r"^sep=([,;\t|])\r?\n?$")
_SPLIT = re.compile(r"[\s,;]+")
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?|[@-Z\\-_])")
_WORDS = re.compile(r"[\s,;()\[\]]+")
_PLACEHOLDERS = frozenset({"", "-", "--", "n/a", "na", "none", "null", "unknown", "tbd", "?",
                           "not specified", "to be filled by o.e.m.", "default string",
                           "system serial number", "0"})


def encoding_of(path: Path) -> str:
    """`utf-16` or `utf-8-sig` by byte-order mark, `utf-8` when the start decodes as UTF-8,
    else `cp1252` (what Excel on Windows writes); the choice is reported with the file."""
    with open(path, "rb") as stream:
        head = stream.read(_HEAD)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _open(path: Path, encoding: str) -> TextIO:
    return open(path, encoding=encoding, errors="replace", newline="")


@dataclass(frozen=True)
class Table:
    """How a delimited text file is read: its header, dialect, encoding, and lines before the
    header (Excel's `sep=;` line)."""

    header: list[str]
    dialect: type[csv.Dialect]
    encoding: str
    skip: int = 0


def table_header(path: Path) -> Table | None:
    """How to read a delimited text file, or None if it is not one (binary, no delimiter, a
    single column)."""
    encoding = encoding_of(path)
    with _open(path, encoding) as stream:
        first = stream.readline(_HEAD)
        said = _SEP_LINE.match(first)
        if said:  # Excel's own delimiter line, then the header
            first = stream.readline(_HEAD)
    if "\x00" in first or not first.strip():
        return None
    if said:
        delimiter = said.group(1)
    else:
        try:
            delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    # Only the delimiter is guessed: quoting is always the spreadsheet convention (a header
    # without quotes says nothing about how later cells escape theirs).
    dialect = type("Export", (csv.excel,), {"delimiter": delimiter})
    try:
        header = next(csv.reader([first], dialect))
    except (csv.Error, StopIteration):
        return None
    if len(header) < 2:
        return None
    return Table([clean(cell)[:80] for cell in header[:MAX_COLUMNS]], dialect, encoding,
                 1 if said else 0)


def sniff_assets(path: Path) -> Layout:
    """The layout of an asset export; ImportFormatError naming the columns found and the
    layouts known when the file is a table no layout fits."""
    found = table_header(path)
    if found is None:
        raise ImportFormatError("not an asset export either (no delimited header row)")
    header = found.header
    layout = detect(header)
    if layout is None:
        shown = ", ".join(repr(c) for c in header[:30]) + (" …" if len(header) > 30 else "")
        known = "; ".join(f"{lay.name} ({', '.join(_needs(lay))})" for lay in layouts())
        raise ImportFormatError(f"a table whose columns ({shown}) match no asset-export "
                                f"layout; layouts known: {known} (see README, Identifying "
                                f"devices without probing)")
    return layout


def _needs(layout: Layout) -> list[str]:
    needs = [*layout.require]
    if layout.any_of:
        needs.append(f"{layout.any_min} of {'/'.join(layout.any_of[:6])}…")
    if layout.groups:
        needs.append(f"{layout.groups_min} of: " + "; ".join(
            "/".join(group[:4]) + "…" for group in layout.groups))
    return needs


def clean(text: str) -> str:
    """NFKC; terminal escape sequences and invisible format characters (zero-width spaces that
    would split a maker's name) removed, other control characters as spaces, spaces collapsed."""
    if text.isascii() and text.isprintable():  # the common case, fast
        return " ".join(text.split())
    text = _ESCAPES.sub("", unicodedata.normalize("NFKC", text))
    text = "".join("" if unicodedata.category(ch) == "Cf" else ch if ch.isprintable() else " "
                   for ch in text)
    return " ".join(text.split())


def _placeholder(value: str) -> bool:
    folded = value.casefold()
    return folded in _PLACEHOLDERS or (len(set(folded)) == 1 and len(folded) > 2)


def _lines(stream: TextIO, too_long: list[int]) -> Iterator[str]:
    """Physical lines, each at most MAX_LINE characters; a longer one is noted and read as an
    empty line (its rest is skipped, never held)."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE and not line.endswith("\n"):
            while (rest := stream.readline(MAX_LINE)) and not rest.endswith("\n"):
                pass
            too_long.append(number)
            yield "\n"
            continue
        yield line


class _Judge:
    """Signal evaluation with a cache: an inventory repeats few models many times."""

    def __init__(self, rules: RuleSet | None) -> None:
        self.rules = rules
        self.memo: dict[tuple[str, str, str, str], list[Evidence]] = {}
        self.blocks: dict[tuple[str, str], list[Evidence]] = {}

    def __call__(self, kind: str, value: str, probe: str, field: str) -> list[Evidence]:
        key = (kind, value, probe, field)
        found = self.memo.get(key)
        if found is None:
            found = signals.evaluate(kind, value, probe=probe, field=field, rules=self.rules)
            if len(self.memo) < 100_000:
                self.memo[key] = found
        return found

    def oui(self, mac: str, column: str) -> list[Evidence]:
        """Registrant evidence, judged once per 36-bit prefix (MA-L, MA-M and MA-S blocks all
        contain one) and given this MAC."""
        key = (mac[:13], column)
        found = self.blocks.get(key)
        if found is None:
            found = signals.evaluate("oui", mac, probe="oui", field=column, rules=self.rules)
            if len(self.blocks) < 100_000:
                self.blocks[key] = found
        return [ev.model_copy(update={"fields": {**ev.fields, "mac": mac}}) for ev in found]

    def model(self, value: str, column: str) -> list[Evidence]:
        """The model rules on the whole value; if none points to a maker, on each word that
        looks like a model number; brand words (`Hikvision 4MP turret`) as labels."""
        whole = self("model", value, "inventory", column)
        if any(ev.indicates for ev in whole):
            return whole
        words = [w for w in _WORDS.split(value) if len(w) >= 4 and any(c.isdigit() for c in w)]
        found = list(whole)
        if len(words) > 1 or (words and words[0] != value):
            for word in words[:8]:
                found += [ev for ev in self("model", word, "inventory", column) if ev.indicates]
        found += [ev for ev in self("label", value, "inventory", column) if ev.indicates]
        return found


class _BadRow(Exception):
    pass


def read_assets(path: Path, layout: Layout, imported: Imported, rules: RuleSet | None) -> None:
    """Append one device per readable row of `path` to `imported.records`."""
    found = table_header(path)
    if found is None:
        imported.error(path, None, "no delimited header row")
        return
    header, dialect, encoding = found.header, found.dialect, found.encoding
    imported.encodings[str(path)] = encoding
    columns = layout.columns(header)
    judge = _Judge(rules)
    too_long: list[int] = []
    previous = csv.field_size_limit(MAX_CELL)
    try:
        with _open(path, encoding) as stream:
            reader = csv.reader(_lines(stream, too_long), dialect)
            for _ in range(found.skip + 1):  # the header (and a `sep=` line), read above
                next(reader, None)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    imported.error(path, reader.line_num, f"unreadable row ({exc}); skipped")
                    continue
                while too_long:
                    imported.error(path, too_long.pop(0),
                                   f"line longer than {MAX_LINE} characters, skipped")
                if not cells or not any(c.strip() for c in cells):
                    continue
                if len(imported.records) >= MAX_RECORDS:
                    imported.error(path, reader.line_num, f"more than {MAX_RECORDS:,} records "
                                   "in this run; the rest of the file was not read (import "
                                   "the export in parts, e.g. a site at a time)")
                    break
                try:
                    device = _record(cells, header, columns, layout, judge,
                                     f"{path.name}:{reader.line_num}", len(header))
                except _BadRow as exc:
                    imported.error(path, reader.line_num, f"{exc}; row skipped")
                    continue
                if device is None:
                    imported.not_screenable += 1
                else:
                    imported.records.append(_unique(device, imported, reader.line_num))
            for number in too_long:
                imported.error(path, number, f"line longer than {MAX_LINE} characters, skipped")
    finally:
        csv.field_size_limit(previous)


def _unique(device: Device, imported: Imported, line: int) -> Device:
    """A record whose identity another record of this run already has keeps both: the later
    one is keyed by its line too, and says so."""
    record = (device.model_extra or {})["inventory"]
    first_line = imported.record_keys.setdefault(record["key"], f"{record['file']}:{line}")
    if first_line == f"{record['file']}:{line}":
        return device
    record["key"] = f"{record['key']}@{record['file']}:{line}"
    return device.model_copy(update={"errors": [
        *device.errors, f"another record ({first_line}) has the same asset tag, name or "
                        "address; this one is kept apart"]})


def _values(cells: list[str], header: list[str], indexes: list[int]) -> list[tuple[str, str]]:
    """(column name, cleaned value) of the non-placeholder cells at `indexes`."""
    out = []
    for index in indexes:
        raw = cells[index] if index < len(cells) else ""
        if len(raw) > MAX_VALUE:
            raise _BadRow(f"column {header[index]!r} holds {len(raw):,} characters, over the "
                          f"{MAX_VALUE} limit for that field")
        value = clean(raw)
        if not _placeholder(value):
            out.append((header[index], value))
    return out


def _record_key(layout: Layout, first: Callable[[str], str | None], addresses: list[str],
                where: str) -> str:
    """The record's identity in the store, stable across exports: its asset tag (unique in
    these systems), else site and name, else site and address, else file and line."""
    site = first("site") or first("location") or ""
    if first("asset_tag"):
        return f"{layout.tool}:{first('asset_tag')}"
    if first("name"):
        return f"{layout.tool}:{site}/{first('name')}"
    if addresses:
        return f"{layout.tool}:{site}/{addresses[0]}"
    return f"{layout.tool}:{where}"


def _record(cells: list[str], header: list[str], columns: dict[str, list[int]], layout: Layout,
            judge: _Judge, where: str, width: int) -> Device | None:
    if len(cells) != width and any(c.strip() for c in cells[width:]):
        raise _BadRow(f"{len(cells)} cells where the header has {width}")
    got = {name: _values(cells, header, indexes) for name, indexes in columns.items()}

    def first(name: str) -> str | None:
        values = got.get(name)
        return values[0][1] if values else None

    macs: list[tuple[str, str]] = []
    for column, value in got.get("mac", []):
        for part in _SPLIT.split(value)[:MAX_ADDRESSES]:
            mac = normalise_mac(part)
            if mac is None:
                raise _BadRow(f"column {column!r}: {part[:40]!r} is not a MAC address")
            if mac not in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"):  # else a placeholder
                macs.append((column, mac))
    addresses: list[str] = []
    for column, value in got.get("ip", []):
        for part in _SPLIT.split(value)[:MAX_ADDRESSES]:
            try:
                address = ipaddress.ip_address(part.split("/", 1)[0].split("%", 1)[0])
            except ValueError:
                raise _BadRow(f"column {column!r}: {part[:40]!r} is not an IP address") from None
            if not address.is_unspecified:  # 0.0.0.0 is a placeholder
                addresses.append(str(address))
    if not any(got.get(name) for name in ("manufacturer", "model_number", "model", "serial")) \
            and not macs:
        return None  # nothing that says what the device is

    evidence = [Evidence(probe="inventory", field="record", value=f"{layout.name}, {where}"[:200],
                         indicates=None, certainty=Certainty.MEDIUM, kind="label",
                         source=layout.source)]
    manufacturer = first("manufacturer")
    for column, value in got.get("manufacturer", [])[:1]:
        evidence += judge("label", value, "inventory", column)
    for name in ("model_number", "model"):
        for column, value in got.get(name, [])[:1]:
            evidence += judge.model(value, column)
    serial = first("serial")
    for column, value in got.get("serial", [])[:1]:  # the serial itself is on the device
        evidence += [ev for ev in judge("serial", value, "inventory", column) if ev.indicates]
    for column, mac in dict.fromkeys(macs):
        evidence += judge.oui(mac, column)
    record = {"layout": layout.id, "line": int(where.rsplit(":", 1)[1]), "file": where.rsplit(
        ":", 1)[0], **{name: first(name) for name in ("name", "site", "location", "asset_tag",
                                                     "category", "manufacturer")
                       if first(name)}}
    record["key"] = _record_key(layout, first, addresses, where)
    return Device(addresses=list(dict.fromkeys(addresses)), mac=macs[0][1] if macs else None,
                  serial=serial, brand=manufacturer,
                  model=first("model_number") or first("model"), evidence=evidence,
                  discovered_by=[layout.tool], inventory=record)
