"""Workbooks in and out, beside CSV in the same run: the whole `entityscan screen` process.

The same generated purchase-order lines (`bench/make_items.py`, the sparse export) are
written as CSV (entityscan's own column names) and as an .xlsx sheet under SAP MM's export
headers (`Name of Vendor`, `Short Text`, `Manufacturer Part Number`, ...), then screened as
a user runs it, with the index cache warm, in rounds that alternate the four cases so load
changes hit each alike:

    csv -> csv     entityscan screen lines.csv  --format csv  --output out.csv   (baseline)
    xlsx -> csv    entityscan screen lines.xlsx --format csv  --output out.csv
    csv -> xlsx    entityscan screen lines.csv  --format xlsx --output out.xlsx
    xlsx -> xlsx   entityscan screen lines.xlsx --format xlsx --output out.xlsx

Each run reports wall time, the CPU of its process tree, its largest process's peak RSS and
the tree's peak summed PSS (`bench/screen_bench.py`'s wrapper and sampler), with the load
average before it.  The CSV written from the workbook must equal the one written from the
CSV, line for line below the header (the same verdicts, makers, reasons and input cells;
the header differs in the extra column's name).

    python bench/xlsx_bench.py [--items 100000] [--rounds 2] [--jobs N] [--csl PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAP_HEADERS = {"id": "Line ID", "supplier": "Name of Vendor", "manufacturer":
               "External Manufacturer", "brand": "Brand", "description": "Short Text",
               "part_number": "Manufacturer Part Number", "cost_centre": "Cost Center"}


def write_xlsx(rows: list[dict[str, str]], path: Path) -> float:
    import xlsxwriter

    started = time.perf_counter()
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Open PO lines")
    columns = list(rows[0])
    sheet.write_row(0, 0, [SAP_HEADERS[c] for c in columns])
    for number, row in enumerate(rows, start=1):
        for column, name in enumerate(columns):
            if row[name]:
                sheet.write_string(number, column, row[name])
    book.close()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    from bench.make_items import generate, write
    from bench.screen_bench import find_csl, run_cli

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--csl", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--cases", nargs="+", help="a subset of the cases, e.g. "
                        "'csv -> csv' 'xlsx -> csv'; the first is the baseline")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xlsx-bench-") as folder:
        work = Path(folder)
        csl, csl_origin = find_csl(args.csl, work)
        rows = generate(args.items, args.seed)
        as_csv, as_xlsx = work / "lines.csv", work / "lines.xlsx"
        write(rows, as_csv)
        xlsx_write_s = write_xlsx(rows, as_xlsx)
        write(rows[:50], work / "warm.csv")
        del rows
        data = work / "data"
        common = ["--list", str(csl), "--data-dir", str(data)]
        if args.jobs:
            common += ["--jobs", str(args.jobs)]
        run_cli(["screen", str(work / "warm.csv"), "--format", "csv", "--output",
                 str(work / "warm.out"), *common])  # builds the index cache, untimed
        cases = {"csv -> csv": (as_csv, "csv"), "xlsx -> csv": (as_xlsx, "csv"),
                 "csv -> xlsx": (as_csv, "xlsx"), "xlsx -> xlsx": (as_xlsx, "xlsx")}
        if args.cases:
            cases = {name: cases[name] for name in args.cases}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (source, fmt) in cases.items():
                out = work / f"out-{source.suffix[1:]}.{fmt}"
                runs[name].append(run_cli(["screen", str(source), "--format", fmt,
                                           "--output", str(out), *common]))
        # all but the header row, whose extra column is `cost_centre` in one, `Cost Center`
        # in the other
        compared = [work / "out-csv.csv", work / "out-xlsx.csv"]
        same = (all(p.exists() for p in compared)
                and compared[0].read_bytes().split(b"\n", 1)[1]
                == compared[1].read_bytes().split(b"\n", 1)[1])
        report = {"lines": args.items, "csl": csl_origin, "jobs": args.jobs or os.cpu_count(),
                  "csv_mb": round(as_csv.stat().st_size / 2**20, 1),
                  "xlsx_mb": round(as_xlsx.stat().st_size / 2**20, 1),
                  "xlsx_out_mb": round((work / "out-csv.xlsx").stat().st_size / 2**20, 1)
                  if (work / "out-csv.xlsx").exists() else None,
                  "xlsx_generation_s": round(xlsx_write_s, 1),
                  "same_csv_from_xlsx": same, "runs": runs}
    print(f"{args.items:,} lines; list: {csl_origin}; csv {report['csv_mb']} MB, xlsx "
          f"{report['xlsx_mb']} MB in, {report['xlsx_out_mb']} MB out; CSV written from the "
          f"workbook identical to the one from the CSV: {same}")
    print(f"{'case':<14} {'wall s':>7} {'CPU s':>7} {'largest MB':>11} {'tree PSS MB':>12} "
          f"{'load':>5}")
    for name, measured in runs.items():
        for r in measured:
            print(f"{name:<14} {r['wall_s']:>7} {r['cpu_s']:>7} {r['max_process_rss_mb']:>11} "
                  f"{r['tree_pss_mb']:>12} {r['load']:>5}")
    baseline = runs[next(iter(cases))]
    for name in list(cases)[1:]:
        ratio = min(r["cpu_s"] for r in runs[name]) / min(r["cpu_s"] for r in baseline)
        wall = min(r["wall_s"] for r in runs[name]) / min(r["wall_s"] for r in baseline)
        print(f"{name}: {ratio:.2f}x the CSV run's CPU, {wall:.2f}x its wall time (best of "
              f"{args.rounds})")
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    if not same and {"csv -> csv", "xlsx -> csv"} <= set(cases):
        raise SystemExit("the CSV written from the workbook differs from the CSV run's")


if __name__ == "__main__":
    main()
