"""`python -m entityscan.sheetdump FILE SHEET`: a sheet's rows as CSV on standard output, each
row's sheet number first.  `entityscan.sheets` runs it in a process of its own for workbooks
too large to hold beside the screening index: this process holds calamine's cells, the main
process only the rows in flight.  Errors: one line on standard error, exit 2."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from entityscan.errors import InputError
from entityscan.sheets import open_sheet


def main(argv: list[str]) -> int:
    path, name = Path(argv[0]), argv[1]
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="",
                           errors="replace")
    writer = csv.writer(out)
    try:
        sheet = open_sheet(path, name, force_held=True)
        for number, cells in sheet.rows():
            writer.writerow([number, *cells])
        out.flush()
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader had what it needed (the header)
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
