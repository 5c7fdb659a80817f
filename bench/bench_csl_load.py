"""Whole-process benchmark: loading a full-size CSL file, against a bare-parser baseline.

Generates a ~26,000-row synthetic CSL CSV (bench/make_csl.py) and its JSON twin, then times, in
fresh processes side by side, (a) entityscan's loader (`entityscan lists update --from FILE`
into a temporary data dir, then `entityscan lists -f json` to load it back) and (b) a baseline
that only parses the same file with the standard library.  Prints seconds, peak RSS and ratios.

    python bench/bench_csl_load.py [--rows 26000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BASELINE = {
    "csv": "import csv,sys; n=sum(1 for _ in csv.DictReader(open(sys.argv[1], newline='', "
           "encoding='utf-8'))); print(n)",
    "json": "import json,sys; print(len(json.load(open(sys.argv[1], encoding='utf-8'))"
            "['results']))",
}


def run(cmd: list[str]) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one child process.

    CPU time is the figure to compare: on a shared machine wall time mostly measures the
    neighbours."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def to_json(csv_path: Path, json_path: Path) -> None:
    rows = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            row["id"] = row.pop("_id")
            row["alt_names"] = [a for a in row["alt_names"].split("; ") if a]
            rows.append(row)
    json_path.write_text(json.dumps({"results": rows}), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=26000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "consolidated.csv"
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_csl.py"), "--rows",
                        str(args.rows), "--output", str(csv_path)], check=True)
        json_path = folder / "consolidated.json"
        to_json(csv_path, json_path)
        print(f"{args.rows} rows (CPU seconds; wall in brackets): "
              f"CSV {csv_path.stat().st_size / 1e6:.1f} MB, "
              f"JSON {json_path.stat().st_size / 1e6:.1f} MB; best of {args.repeat}")
        startup = min(run([sys.executable, "-m", "entityscan", "--help"])
                      for _ in range(args.repeat))
        print(f"CLI start-up alone: {startup[0]:.2f} s [{startup[1]:.2f}]")
        for fmt, path in (("csv", csv_path), ("json", json_path)):
            base = min(run([sys.executable, "-c", BASELINE[fmt], str(path)])
                       for _ in range(args.repeat))
            update = min(run([sys.executable, "-m", "entityscan", "lists", "update", "--from",
                              str(path), "--data-dir", str(folder / f"data-{fmt}-{i}")])
                         for i in range(args.repeat))
            show = min(run([sys.executable, "-m", "entityscan", "lists", "-f", "json",
                            "--data-dir", str(folder / f"data-{fmt}-0")])
                       for _ in range(args.repeat))
            print(f"{fmt:4}  baseline stdlib parse {base[0]:5.2f} s [{base[1]:.2f}] | "
                  f"lists update {update[0]:5.2f} s [{update[1]:.2f}] "
                  f"(x{update[0] / base[0]:.1f}) | lists (load installed + bundled) "
                  f"{show[0]:5.2f} s [{show[1]:.2f}] (x{show[0] / base[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
