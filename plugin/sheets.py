"""Line items from a workbook sheet (.xlsx, .xlsm, .ods) as rows of text, read with
python-calamine (Rust's calamine: ~13x faster than openpyxl's read-only mode on a 100,000-row
sheet, and it reads OpenDocument too).

    sheet = open_sheet(Path("po.xlsx"), "Open lines")   # None: the first visible worksheet
    for number, cells in sheet.rows():                  # 1-based sheet row, cells as text
        ...

A larger workbook is read by calamine in a child process, and a still larger one by openpyxl's
read-only reader, row by row, so memory stays flat at any size (about 13x slower; merged
ranges not filled): see `HOLD_ABOVE`.

Cells are what the spreadsheet shows as data: a formula's cached value (never the formula),
numbers without a spurious `.0`, dates as ISO 8601; a merged range's value is read in every
cell of the range (a supplier merged over its PO's lines belongs to each line); rows with
nothing in them are skipped.  calamine holds the sheet's cells while it is read (about 0.4 KB
a row of 7 short columns); rows are handed on in the reader's chunks from there.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from entityscan.errors import InputError

SHEET_SUFFIXES = (".xlsx", ".xlsm", ".ods")
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")  # an OLE2 compound file (encrypted OOXML, .xls)
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")  # the stream an encrypted OOXML has
# What a workbook may unpack to, checked from the archive's directory before anything is
# parsed: a zip bomb (a few MB that inflate to gigabytes) is refused.
MAX_XML_BYTES = 2 * 1024 * 1024 * 1024
MAX_PIPED_CELL = 16 * 1024 * 1024  # the csv module's bound on a cell from the child
# calamine holds a sheet's cells while it is read (0.4-0.6 KB a row of 7 short columns).  Up
# to HOLD_ABOVE of XML (~120,000 such rows, ~50 MB held) it reads in the run's own process; up
# to CHILD_MAX (~360,000 rows) in a child process of its own (`entityscan.sheetdump`) that
# hands the rows over a pipe, so the main process, which holds the index, does not hold them
# too (measured: 500,000 rows took the child to 351 MB, past the 300 MB a process may take,
# hence the bound); past that, openpyxl's read-only reader streams the XML row by row in flat
# memory, at about 13x calamine's time.
HOLD_ABOVE = 48 * 1024 * 1024
CHILD_MAX = 144 * 1024 * 1024
READERS = ("calamine", "calamine-child", "openpyxl")


def cell_text(value: Any) -> str:
    """A cell as the text a line item holds."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _refuse_ole(path: Path) -> None:
    """An OLE2 file: a password-protected workbook (Excel wraps the encrypted package in
    one) or an old binary workbook; both are refused with what to do."""
    with open(path, "rb") as handle:
        if handle.read(8) != _OLE_MAGIC:
            return
        handle.seek(0)
        tail = b""
        while block := handle.read(1 << 20):
            if _ENCRYPTION_INFO in tail + block:
                raise InputError(f"{path}: the workbook is password-protected (encrypted); "
                                 f"save a copy without a password, or export the sheet as "
                                 f"CSV, and screen that")
            tail = block[-len(_ENCRYPTION_INFO):]
    raise InputError(f"{path}: an old binary (OLE) workbook, not {path.suffix}; save it as "
                     f".xlsx or CSV")


