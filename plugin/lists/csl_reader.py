"""Reading the trade.gov Consolidated Screening List (CSL) bulk files, CSV and JSON.

The files are published at https://data.trade.gov/downloadable_consolidated_screening_list/v1/
(`consolidated.csv` and `consolidated.json`; see https://www.trade.gov/consolidated-screening-list).
Their shape, as published, has quirks that silently lose entries if ignored:

- columns are found by header name; older files lack `_id`, columns may be reordered or added;
  the JSON file has a top-level `results` array and `id` where the CSV has `_id`;
- `type` is empty on Entity List rows, so nothing here filters on it.

Both readers stream: rows are parsed one at a time and never held as raw text.  Every error is
a `ListError` naming the file, the line (CSV row / JSON line) and the field.  Turning a record
into entries is `csl_entries.EntryBuilder`'s job.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from entityscan.errors import ListError
from entityscan.lists.csl_entries import USED_FIELDS, CslStats, EntryBuilder
from entityscan.model import ListEntry

#: The public bulk file (no key needed).
CSL_CSV_URL = "https://data.trade.gov/downloadable_consolidated_screening_list/v1/consolidated.csv"

#: A cell longer than this is refused: the largest real cells (packed Entity List addresses)
#: are tens of kilobytes, so a megabyte means a broken or hostile file.
MAX_CELL_CHARS = 1_000_000
#: One JSON record may not exceed this many characters.
MAX_RECORD_CHARS = 4 * MAX_CELL_CHARS
CSV_HARD_LIMIT = 16 * MAX_CELL_CHARS

#: The published CSV header, in order, as in the bulk file; the reader goes by name, this is
#: for writers (benchmark generator, test fixtures) that must produce the real shape.
CSL_HEADER = (
    "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,"
    "start_date,end_date,standard_order,license_requirement,license_policy,call_sign,"
    "vessel_type,gross_tonnage,gross_registered_tonnage,vessel_flag,vessel_owner,remarks,"
    "source_list_url,alt_names,citizenships,dates_of_birth,nationalities,places_of_birth,"
    "source_information_url,ids"
).split(",")

REQUIRED_FIELDS = ("name", "source")


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
    builder = EntryBuilder(where)
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
    builder = EntryBuilder(where)
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


def _json_array(js: _JsonStream, builder: EntryBuilder) -> Iterator[ListEntry]:
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
