"""Reading a text table: its encoding and its CSV dialect.

Which encoding a CSV file is read in: given (`--encoding`), a byte-order mark, UTF-8 when
its first megabyte is UTF-8, else what charset-normalizer detects (a maintained detector that
scores each candidate's decoded text for coherence, not a byte-frequency guess).  The choice
and how it was made travel with the file, so a guess is always stated, never silent.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from entityscan.errors import InputError

SAMPLE = 1 << 20  # bytes read to choose an encoding


@dataclass(frozen=True)
class Encoding:
    codec: str  # what the file is opened with
    how: str  # "given", "byte-order mark", "UTF-8" or "detected"

    def note(self, path: Path) -> str:
        """What a user is told when the file is not read as plain UTF-8."""
        name = codecs.lookup(self.codec).name
        if self.how == "given":
            return f"{path}: read as {name} (--encoding)"
        return (f"{path}: read as {name} ({self.how}; if names look wrong, give the file's "
                f"encoding with --encoding)")


def choose_encoding(path: Path, given: str | None = None) -> Encoding:
    if given:
        try:
            return Encoding(codecs.lookup(given).name, "given")
        except LookupError:
            raise InputError(f"--encoding {given!r}: not an encoding Python knows (e.g. "
                             f"utf-8, cp1252, latin-1, shift_jis, gb18030)") from None
    try:
        with open(path, "rb") as handle:
            sample = handle.read(SAMPLE)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16", "byte-order mark")
    if sample.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "byte-order mark")
    try:
        # a character cut by the sample's end is not an error
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return Encoding("utf-8-sig", "UTF-8")
    from charset_normalizer import from_bytes  # loads only for files that are not UTF-8

    best = from_bytes(sample).best()
    if best is None:
        raise InputError(f"{path}: not text in any encoding tried (a binary file?); if it is "
                         f"text, give its encoding with --encoding")
    return Encoding(codecs.lookup(best.encoding).name, "detected")


def open_text(path: Path, encoding: Encoding | None = None) -> TextIO:
    """The file as text in `encoding`; by default UTF-16 when it starts with a UTF-16
    byte-order mark, else UTF-8 (a UTF-8 BOM is skipped).  Lines keep their own endings
    (`newline=""`)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - wrapped and returned open
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    head = raw.read(4)
    raw.seek(0)
    if not head.strip() and not raw.read(65536).strip():
        raw.close()
        raise InputError(f"{path}: the file is empty")
    raw.seek(0)
    if encoding is None:
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        encoding = Encoding("utf-16" if utf16 else "utf-8-sig", "UTF-8")
    return io.TextIOWrapper(raw, encoding=encoding.codec, newline="")


def not_utf8(path: Path, codec: str = "utf-8") -> InputError:
    """Where the first byte that is not in `codec` is (read again: only on this error
    path)."""
    if codecs.lookup(codec).name not in ("utf-8", "utf-8-sig"):
        return not_in_codec(path, codec)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = line = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # the decoder may hold up to 3 bytes of a character split across blocks
                pending = len(decoder.getstate()[0])
                start = max(exc.start - pending, 0)
                where = offset + start
                line += block[:start].count(b"\n") + 1
                return InputError(f"{path}: line {line}: not UTF-8 text (byte "
                                  f"0x{block[start]:02x} at offset {where}); save the file "
                                  f"as UTF-8, or give its encoding with --encoding")
            offset += len(block)
            line += block.count(b"\n")
    return InputError(f"{path}: not UTF-8 text; save the file as UTF-8")


def not_in_codec(path: Path, codec: str) -> InputError:
    """A file that stops decoding in a codec other than UTF-8: the line where it does."""
    name = codecs.lookup(codec).name
    with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=codec, newline="") as text:
        line = 0
        try:
            for line, _ in enumerate(text, start=1):  # noqa: B007 - the line is the answer
                pass
        except UnicodeDecodeError as exc:
            return InputError(f"{path}: line {line + 1}: not {name} text ({exc.reason}); "
                              f"give the file's encoding with --encoding")
    return InputError(f"{path}: not {name} text; give the file's encoding with --encoding")


def dialect_with(delimiter: str) -> type[csv.Dialect]:
    class Sniffed(csv.excel):
        pass

    Sniffed.delimiter = delimiter
    return Sniffed
