"""Loaders for the trade.gov Consolidated Screening List (CSL) bulk files, CSV and JSON.

The official files have quirks that silently lose entries if ignored (see
shared/reference/restricted-lists.md):

- columns are found by header name; older files lack `_id`, columns may be reordered or added;
  the JSON file has a top-level `results` array and `id` where the CSV has `_id`;
- `type` is empty on Entity List rows, so nothing here filters on it;
- multi-valued cells are joined with "; " and Entity List aliases may end "...; and <alias>";
- Entity List names embed affiliates (`... (Huawei). Affiliated Entity: <name>`,
  `Subordinate Institution - <name>`) and location text (`..., Guiyang, Guizhou`);
- `federal_register_notice` may hold several citations.

Both loaders stream: rows are parsed one at a time and never held as raw text.  Every error is
a `ListError` naming the file, the line (CSV row / JSON line) and the field.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from entityscan.errors import ListError
from entityscan.model import ListEntry

#: The public bulk files (no key needed).
CSL_CSV_URL = "https://data.trade.gov/downloadable_consolidated_screening_list/v1/consolidated.csv"
CSL_JSON_URL = "https://data.trade.gov/downloadable_consolidated_screening_list/v1/consolidated.json"

#: A cell longer than this is refused: the largest real cells (packed Entity List addresses)
#: are tens of kilobytes, so a megabyte means a broken or hostile file.
MAX_CELL_CHARS = 1_000_000
#: One JSON record may not exceed this many characters.
MAX_RECORD_CHARS = 4 * MAX_CELL_CHARS
CSV_HARD_LIMIT = 16 * MAX_CELL_CHARS

#: The published CSV header, in order (restricted-lists.md); the loader reads by name, this is
#: for writers (benchmark generator, test fixtures) that must produce the real shape.
CSL_HEADER = (
    "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,"
    "start_date,end_date,standard_order,license_requirement,license_policy,call_sign,"
    "vessel_type,gross_tonnage,gross_registered_tonnage,vessel_flag,vessel_owner,remarks,"
    "source_list_url,alt_names,citizenships,dates_of_birth,nationalities,places_of_birth,"
    "source_information_url,ids"
).split(",")

REQUIRED_FIELDS = ("name", "source")
#: The columns entries are built from; other columns are validated but not kept.
USED_FIELDS = frozenset((
    "_id", "id", "source", "entity_number", "name", "addresses", "federal_register_notice",
    "start_date", "end_date", "license_requirement", "programs", "remarks", "source_list_url",
    "source_information_url", "alt_names", "citizenships", "nationalities"))

#: Exact `source` strings -> short list codes.
SOURCE_CODES: dict[str, str] = {
    "Entity List (EL) - Bureau of Industry and Security": "EL",
    "Denied Persons List (DPL) - Bureau of Industry and Security": "DPL",
    "Unverified List (UVL) - Bureau of Industry and Security": "UVL",
    "Military End User (MEU) List - Bureau of Industry and Security": "MEU",
    "ITAR Debarred (DTC) - State Department": "DTC",
    "Nonproliferation Sanctions (ISN) - State Department": "ISN",
    "Specially Designated Nationals (SDN) - Treasury Department": "SDN",
    "Foreign Sanctions Evaders (FSE) - Treasury Department": "FSE",
    "Sectoral Sanctions Identifications List (SSI) - Treasury Department": "SSI",
    "Palestinian Legislative Council List (PLC) - Treasury Department": "PLC",
    "Capta List (CAP) - Treasury Department": "CAP",
    "Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department": "NS-MBS",
    "Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department":
        "CMIC",
}
KNOWN_CODES = frozenset(SOURCE_CODES.values())

_PAREN_CODE = re.compile(r"\(([A-Za-z][A-Za-z0-9-]*)(?:\s+List)?\)")
_SLUG = re.compile(r"[^a-z0-9]+")


def source_code(source: str) -> str:
    """Short list code for a CSL `source` string; unknown sources keep a slug, never dropped."""
    text = " ".join(source.split())
    if text in SOURCE_CODES:
        return SOURCE_CODES[text]
    # The publisher may reword the tail ("- Treasury") but keeps the code in parentheses.
    for match in _PAREN_CODE.finditer(text):
        code = match.group(1).upper()
        if code in KNOWN_CODES:
            return code
    slug = _SLUG.sub("-", text.lower()).strip("-")[:60]
    return "x-" + (slug or "unknown")


# --- field helpers ----------------------------------------------------------------------

_SPLIT_MULTI = re.compile(r"\s*;\s*")
_LEADING_AND = re.compile(r"^and\s+", re.IGNORECASE)


def split_multi(value: str) -> list[str]:
    """Split a "; "-joined cell; an element after the first loses a leading "and "."""
    if ";" not in value:
        single = value.strip()
        return [single] if single else []
    parts = [p.strip() for p in _SPLIT_MULTI.split(value.strip())] if value.strip() else []
    out: list[str] = []
    for index, part in enumerate(parts):
        if index:
            part = _LEADING_AND.sub("", part).strip()
        if part:
            out.append(part)
    return out


def split_citations(value: str) -> list[str]:
    """`83 FR 37423; 87 FR 77505` -> both citations, order kept."""
    return split_multi(value)


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y")


def parse_date(value: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    head = text[:10] if re.match(r"\d{4}-\d{2}-\d{2}[T ]", text) else text
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(head, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text[:40]!r}")


# Legal forms and organisation words: a name ending in one is complete, so comma-separated
# words after it are location text ("..., Ltd., Guiyang, Guizhou").
_LEGAL_TAIL = re.compile(
    r"(?:\b(?:co|corp|corporation|company|inc|incorporated|ltd|limited|llc|l\.l\.c|llp|plc|"
    r"gmbh|ag|sa|s\.a|jsc|ojsc|pjsc|cjsc|ooo|bv|b\.v|pte|pvt|fze|fzco|fzc|lp|group|"
    r"institute|university|academy|college|bureau|center|centre|factory|laboratory|"
    r"administration|agency|department|ministry|office|school|hospital)\.?|\))$",
    re.IGNORECASE)
_LEGAL_WORD = re.compile(
    r"^(?:co|corp|corporation|company|inc|ltd|limited|llc|llp|plc|gmbh|ag|sa|jsc|pjsc|ojsc|"
    r"cjsc|ooo|oao|zao|ao|fze|fzco|bv|pte|pvt|lp|group|holding|holdings|trading|technology|"
    r"technologies|industries|industry)\.?$",
    re.IGNORECASE)
_PLACE_SEGMENT = re.compile(r"^[A-Z][A-Za-z'\-]*(?:\s+[A-Z][A-Za-z'\-]*){0,2}$")
#: Region names that end Entity List addresses-in-names ("..., Guiyang, Guizhou").  A trailing
#: segment naming one of these is location text even when the name has no legal form.
_REGIONS = frozenset(s.casefold() for s in (
    "Anhui", "Beijing", "Chongqing", "Fujian", "Gansu", "Guangdong", "Guangxi", "Guizhou",
    "Hainan", "Hebei", "Heilongjiang", "Henan", "Hong Kong", "Hubei", "Hunan", "Inner Mongolia",
    "Jiangsu", "Jiangxi", "Jilin", "Liaoning", "Macau", "Macao", "Ningxia", "Qinghai",
    "Shaanxi", "Shandong", "Shanghai", "Shanxi", "Sichuan", "Tianjin", "Tibet", "Xinjiang",
    "Yunnan", "Zhejiang", "China", "PRC"))


def _is_region(segment: str) -> bool:
    low = segment.casefold()
    return low in _REGIONS or low.endswith((" province", " municipality"))


def strip_location(name: str) -> str | None:
    """The name without trailing location text, or None if there is none to strip.

    Only strips when what remains still ends in a legal form or organisation word, so personal
    names ("SMITH, John") and names that merely contain commas are left alone.
    """
    segments = [s.strip() for s in name.split(",")]
    if len(segments) < 2:
        return None
    cut = len(segments)
    while cut > 1:
        segment = segments[cut - 1]
        if not _PLACE_SEGMENT.match(segment):
            break
        if any(_LEGAL_WORD.match(word) for word in segment.split()):
            break
        cut -= 1
    if cut == len(segments):
        return None
    kept = ", ".join(segments[:cut]).rstrip(" ,")
    if _LEGAL_TAIL.search(kept):
        return kept
    # No legal form left: strip only if the text ends in a region name and a real name
    # (two words or more) remains, so "SMITH, John" never loses its given name.
    if _is_region(segments[-1]) and len(kept.split()) >= 2:
        return kept
    return None


_AFFILIATE_MARK = re.compile(
    r"(?:[.,;]\s*|\s+)(?:Affiliated\s+Entit(?:y|ies)\s*:|Subordinate\s+Institutions?\s*[-:\u2013])\s*",
    re.IGNORECASE)
_LEADING_MARK = re.compile(
    r"^(?:Affiliated\s+Entit(?:y|ies)\s*:|Subordinate\s+Institutions?\s*[-:\u2013])\s*",
    re.IGNORECASE)
_SHORT_NAME = re.compile(r"^(?P<name>.*?\S)\s*\((?P<short>[^()]{1,60})\)\s*\.?$")


def split_short_name(name: str) -> tuple[str, list[str]]:
    """`Huawei Technologies Co., Ltd. (Huawei)` -> (`Huawei Technologies Co., Ltd.`, [`Huawei`])."""
    match = _SHORT_NAME.match(name.strip())
    if not match:
        return name.strip().rstrip("."), []
    short = match.group("short").strip()
    # "(a.k.a., ...)" or "(China)" style notes are not short names.
    if short.lower().startswith(("a.k.a", "aka", "f.k.a", "formerly")):
        return name.strip(), []
    return match.group("name").strip(), [short]


@dataclass
class NameParts:
    """What a published name holds: the main party, affiliates, and cleaned aliases."""

    main: str
    main_aliases: list[str] = field(default_factory=list)
    affiliates: list[tuple[str, list[str]]] = field(default_factory=list)


def parse_name(published: str) -> NameParts:
    """Split affiliate markers and location text out of a published name."""
    text = " ".join(published.split())
    low = text.casefold()
    if "affiliated" not in low and "subordinate" not in low:
        parts = NameParts(main=text)
        if "," in text:
            _add_location_alias(parts.main_aliases, text)
        return parts
    marks = list(_AFFILIATE_MARK.finditer(text))
    if not marks:
        leading = _LEADING_MARK.match(text)
        if leading:  # "Subordinate Institution - X" with no parent text: X is the party
            inner = text[leading.end():].strip()
            parts = NameParts(main=text)
            if inner:
                parts.main_aliases.append(inner)
            _add_location_alias(parts.main_aliases, inner or text)
            return parts
        parts = NameParts(main=text)
        _add_location_alias(parts.main_aliases, text)
        return parts
    head = text[:marks[0].start()].strip()
    main, shorts = split_short_name(head)
    parts = NameParts(main=main, main_aliases=shorts)
    _add_location_alias(parts.main_aliases, main)
    bounds = [m.end() for m in marks]
    ends = [m.start() for m in marks[1:]] + [len(text)]
    for start, end in zip(bounds, ends, strict=True):
        for piece in split_multi(text[start:end]):
            piece = piece.strip().rstrip(";").strip()
            if not piece:
                continue
            aff_name, aff_shorts = split_short_name(piece)
            aliases = list(aff_shorts)
            _add_location_alias(aliases, aff_name)
            parts.affiliates.append((aff_name, aliases))
    return parts


def _add_location_alias(aliases: list[str], name: str) -> None:
    cleaned = strip_location(name)
    if cleaned and cleaned != name and cleaned not in aliases:
        aliases.append(cleaned)


def _country_from_address(address: str) -> str | None:
    tail = address.rsplit(",", 1)[-1].strip()
    return tail.upper() if re.fullmatch(r"[A-Za-z]{2}", tail) else None


# --- rows -> entries ----------------------------------------------------------------------

@dataclass
class CslStats:
    """What one load saw: rows per list code (before splitting) and the file's hash."""

    rows: int = 0
    rows_per_list: Counter[str] = field(default_factory=Counter)
    content_hash: str = ""
    format: str = ""


