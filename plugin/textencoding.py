"""Which encoding a CSV file is read in: given (`--encoding`), a byte-order mark, UTF-8 when
its first megabyte is UTF-8, else what charset-normalizer detects (a maintained detector that
scores each candidate's decoded text for coherence, not a byte-frequency guess).  The choice
and how it was made travel with the file, so a guess is always stated, never silent.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

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