class Sheet:
    """One worksheet of an opened workbook."""

    def __init__(self, path: Path, name: str, sheet: Any, hidden: bool,
                 reader: str = "calamine") -> None:
        self.path, self.name, self.hidden = path, name, hidden
        self.reader = reader  # one of READERS (see HOLD_ABOVE)
        self._sheet = sheet

    @property
    def where(self) -> str:
        return f"{self.path}, sheet {self.name!r}"

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(sheet row number, cells as text) for every row with something in it."""
        if self.reader == "openpyxl":
            yield from self._streamed_rows()
            return
        if self.reader == "calamine-child":
            yield from self._child_rows()
            return
        sheet = self._sheet
        if sheet.start is None:  # nothing in the sheet
            return
        first_column = sheet.start[1]
        pending = sorted(self._merged_ranges(), reverse=True)  # by first row, last at the end
        active: list[tuple[int, int, int, str]] = []  # (last row, first col, last col, value)
        try:
            # calamine's rows start at the sheet's first row, its cells at the first used column
            for index, values in enumerate(sheet.iter_rows()):
                cells = [cell_text(v) for v in values]
                while pending and pending[-1][0] == index:
                    _, last, left, right = pending.pop()
                    left, right = left - first_column, right - first_column
                    value = cells[left] if 0 <= left < len(cells) else ""
                    active.append((last, left, right, value))
                for _, left, right, value in active:
                    for column in range(max(left, 0), min(right + 1, len(cells))):
                        cells[column] = cells[column] or value
                active = [a for a in active if a[0] > index]
                if any(c.strip() for c in cells):
                    yield index + 1, cells
        except Exception as exc:  # calamine's errors are not one class
            raise InputError(f"{self.where}: cannot read the sheet: {exc}") from None

    def _child_rows(self) -> Iterator[tuple[int, list[str]]]:
        """The rows as `entityscan.sheetdump` reads them in a process of its own."""
        command = [sys.executable, "-m", "entityscan.sheetdump", str(self.path), self.name]
        with tempfile.TemporaryFile() as errors:
            child = subprocess.Popen(command, stdout=subprocess.PIPE,  # noqa: S603 - no shell
                                     stderr=errors)
            assert child.stdout is not None
            try:
                text = io.TextIOWrapper(child.stdout, encoding="utf-8", newline="")
                csv.field_size_limit(MAX_PIPED_CELL)
                for record in csv.reader(text):
                    yield int(record[0]), record[1:]
                code = child.wait()
            finally:
                if child.poll() is None:  # the reader stopped early (the header is read)
                    child.kill()
                    child.wait()
                child.stdout.close()
            if code != 0:
                errors.seek(0)
                message = errors.read(4096).decode("utf-8", "replace").strip()
                raise InputError(message.splitlines()[-1] if message else
                                 f"{self.where}: the sheet reader stopped ({code})")

    def _streamed_rows(self) -> Iterator[tuple[int, list[str]]]:
        """openpyxl's read-only reader: one row at a time from the sheet's XML (merged ranges
        are not filled: the reader does not see them; exports this large have none)."""
        import openpyxl

        book = None
        try:
            book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
            for number, values in enumerate(book[self.name].iter_rows(values_only=True),
                                            start=1):
                cells = [cell_text(v) for v in values]
                if any(c.strip() for c in cells):
                    yield number, cells
        except InputError:
            raise
        except Exception as exc:  # openpyxl's errors are not one class either
            raise InputError(f"{self.where}: cannot read the sheet: {exc}") from None
        finally:
            if book is not None:
                book.close()

    def _merged_ranges(self) -> list[tuple[int, int, int, int]]:
        """(first row, last row, first column, last column) of each merged range."""
        try:
            ranges = self._sheet.merged_cell_ranges or []
        except Exception:  # a format calamine keeps no merges for (OpenDocument)
            return []
        return [(top, bottom, left, right) for (top, left), (bottom, right) in ranges]


def _unpacked_size(path: Path) -> int:
    """What the archive says its members unpack to; a bomb is refused here."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0  # not a zip archive: calamine's own error names what it is
    if unpacked > MAX_XML_BYTES:
        raise InputError(f"{path}: the workbook unpacks to {unpacked / 2**20:,.0f} MB, over "
                         f"the {MAX_XML_BYTES // 2**20:,} MB a workbook may hold here; "
                         f"export the sheet as CSV (read as a stream, any size)")
    return unpacked


def open_sheet(path: Path, sheet_name: str | None = None, *,
               force_held: bool = False) -> Sheet:
    """Open `path` and pick `sheet_name`, or its first visible worksheet.  `force_held`:
    read with calamine in this process whatever the size (`entityscan.sheetdump`)."""
    try:
        import python_calamine as calamine
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise InputError(f"{path}: reading workbooks needs python-calamine ({exc})") from exc
    if not path.is_file():
        raise InputError(f"{path}: cannot read: no such file")
    _refuse_ole(path)
    unpacked = _unpacked_size(path)
    reader = ("calamine" if unpacked <= HOLD_ABOVE or force_held
              else "calamine-child" if unpacked <= CHILD_MAX
              or path.suffix.lower() not in (".xlsx", ".xlsm") else "openpyxl")
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
    except calamine.PasswordError:
        raise InputError(f"{path}: the workbook is password-protected; save a copy without "
                         f"a password and screen that") from None
    except Exception as exc:
        raise InputError(f"{path}: not a readable {path.suffix} workbook (corrupt or another "
                         f"format): {exc}") from None
    sheets = [m for m in book.sheets_metadata
              if str(m.typ).endswith("WorkSheet")]
    names = [m.name for m in sheets]
    if sheet_name is None:
        visible = [m for m in sheets if str(m.visible).endswith(".Visible")]
        if not visible:
            raise InputError(f"{path}: the workbook has no visible worksheet; name one with "
                             f"--sheet (sheets: {', '.join(map(repr, names)) or 'none'})")
        chosen = visible[0]
    else:
        matches = [m for m in sheets if m.name == sheet_name]
        if not matches:
            raise InputError(f"{path}: no worksheet named {sheet_name!r}; sheets: "
                             f"{', '.join(map(repr, names)) or 'none'}")
        chosen = matches[0]
    hidden = not str(chosen.visible).endswith(".Visible")
    if reader != "calamine":
        return Sheet(path, chosen.name, None, hidden, reader)
    try:
        sheet = book.get_sheet_by_name(chosen.name)
    except Exception as exc:
        raise InputError(f"{path}, sheet {chosen.name!r}: cannot read the sheet: "
                         f"{exc}") from None
    return Sheet(path, chosen.name, sheet, hidden)