class _EntryBuilder:
    """Turns CSL records into entries; de-duplicates parents split out of affiliate names."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.seen_ids: set[str] = set()
        self.row_keys: set[tuple[str, str]] = set()
        self.split_parents: dict[tuple[str, str], dict[str, Any]] = {}
        self.stats = CslStats()

    def _unique(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self.seen_ids:
            n += 1
            candidate = f"{base}#{n}"
        self.seen_ids.add(candidate)
        return candidate

    def build(self, record: dict[str, Any], line: int) -> list[ListEntry]:
        def text(key: str) -> str:
            return _text(record.get(key))

        name = text("name")
        source = text("source")
        if not name:
            raise ListError(f"{self.where}: line {line}, field `name`: empty name")
        if not source:
            raise ListError(f"{self.where}: line {line}, field `source`: empty source")
        code = source_code(source)
        self.stats.rows += 1
        self.stats.rows_per_list[code] += 1

        dates: dict[str, date | None] = {}
        for key in ("start_date", "end_date"):
            try:
                dates[key] = parse_date(text(key))
            except ValueError as exc:
                raise ListError(f"{self.where}: line {line}, field `{key}`: {exc}") from exc

        alt = record.get("alt_names")
        if isinstance(alt, list):
            aliases = [_LEADING_AND.sub("", str(a)).strip() if i else str(a).strip()
                       for i, a in enumerate(alt) if a not in (None, "")]
        else:
            aliases = split_multi(text("alt_names"))

        country = None
        addresses = record.get("addresses")
        if isinstance(addresses, list):
            for item in addresses:
                if isinstance(item, dict) and item.get("country"):
                    country = str(item["country"]).strip().upper()[:2] or None
                    break
        else:
            for address in split_multi(text("addresses")):
                country = _country_from_address(address)
                if country:
                    break
        if not country:
            for key in ("nationalities", "citizenships"):
                values = split_multi(text(key))
                if values:
                    country = values[0][:40]
                    break

        citations = split_citations(text("federal_register_notice"))
        common: dict[str, Any] = {
            "list": code,
            "list_name": source,
            "citation": "; ".join(citations) or None,
            "listed": dates["start_date"],
            "removed": dates["end_date"],
            "country": country,
            "scope": text("programs") or text("license_requirement") or None,
            "source_url": text("source_list_url") or text("source_information_url") or None,
            "remarks": text("remarks") or None,
        }
        raw_id = text("_id") or text("id")
        if raw_id:
            base_id = f"csl:{raw_id}"
        else:  # older files: derive a stable id from what identifies the row
            digest = hashlib.sha1(  # noqa: S324 - an identifier, not a security hash
                "\x1f".join((source, text("entity_number"), name, text("addresses")))
                .encode("utf-8")).hexdigest()[:16]
            base_id = f"csl:{code}:{digest}"

        parts = parse_name(name)
        entries: list[ListEntry] = []
        if not parts.affiliates:
            main_aliases = _dedupe([*aliases, *parts.main_aliases], exclude=parts.main)
            entries.append(self._entry(common, self._unique(base_id), parts.main, main_aliases,
                                       None, line))
            self.row_keys.add((code, parts.main.casefold()))
            return entries
        # The row names a parent and its affiliates: one entry per affiliate (tied to the
        # parent) plus the parent itself, emitted once per list at the end of the file.
        # A row naming one affiliate is that affiliate's row: its aliases are the affiliate's.
        single = len(parts.affiliates) == 1
        parent_aliases = parts.main_aliases if single else [*parts.main_aliases, *aliases]
        for index, (aff_name, aff_aliases) in enumerate(parts.affiliates, start=1):
            suffix = "" if single else f"/aff{index}"
            names = [*aff_aliases, *aliases] if single else aff_aliases
            entries.append(self._entry(common, self._unique(base_id + suffix), aff_name,
                                       _dedupe(names, exclude=aff_name), parts.main, line))
            self.row_keys.add((code, aff_name.casefold()))
        parent_key = (code, parts.main.casefold())
        parent = self.split_parents.get(parent_key)
        if parent is None:
            self.split_parents[parent_key] = {
                "common": dict(common), "id": base_id + "/parent", "name": parts.main,
                "aliases": _dedupe(parent_aliases, exclude=parts.main), "line": line,
                "citations": list(citations),
            }
        else:
            # The parent was listed no later than any affiliate row names it.
            parent["aliases"] = _dedupe([*parent["aliases"], *parent_aliases],
                                        exclude=parts.main)
            listed = parent["common"]["listed"]
            if common["listed"] and (listed is None or common["listed"] < listed):
                parent["common"]["listed"] = common["listed"]
            for citation in citations:
                if citation not in parent["citations"]:
                    parent["citations"].append(citation)
            parent["common"]["citation"] = "; ".join(parent["citations"]) or None
        return entries

    def _entry(self, common: dict[str, Any], entry_id: str, name: str, aliases: list[str],
               parent: str | None, line: int) -> ListEntry:
        try:
            return ListEntry(id=entry_id, name=name, aliases=tuple(aliases), parent=parent,
                             **common)
        except ValueError as exc:  # pydantic ValidationError is a ValueError
            raise ListError(f"{self.where}: line {line}: invalid record: {exc}") from exc

    def finish(self) -> list[ListEntry]:
        """Parents split out of affiliate names that no row lists on its own."""
        out = []
        for key, parent in self.split_parents.items():
            if key in self.row_keys:
                continue
            out.append(self._entry(parent["common"], self._unique(parent["id"]), parent["name"],
                                   parent["aliases"], None, parent["line"]))
        return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return "; ".join(_flatten_text(v) for v in value if v not in (None, ""))
    return _flatten_text(value)


def _flatten_text(value: Any) -> str:
    if isinstance(value, dict):  # JSON addresses / ids: join the non-empty parts in order
        return ", ".join(str(v).strip() for v in value.values() if v not in (None, ""))
    return str(value).strip()


def _dedupe(names: list[str], exclude: str) -> list[str]:
    seen = {exclude.casefold()}
    out = []
    for name in names:
        key = name.casefold()
        if name and key not in seen:
            seen.add(key)
            out.append(name)
    return out


# --- sniffing -------------------------------------------------------------------------------

def sniff_format(head: bytes) -> str:
    """`csv`, `json`, `html` or `empty` from the first bytes of a file."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return "empty"
    if text[:1] in (b"{", b"["):
        return "json"
    if text[:1] == b"<":
        return "html"
    return "csv"


