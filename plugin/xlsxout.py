"""`--format xlsx`: a workbook a buyer can forward, written as the screening streams.

- **Results**: one row per line item: id, verdict (coloured), decision, maker, score, lists,
  reason, then the input's own columns under its own headers; header frozen, autofilter,
  column widths set.
- **Matches**: one row per match: line id, verdict, list, entity, citation, listed date,
  route, matched value, score, reason.
- **Sources**: the lists (publisher date, entries, content hash), how the input was read
  and the run's parameters, and when the workbook was generated.

xlsxwriter in constant-memory mode writes each row to a temporary file as it comes, so a
workbook of a million lines costs no more memory than one of a thousand.  Every cell from the
input or the lists is written with `write_string`: a supplier named `=HYPERLINK(...)` is text,
never a formula; control characters a workbook cannot hold are dropped and text is cut at
Excel's 32,767-character cell limit.  The file is written beside its target and renamed when
complete, so a failed run leaves nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from entityscan.errors import InputError
from entityscan.itemchunks import ChunkOut
from entityscan.output import ITEM_FIELDS
from entityscan.streamout import ResultSink

MAX_ROWS = 1_048_575  # a worksheet's rows, less the header
MAX_TEXT = 32_767  # characters in one cell
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
VERDICT_COLOURS = {"flagged": "#F4C7C3", "review": "#FCE8B2", "clear": "#D9EAD3"}
RESULT_COLUMNS = ("id", "verdict", "decision", "maker", "score", "lists", "reason")
MATCH_COLUMNS = ("line id", "verdict", "list", "entity", "citation", "listed", "route",
                 "field", "value", "score", "reason")


def clean(value: object) -> str:
    """Text a workbook cell can hold: no control characters, within the cell limit."""
    text = "" if value is None else str(value)
    if not (text.isprintable() and text.isascii()):  # the common case needs no regex
        text = _CONTROL.sub("", text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


class XlsxSink(ResultSink):
    """`input_columns`: the input's headers and the field each was read as (a field name,
    or `extra:<header>`), in the input's order."""

    output = "records"

    def __init__(self, path: Path | None, input_columns: list[tuple[str, str]],
                 parameters: dict[str, Any]) -> None:
        if path is None:
            raise InputError("--format xlsx writes a workbook: give --output FILE.xlsx")
        import xlsxwriter  # loads only for this format

        self.path = Path(path)
        folder = self.path.parent if str(self.path.parent) else Path(".")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".xlsx",
                                             dir=folder)
            os.close(fd)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write output: {exc}") from exc
        self.book = xlsxwriter.Workbook(self._tmp, {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False, "tmpdir": str(folder)})
        self.input_columns = input_columns
        self.parameters = parameters
        self.results = self.book.add_worksheet("Results")
        self.matches = self.book.add_worksheet("Matches")
        self.sources = self.book.add_worksheet("Sources")
        bold = {"bold": True, "bg_color": "#DDDDDD", "border": 1}
        self.head = self.book.add_format(bold)
        self.verdict = {v: self.book.add_format({"bg_color": c, "bold": v != "clear"})
                        for v, c in VERDICT_COLOURS.items()}
        self.result_row = self.match_row = 0
        self.header: dict[str, Any] = {}

    def _head(self, sheet: Any, names: list[str], widths: list[int]) -> None:
        for column, (name, width) in enumerate(zip(names, widths, strict=True)):
            sheet.set_column(column, column, width)
            sheet.write_string(0, column, clean(name), self.head)
        sheet.freeze_panes(1, 0)

    def begin(self, header: dict[str, Any]) -> None:
        self.header = header
        names = [*RESULT_COLUMNS, *(h for h, _ in self.input_columns)]
        widths = [16, 10, 10, 22, 7, 18, 60,
                  *(min(max(len(h) + 2, 14), 40) for h, _ in self.input_columns)]
        self._head(self.results, names, widths)
        self._head(self.matches, list(MATCH_COLUMNS), [16, 10, 10, 40, 40, 12, 16, 14, 30, 7,
                                                       60])

    def write(self, out: ChunkOut) -> None:
        assert out.records is not None
        for record in out.records:
            self._result(record)
            for match in record.get("matches") or ():
                self._match(record, match)

    def _result(self, record: dict[str, Any]) -> None:
        self.result_row += 1
        if self.result_row > MAX_ROWS:
            raise InputError(f"{self.path}: more than {MAX_ROWS:,} line items do not fit in "
                             f"one worksheet; use --format csv or ndjson")
        row, sheet = self.result_row, self.results
        verdict = record["verdict"]
        matches = record.get("matches") or []
        reasons = record.get("reasons") or []
        sheet.write_string(row, 0, clean(record["id"]))
        sheet.write_string(row, 1, verdict, self.verdict.get(verdict))
        sheet.write_string(row, 2, clean(record.get("decision")))
        sheet.write_number(row, 4, float(record.get("score") or 0.0))
        if matches or reasons or record.get("maker"):  # a lean clear line has none (cells
            # left empty: each written cell costs the writer as much as a short row of CSV)
            sheet.write_string(row, 3, clean(record.get("maker")))
            sheet.write_string(row, 5, clean("; ".join(sorted({m["list"] for m in matches}))))
            sheet.write_string(row, 6, clean(reasons[0] if reasons else ""))
        item = record.get("item") or {}
        extra = item.get("extra") or {}
        for offset, (_, target) in enumerate(self.input_columns):
            if target.startswith("extra:"):
                value = extra.get(target[6:], "")
            elif target == "id":
                value = record["id"]
            else:
                value = item.get(target) or ""
            if value:
                sheet.write_string(row, len(RESULT_COLUMNS) + offset, clean(value))

    def _match(self, record: dict[str, Any], match: dict[str, Any]) -> None:
        self.match_row += 1
        if self.match_row > MAX_ROWS:
            return  # the results sheet still lists every line; the JSON has every match
        row, sheet = self.match_row, self.matches
        reasons = record.get("reasons") or []
        cells = [record["id"], record["verdict"], match.get("list"), match.get("entity"),
                 match.get("citation"), match.get("listed"), match.get("via"),
                 match.get("field"), match.get("value")]
        for column, value in enumerate(cells):
            sheet.write_string(row, column, clean(value))
        sheet.write_number(row, 9, float(match.get("score") or 0.0))
        sheet.write_string(row, 10, clean(reasons[0] if reasons else ""))

    def finish(self, tail: dict[str, Any]) -> None:
        results_width = len(RESULT_COLUMNS) + len(self.input_columns)
        self.results.autofilter(0, 0, self.result_row, results_width - 1)
        self.matches.autofilter(0, 0, self.match_row, len(MATCH_COLUMNS) - 1)
        self._sources(tail)
        try:
            self.book.close()
            os.replace(self._tmp, self.path)
        except Exception as exc:
            self.abort()
            raise InputError(f"{self.path}: cannot write output: {exc}") from exc

    def _sources(self, tail: dict[str, Any]) -> None:
        sheet, row = self.sources, 0
        sheet.set_column(0, 0, 24)
        sheet.set_column(1, 6, 22)

        def line(*cells: object, style: Any = None) -> None:
            nonlocal row
            for column, value in enumerate(cells):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    sheet.write_number(row, column, value, style)
                else:
                    sheet.write_string(row, column, clean(value), style)
            row += 1

        line("entityscan screen", style=self.head)
        line("generated", self.header.get("generated")
             or datetime.now(UTC).isoformat(timespec="seconds"))
        line("workbook written", datetime.now(UTC).isoformat(timespec="seconds"))
        line("lists content hash", self.header.get("lists_content_hash"))
        summary = tail.get("summary") or {}
        for key in ("total", "flagged", "review", "clear"):
            line(key, summary.get(key, 0))
        if tail.get("audit_ids"):
            line("audit entries", ", ".join(str(i) for i in tail["audit_ids"]))
        row += 1
        line("lists", "published", "entries", "content hash", "loaded at", "location",
             style=self.head)
        for source in self.header.get("lists") or ():
            line(source.get("name"), source.get("published") or "not stated",
                 source.get("count"), source.get("content_hash"), source.get("loaded_at"),
                 source.get("location"))
        row += 1
        line("parameters", style=self.head)
        for key, value in self.parameters.items():
            line(key, value if not isinstance(value, list | tuple)
                 else "; ".join(map(str, value)))

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.book.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


def input_columns_of(headers: tuple[str, ...] | None, targets: tuple[str, ...] | None,
                     extra: list[str]) -> list[tuple[str, str]]:
    """The input's columns as the results sheet repeats them: a table's own headers in its
    order, else (JSON) the line-item fields and then its extra keys."""
    if headers is not None and targets is not None:
        return list(zip(headers, targets, strict=True))
    return [("id", "id"), *((f, f) for f in ITEM_FIELDS), *((k, f"extra:{k}") for k in extra)]
