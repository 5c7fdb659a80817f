"""The elements of a large JSON array, one at a time, with the standard library's decoder.

    for line, value in json_items(handle):     # a `[...]` or an `{"items": [...]}` document

Why not a streaming parser library: ijson's C backend refuses integers beyond 64 bits (valid
JSON that `json.loads` reads) and reports no line numbers.  Here each element is decoded by
`json.JSONDecoder.raw_decode` (C speed, the same semantics as `json.loads`) from a buffer that
holds one element at a time plus a block of look-ahead, so memory is bounded by the largest
element (`MAX_ELEMENT_CHARS`), and every error names its line and column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

BLOCK = 1 << 20  # characters read at a time
MAX_ELEMENT_CHARS = 16 * 1024 * 1024
_WHITESPACE = " \t\n\r"


class JsonStreamError(ValueError):
    """Invalid JSON, or JSON of another shape; the message names the line and column."""


class _Reader:
    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines in the text dropped from the front of `buf`
        self.columns_before = 0  # characters after the last of them
        self.mark = 0  # `line()` has counted the newlines of `buf` up to here ...
        self.marked_lines = 0  # ... and found this many
        self.decoder = json.JSONDecoder()

    def fill(self, size: int = BLOCK) -> bool:
        """Read more text (dropping what was consumed); False at the end of the file."""
        if self.eof:
            return False
        if self.pos:
            newlines = self.marked_lines + self.buf.count("\n", self.mark, self.pos)
            self.mark = self.marked_lines = 0
            if newlines:
                self.lines_before += newlines
                self.columns_before = self.pos - self.buf.rfind("\n", 0, self.pos) - 1
            else:
                self.columns_before += self.pos
            self.buf = self.buf[self.pos:]
            self.pos = 0
        more = self.handle.read(size)
        if not more:
            self.eof = True
            return False
        self.buf += more
        return True

    def where(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        newlines = self.buf.count("\n", 0, pos)
        column = (pos - self.buf.rfind("\n", 0, pos) if newlines
                  else self.columns_before + pos + 1)
        line = self.lines_before + newlines + 1
        return f"line {line}, column {column}"

    def line(self) -> int:
        """The current line, counted on from the last call (not from the buffer's start)."""
        self.marked_lines += self.buf.count("\n", self.mark, self.pos)
        self.mark = self.pos
        return self.lines_before + self.marked_lines + 1

    def error(self, message: str, pos: int | None = None) -> JsonStreamError:
        return JsonStreamError(f"{self.where(pos)}: invalid JSON: {message}")

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the file)."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self.fill():
                return ""

    def value(self) -> Any:
        """Decode the value at the current position (reading on until it is whole)."""
        grow = BLOCK
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.error(exc.msg, exc.pos) from None
                end = -1
            if end != -1 and (end < len(self.buf) or self.eof):
                self.pos = end
                return value
            # cut short by the buffer's end (or a number that may go on): read more
            if len(self.buf) - self.pos > MAX_ELEMENT_CHARS:
                raise JsonStreamError(f"{self.where()}: one element is over "
                                      f"{MAX_ELEMENT_CHARS:,} characters")
            self.fill(grow)
            grow *= 2

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            found = self.peek() or "the end of the file"
            raise self.error(f"expected {what}, found {found!r}")
        self.pos += 1


def _array(reader: _Reader) -> Iterator[tuple[int, Any]]:
    reader.expect("[", "'['")
    if reader.peek() == "]":
        reader.pos += 1
        return
    while True:
        reader.peek()
        line = reader.line()
        yield line, reader.value()
        char = reader.peek()
        if char == ",":
            reader.pos += 1
        elif char == "]":
            reader.pos += 1
            return
        else:
            raise reader.error("expected ',' or ']' after an array element")


def json_items(handle: TextIO) -> Iterator[tuple[int, Any]]:
    """(line, element) for each element of a top-level array, or of the `items` array of a
    top-level object (its other keys are read and skipped)."""
    reader = _Reader(handle)
    shape = "expected a list of line items or {\"items\": [...]}"
    first = reader.peek()
    if first == "[":
        yield from _array(reader)
    elif first == "{":
        reader.pos += 1
        found = False
        if reader.peek() == "}":
            reader.pos += 1
        else:
            while True:
                if reader.peek() != '"':
                    raise reader.error("expected a key in double quotes")
                key = reader.value()
                reader.expect(":", "':'")
                if key == "items":
                    if found:
                        raise reader.error("the key 'items' appears twice")
                    if reader.peek() != "[":
                        raise JsonStreamError(f"{reader.where()}: {shape}")
                    found = True
                    yield from _array(reader)
                else:
                    reader.value()
                char = reader.peek()
                reader.pos += 1
                if char == "}":
                    break
                if char != ",":
                    raise reader.error("expected ',' or '}' after a value", reader.pos - 1)
        if not found:
            raise JsonStreamError(shape)
    else:
        raise JsonStreamError(shape if first else "no JSON value in the file")
    if reader.peek():
        raise reader.error("extra data after the document")