class _BadEncoding(Exception):
    def __init__(self, line: int, exc: UnicodeDecodeError, raw: bytes) -> None:
        super().__init__(exc.reason)
        self.line, self.exc, self.raw = line, exc, raw


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    """UTF-8 lines of a binary stream, decoded one physical line at a time so an encoding
    error can name its line."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadEncoding(number, exc, raw) from None


# --- CSV ----------------------------------------------------------------------------------

def iter_csv(stream: IO[bytes], where: str, stats: CslStats | None = None
             ) -> Iterator[ListEntry]:
    """Entries of a CSL CSV file, streamed; `where` names the file in errors."""
    builder = _EntryBuilder(where)
    previous_limit = csv.field_size_limit()
    # The csv module's own limit is only a backstop (it cannot say which column overflowed);
    # cells are measured below so the message can name the field.
    csv.field_size_limit(CSV_HARD_LIMIT)
    reader = csv.reader(_decoded_lines(stream), strict=True)
    try:
        try:
            header = next(reader)
        except StopIteration:
            raise ListError(f"{where}: empty file, not a CSL file") from None
        columns = _check_header(header, where)
        width = len(header)
        used = {k: i for k, i in columns.items() if k in USED_FIELDS}
        name_col, source_col = columns["name"], columns["source"]
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                hint = ""
                if len(row) < width:
                    hint = (f"; the row stops after field `{header[len(row) - 1].strip()}` "
                            "(file truncated?)")
                raise ListError(f"{where}: line {line}: {len(row)} fields where the header "
                                f"has {width}{hint}")
            if not row[name_col].strip() and not row[source_col].strip():
                raise ListError(f"{where}: line {line}, fields `name` and `source`: both empty")
            if max(map(len, row)) > MAX_CELL_CHARS:
                for key, index in columns.items():
                    if len(row[index]) > MAX_CELL_CHARS:
                        raise ListError(f"{where}: line {line}, field `{key}`: cell larger "
                                        f"than {MAX_CELL_CHARS:,} characters; refusing the file")
            record = {key: row[index] for key, index in used.items()}
            yield from builder.build(record, line)
        yield from builder.finish()
    except csv.Error as exc:
        message = str(exc)
        line = reader.line_num
        if "field larger than field limit" in message:
            raise ListError(f"{where}: line {line}: a cell is larger than "
                            f"{CSV_HARD_LIMIT:,} characters; refusing the file") from exc
        if "unexpected end of data" in message or "EOF" in message:
            raise ListError(f"{where}: line {line}: file ends inside a quoted cell "
                            "(truncated download?)") from exc
        raise ListError(f"{where}: line {line}: malformed CSV: {message}") from exc
    except _BadEncoding as bad:
        byte = bad.raw[bad.exc.start:bad.exc.start + 1].hex()
        field_name = ""
        if "header" in locals() and bad.line > 1:
            prefix = bad.raw[:bad.exc.start].decode("utf-8", "replace")
            index = len(next(csv.reader([prefix]), [""])) - 1
            if 0 <= index < len(header):
                field_name = f", field `{header[index].strip()}`"
        raise ListError(f"{where}: line {bad.line}{field_name}, column {bad.exc.start + 1}: "
                        "not UTF-8 text "
                        f"(byte 0x{byte}: {bad.exc.reason}); the file looks like a legacy "
                        "encoding, re-save it as UTF-8") from None
    finally:
        csv.field_size_limit(previous_limit)
        if stats is not None:
            stats.rows = builder.stats.rows
            stats.rows_per_list = builder.stats.rows_per_list
            stats.format = "csv"


def _check_header(header: list[str], where: str) -> dict[str, int]:
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    counts = Counter(names)
    duplicates = sorted(n for n, c in counts.items() if c > 1 and n)
    if duplicates:
        detail = ", ".join(
            f"`{d}` (columns {', '.join(str(i + 1) for i, n in enumerate(names) if n == d)})"
            for d in duplicates)
        raise ListError(f"{where}: line 1, header: duplicate column {detail}")
    missing = [r for r in REQUIRED_FIELDS if r not in counts]
    if missing:
        shown = ", ".join(h for h in names[:6] if h) or "nothing"
        raise ListError(f"{where}: line 1, header: missing required column(s) "
                        f"{', '.join(f'`{m}`' for m in missing)} (found {shown}…); "
                        "not a trade.gov CSL file")
    return {n: i for i, n in enumerate(names) if n}


# --- JSON ---------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_CHUNK = 1 << 20


class _JsonStream:
    """A growing text buffer over a byte stream, for incremental `raw_decode`."""

    def __init__(self, stream: IO[bytes], where: str) -> None:
        self.stream = stream
        self.decoder_utf8 = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self.where = where
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 1  # line number of buf[0]
        self.decoder = json.JSONDecoder()
        # newline-count cursor, so asking for line numbers in order stays linear
        self._cursor_pos = 0
        self._cursor_line = 1

    def line(self, pos: int | None = None) -> int:
        upto = min(self.pos if pos is None else pos, len(self.buf))
        if upto < self._cursor_pos:
            return self.lines_before + self.buf.count("\n", 0, upto)
        self._cursor_line += self.buf.count("\n", self._cursor_pos, upto)
        self._cursor_pos = upto
        return self._cursor_line

    def more(self) -> bool:
        if self.eof:
            return False
        raw = self.stream.read(_CHUNK)
        try:
            chunk = self.decoder_utf8.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            line = self.line(len(self.buf)) + raw.count(b"\n", 0, max(exc.start, 0))
            raise ListError(f"{self.where}: line {line}: not UTF-8 text ({exc.reason}); "
                            "re-save the file as UTF-8") from None
        if not raw:
            self.eof = True
            return False
        if self.pos > _CHUNK:  # drop what has been consumed, keep line count right
            self.lines_before += self.buf.count("\n", 0, self.pos)
            if self._cursor_pos <= self.pos:
                self._cursor_line += self.buf.count("\n", self._cursor_pos, self.pos)
                self._cursor_pos = 0
            else:
                self._cursor_line = self.lines_before
                self._cursor_pos = 0
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += chunk
        return True

    def skip_ws(self) -> None:
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self.more():
                return

    def peek(self) -> str:
        self.skip_ws()
        return self.buf[self.pos:self.pos + 1]

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            found = self.buf[self.pos:self.pos + 20] or "end of file"
            hint = " (file truncated?)" if not found or found == "end of file" else ""
            raise ListError(f"{self.where}: line {self.line()}: expected {what}, found "
                            f"{found!r}{hint}")
        self.pos += 1

    def value(self, what: str) -> Any:
        self.skip_ws()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.msg.startswith("Unterminated string") or \
                    exc.pos >= len(self.buf) - 1
                if incomplete and len(self.buf) - self.pos > MAX_RECORD_CHARS:
                    raise ListError(f"{self.where}: line {self.line()}, {what}: a record "
                                    f"larger than {MAX_RECORD_CHARS:,} characters; refusing "
                                    "the file") from exc
                if incomplete and self.more():
                    continue
                hint = " (file truncated?)" if incomplete else ""
                raise ListError(f"{self.where}: line {self.line(exc.pos)}, {what}: invalid "
                                f"JSON: {exc.msg}{hint}") from exc
            # a number cut at the block edge parses short; read on and try again
            if end >= len(self.buf) and isinstance(obj, int | float) and self.more():
                continue
            self.pos = end
            return obj


def iter_json(stream: IO[bytes], where: str, stats: CslStats | None = None
              ) -> Iterator[ListEntry]:
    """Entries of a CSL JSON file (`{"results": [...]}` or a bare array), streamed."""
    builder = _EntryBuilder(where)
    js = _JsonStream(stream, where)
    try:
        first = js.peek()
        if first == "":
            raise ListError(f"{where}: empty file, not a CSL file")
        found_results = False
        if first == "[":
            found_results = True
            yield from _json_array(js, builder)
        elif first == "{":
            js.pos += 1
            while True:
                if js.peek() == "}":
                    js.pos += 1
                    break
                key = js.value("object key")
                if not isinstance(key, str):
                    raise ListError(f"{where}: line {js.line()}: expected an object key")
                js.expect(":", "`:`")
                if key == "results":
                    if js.peek() != "[":
                        raise ListError(f"{where}: line {js.line()}, field `results`: not an "
                                        "array")
                    found_results = True
                    yield from _json_array(js, builder)
                else:
                    js.value(f"field `{key}`")  # metadata (sources, counts): skipped
                nxt = js.peek()
                if nxt == ",":
                    js.pos += 1
                    continue
                js.expect("}", "`,` or `}`")
                break
        else:
            raise ListError(f"{where}: line {js.line()}: not a CSL JSON file (expected an "
                            "object with `results`)")
        if not found_results:
            raise ListError(f"{where}: field `results`: missing; not a trade.gov CSL JSON file")
        if js.peek() != "":
            raise ListError(f"{where}: line {js.line()}: unexpected data after the JSON document")
        yield from builder.finish()
    finally:
        if stats is not None:
            stats.rows = builder.stats.rows
            stats.rows_per_list = builder.stats.rows_per_list
            stats.format = "json"


def _json_array(js: _JsonStream, builder: _EntryBuilder) -> Iterator[ListEntry]:
    js.expect("[", "`[`")
    index = 0
    if js.peek() == "]":
        js.pos += 1
        return
    while True:
        index += 1
        line = js.line(js.pos + len(_WS.match(js.buf, js.pos).group(0)))  # type: ignore[union-attr]
        record = js.value(f"record {index}")
        if not isinstance(record, dict):
            raise ListError(f"{js.where}: line {line}, record {index}: not an object; not a "
                            "CSL file")
        if index == 1:
            missing = [f for f in REQUIRED_FIELDS if f not in record]
            if missing:
                raise ListError(f"{js.where}: line {line}, record 1: missing required field(s) "
                                f"{', '.join(f'`{m}`' for m in missing)}; not a trade.gov CSL "
                                "file")
        for key, value in record.items():
            _check_size(js.where, line, index, key, value)
        yield from builder.build(record, line)
        nxt = js.peek()
        if nxt == ",":
            js.pos += 1
            continue
        js.expect("]", "`,` or `]`")
        return


def _check_size(where: str, line: int, index: int, key: str, value: Any) -> None:
    if isinstance(value, str):
        if len(value) > MAX_CELL_CHARS:
            raise ListError(f"{where}: line {line}, record {index}, field `{key}`: value larger "
                            f"than {MAX_CELL_CHARS:,} characters; refusing the file")
    elif isinstance(value, list):
        for item in value:
            _check_size(where, line, index, key, item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_size(where, line, index, key, item)


# --- whole files ------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def load_csl_file(path: Path, stats: CslStats | None = None) -> list[ListEntry]:
    """All entries of a CSL CSV or JSON file (format sniffed from the content)."""
    stats = stats if stats is not None else CslStats()
    where = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with block below
    except OSError as exc:
        raise ListError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    with handle:
        fmt = sniff_format(handle.read(4096))
        handle.seek(0)
        if fmt == "empty":
            raise ListError(f"{where}: empty file, not a CSL file")
        if fmt == "html":
            raise ListError(f"{where}: line 1: an HTML page, not a CSL CSV/JSON file "
                            "(an error page or login portal was saved instead of the data)")
        iterator = iter_json if fmt == "json" else iter_csv
        entries = list(iterator(handle, where, stats))
    if stats.rows == 0:
        raise ListError(f"{where}: no rows; an empty CSL file is refused")
    stats.content_hash = file_sha256(path)
    return entries
