"""Where a streamed screening's results go, chunk by chunk (`ResultSink`).

    sink = open_sink("json", Path("out.json"))      # or "ndjson", "csv", "html", ...
    sink.begin(header); sink.write(chunk_out) ...; sink.finish(tail)   # or sink.abort()

- `json`: one `entityscan.screen/1` document: the header fields (schema, generated, source,
  lists, lists_content_hash) first, then `results` one per line as they are screened, then
  `summary` (and `audit_id`, `audit_ids` when saved), which are only known at the end;
- `ndjson`: one JSON object per line: `{"type": "header", ...}`, then one
  `{"type": "result", ...}` per line item, then `{"type": "summary", ...}`;
- `csv`: the header row, then one row per line item;
- `table`, `html`, `cyclonedx` show a whole document at once, so they are held in memory and
  refused above `WHOLE_DOCUMENT_LIMIT` line items, with a message pointing to ndjson and csv.

A file is written whole or not at all: into a temporary file beside it, renamed at the end,
removed on error.  Standard output receives the streamed formats as they come.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from entityscan.errors import InputError
from entityscan.itemchunks import ChunkOut
from entityscan.output import (
    WHOLE_DOCUMENT_LIMIT,
    check_whole_document,
    screen_csv_header,
    write_output,
)


class _Target:
    """Text to `path` through a temporary file renamed by `commit()`, or to `stream`."""

    def __init__(self, path: Path | None, stream: TextIO | None = None) -> None:
        self.path = path
        self._tmp: str | None = None
        if path is None:
            self.handle: TextIO = stream or sys.stdout
            return
        folder = path.parent if str(path.parent) else Path(".")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
            # a lone surrogate (a JSON input's "\\ud800") is written as its escape
            self.handle = open(fd, "w", encoding="utf-8", newline="",  # noqa: SIM115
                               errors="backslashreplace")
        except OSError as exc:
            raise InputError(f"{path}: cannot write output: {exc}") from exc

    def write(self, text: str) -> None:
        try:
            self.handle.write(text)
        except BrokenPipeError:
            # a pipeline stopped reading (`| head`): no more output, and no second error when
            # Python flushes standard output on exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.handle.fileno())
            raise InputError("standard output was closed before the output ended (the "
                             "reading end of a pipe stopped)") from None
        except OSError as exc:
            raise InputError(f"{self.path or 'standard output'}: cannot write output: "
                             f"{exc}") from exc

    def commit(self) -> None:
        if self._tmp is None:
            self.handle.flush()
            return
        assert self.path is not None
        try:
            self.handle.close()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.discard()
            raise InputError(f"{self.path}: cannot write output: {exc}") from exc
        self._tmp = None

    def discard(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self.handle.close()
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


class ResultSink:
    """Receives a screening's header, its chunks in order, then its tail (`summary`, and
    `audit_id`/`audit_ids` when saved).  `output` tells the chunks what to render."""

    output = "records"
    extra_columns: tuple[str, ...] = ()

    def begin(self, header: dict[str, Any]) -> None:
        raise NotImplementedError

    def write(self, out: ChunkOut) -> None:
        raise NotImplementedError

    def finish(self, tail: dict[str, Any]) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Nothing is left behind (the temporary file goes)."""


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=indent)


class JsonSink(ResultSink):
    output = "json"

    def __init__(self, path: Path | None) -> None:
        self.target = _Target(path)
        self._first = True

    def begin(self, header: dict[str, Any]) -> None:
        head = _dumps(header, 2)
        self.target.write(head[:-2] + ',\n  "results": [\n')

    def write(self, out: ChunkOut) -> None:
        if out.text:
            self.target.write(out.text if self._first else ",\n" + out.text)
            self._first = False

    def finish(self, tail: dict[str, Any]) -> None:
        fields = "".join(f',\n  {_dumps(k)}: {_dumps(v)}' for k, v in tail.items())
        self.target.write(("\n" if not self._first else "") + "  ]" + fields + "\n}\n")
        self.target.commit()

    def abort(self) -> None:
        self.target.discard()


class NdjsonSink(ResultSink):
    output = "ndjson"

    def __init__(self, path: Path | None) -> None:
        self.target = _Target(path)

    def begin(self, header: dict[str, Any]) -> None:
        self.target.write(_dumps({"type": "header", **header}) + "\n")

    def write(self, out: ChunkOut) -> None:
        self.target.write(out.text)

    def finish(self, tail: dict[str, Any]) -> None:
        self.target.write(_dumps({"type": "summary", **tail}) + "\n")
        self.target.commit()

    def abort(self) -> None:
        self.target.discard()


class CsvSink(ResultSink):
    output = "csv"

    def __init__(self, path: Path | None, extra_columns: tuple[str, ...]) -> None:
        self.target = _Target(path)
        self.extra_columns = extra_columns

    def begin(self, header: dict[str, Any]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(screen_csv_header(self.extra_columns))
        self.target.write(buffer.getvalue())

    def write(self, out: ChunkOut) -> None:
        self.target.write(out.text)

    def finish(self, tail: dict[str, Any]) -> None:
        self.target.commit()

    def abort(self) -> None:
        self.target.discard()


class DocumentSink(ResultSink):
    """The whole document in memory: rendered at the end as `fmt` (table, html, cyclonedx)
    to `path` or the terminal, or only kept (`fmt=None`: the in-memory operation)."""

    def __init__(self, fmt: str | None = None, path: Path | None = None,
                 limit: int | None = None) -> None:
        self.fmt, self.path, self.limit = fmt, path, limit
        self.header: dict[str, Any] = {}
        self.results: list[dict[str, Any]] = []
        self.document: dict[str, Any] = {}

    def begin(self, header: dict[str, Any]) -> None:
        self.header = header

    def write(self, out: ChunkOut) -> None:
        assert out.records is not None
        if self.fmt is not None:
            check_whole_document(len(self.results) + len(out.records), self.fmt, self.limit)
        self.results.extend(out.records)

    def finish(self, tail: dict[str, Any]) -> None:
        self.document = {**self.header, "summary": tail["summary"], "results": self.results,
                         **{k: v for k, v in tail.items() if k != "summary"}}
        if self.fmt is not None:
            write_output(self.document, self.fmt, self.path)


def open_sink(fmt: str, path: Path | None, extra_columns: tuple[str, ...] = ()
              ) -> ResultSink:
    if fmt == "json":
        return JsonSink(path)
    if fmt == "ndjson":
        return NdjsonSink(path)
    if fmt == "csv":
        return CsvSink(path, extra_columns)
    return DocumentSink(fmt, path, WHOLE_DOCUMENT_LIMIT)


__all__ = ["WHOLE_DOCUMENT_LIMIT", "CsvSink", "DocumentSink", "JsonSink", "NdjsonSink",
           "ResultSink", "open_sink"]
