"""USB scanner errors (subclasses of the scanners package's one base)."""

from __future__ import annotations

from pathlib import Path

from entityscan.scanners.errors import ScannerError


class UsbError(ScannerError):
    """The USB bus or a USB data file cannot be read; the message says what to do."""


class LsusbFormatError(UsbError):
    """An lsusb text file is malformed; names the file and the line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
