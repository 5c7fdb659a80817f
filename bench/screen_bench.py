"""Screening benchmark: the indexed matcher against a brute-force rapidfuzz baseline.

Each side runs as its own process (whole-process wall time and peak RSS), in the same run:
- `indexed`: `entityscan`'s matcher screening N line items (default 100,000) against a
  full-size list (the installed official CSL copy when present, else a generated one of
  ~26,000 entries in the same CSV format);
- `brute`: the same scoring and verdict policy, but every candidate found by a rapidfuzz
  `process.extract` scan over all names, as a matcher without an index would; run on a sample.
Both screen the sample, and the flagged sets are compared: the index must lose no hit.

    python bench/screen_bench.py [--items 100000] [--sample 300] [--csl PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(mode: str, items_path: Path, csl_path: Path) -> dict[str, Any]:
    """Runs inside a child process: load, screen, report timings and flagged ids."""
    from entityscan.lineitems import read_line_items
    from entityscan.lists import load_bundled, load_list_file
    from entityscan.matcher import Matcher, load_patterns
    from entityscan.model import Verdict
    from entityscan.relations import load_relations

    started = time.perf_counter()
    lists = load_bundled().merged(load_list_file(csl_path))
    items = read_line_items(items_path)
    loaded = time.perf_counter()
    matcher = Matcher(lists, load_relations(), load_patterns())
    if mode == "brute":
        from bench.brute_force import BruteForceIndex

        matcher._entries = BruteForceIndex.from_index(matcher._entries)
        matcher._relations = BruteForceIndex.from_index(matcher._relations)
    built = time.perf_counter()
    cpu = time.process_time()
    findings = [matcher.screen_item(item) for item in items]
    screened = time.perf_counter()
    cpu = time.process_time() - cpu
    return {
        "mode": mode, "items": len(items), "entries": len(lists),
        "load_s": round(loaded - started, 3), "index_s": round(built - loaded, 3),
        "screen_s": round(screened - built, 3),
        "items_per_s": round(len(items) / max(screened - built, 1e-9), 1),
        # CPU time is what the matcher costs; wall time also counts other load on the box.
        "screen_cpu_s": round(cpu, 3),
        "items_per_cpu_s": round(len(items) / max(cpu, 1e-9), 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "flagged": sorted(i.id for i, f in zip(items, findings, strict=True)
                          if f.verdict is Verdict.FLAGGED),
        "review": sum(1 for f in findings if f.verdict is Verdict.REVIEW),
    }


def run_child(mode: str, items: Path, csl: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", mode, "--items-file",
                           str(items), "--csl", str(csl)], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - started, 3)
    return result


def find_csl(explicit: Path | None, workdir: Path) -> tuple[Path, str]:
    if explicit:
        return explicit, "given"
    from entityscan.lists.registry import _copies, resolve_data_dir

    current = _copies(resolve_data_dir())[0]
    if current.data.exists():
        return current.data, "installed official CSL copy (entityscan lists update)"
    from bench import make_csl

    target = workdir / "csl.csv"
    make_csl.main(["--output", str(target)])
    return target, "generated (bench/make_csl.py)"


def main() -> None:
    parser = argparse.ArgumentParser(description="screening benchmark")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--csl", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", choices=("indexed", "brute"))
    parser.add_argument("--items-file", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.items_file, args.csl)))
        return

    from bench.make_items import generate, write

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csl, origin = find_csl(args.csl, workdir)
        rows = generate(args.items, args.seed)
        full, sample = workdir / "items.csv", workdir / "sample.csv"
        write(rows, full)
        # The sample: every listed-maker line in the first part, topped up with others.
        write(rows[: args.sample], sample)
        indexed = run_child("indexed", full, csl)
        indexed_sample = run_child("indexed", sample, csl)
        brute = run_child("brute", sample, csl)

    same = indexed_sample["flagged"] == brute["flagged"]
    ratio = indexed["items_per_cpu_s"] / max(brute["items_per_cpu_s"], 1e-9)
    print(f"list: {csl.name} ({origin}), {indexed['entries']:,} entries")
    print(f"{'run':<22}{'items':>9}{'screen s':>10}{'cpu s':>8}{'items/s':>10}"
          f"{'items/cpu-s':>12}{'process wall s':>15}{'peak MB':>9}")
    for name, r in (("indexed (full)", indexed), ("indexed (sample)", indexed_sample),
                    ("brute force (sample)", brute)):
        print(f"{name:<22}{r['items']:>9,}{r['screen_s']:>10.2f}{r['screen_cpu_s']:>8.2f}"
              f"{r['items_per_s']:>10,.0f}{r['items_per_cpu_s']:>12,.0f}{r['wall_s']:>15.2f}"
              f"{r['peak_rss_mb']:>9.0f}")
    print(f"speed-up indexed/brute (per CPU second): {ratio:,.0f}x   flagged on sample: indexed "
          f"{len(indexed_sample['flagged'])}, brute {len(brute['flagged'])}, "
          f"{'same set' if same else 'DIFFERENT'}   flagged in full run: "
          f"{len(indexed['flagged']):,}, review {indexed['review']:,}")
    if not same:
        print("only indexed:", sorted(set(indexed_sample["flagged"]) - set(brute["flagged"])))
        print("only brute:", sorted(set(brute["flagged"]) - set(indexed_sample["flagged"])))
        sys.exit(1)


if __name__ == "__main__":
    main()
