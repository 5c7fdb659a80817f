"""Screening benchmark: the whole `entityscan screen` process, as users run it, beside the
brute-force baseline in the same run.

For each mix (`sparse`: `bench/make_items.py`'s purchase-order export, about 3 % of lines
touching a listed maker; `dense`: half the lines' suppliers made from the same words as the
list's company names) and each size, it runs

    entityscan screen FILE --list CSL --format json --output OUT --data-dir DATA

as its own process, first with an empty data dir (index cache cold), then again (warm), and
reports wall time, lines/s, the CPU of the whole process tree, the peak RSS of its largest
process (`ru_maxrss` of the children, read by a small wrapper process) and the peak of the
tree's summed RSS (sampled from /proc every 50 ms) and PSS (every 0.5 s: reading it costs
the measured processes; PSS counts pages the forked workers share with their parent once),
with the load average (1 minute) before each run,
which includes this benchmark's own previous run.  A one-line file with the warm cache
times start-up.

The baseline, in the same run: on the first `--sample` lines of each mix, the matcher with a
brute-force rapidfuzz scan instead of its index (`bench/brute_force.py`), in its own process;
the flagged set the CLI wrote for those lines must equal the brute force's.  The matcher's
own CPU time over the file, in process, tells how much of a run is matcher time.  With
`--before DIR` the same command also runs as an earlier version of entityscan runs it (its
package on PYTHONPATH, e.g. `git archive` of an older commit laid out as `DIR/entityscan`
with `scanners/` inside), and its flagged set over the whole file must equal this one's.

    python bench/screen_bench.py [--items 100000] [--mix sparse dense] [--jobs N]
                                 [--sample 300] [--csl PATH] [--format json] [--before DIR]
                                 [--skip-cold] [--skip-matcher] [--json-out PATH]

The list: the installed official CSL copy when present, else `bench/make_csl.py`'s generated
~26,000-entry file.  The dense mix comes from `bench/make_items.py --mix dense` when that
option exists; until then from `dense_rows` below (the same idea, deterministic).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import resource
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# ----- input -----
def dense_rows(count: int, seed: int) -> list[dict[str, str]]:
    """The sparse export with half its suppliers (and a third of those lines' manufacturers)
    replaced by names made like the generated CSL's companies: a Chinese city or none, one
    or two syllable words (sometimes squashed into one, sometimes with a typo), an activity
    and a legal form.  They share tokens with many list names; a few are list names."""
    from bench.make_csl import ACTIVITY, CORE, FORMS, PREFIX
    from bench.make_items import generate

    rng = random.Random(seed * 7919 + 1)
    cities, syllables = PREFIX[:10], CORE[:20]

    def near_name() -> str:
        words = [rng.choice(syllables) for _ in range(rng.choice((1, 2, 2)))]
        roll = rng.random()
        if roll < 0.25:
            words = ["".join(words).capitalize()]
        elif roll < 0.35:
            last = words[-1]
            at = rng.randrange(len(last))
            words[-1] = last[:at] + rng.choice(string.ascii_lowercase) + last[at + 1:]
        if rng.random() >= 0.2:
            words.insert(0, rng.choice(cities))
        return f"{' '.join(words)} {rng.choice(ACTIVITY)} {rng.choice(FORMS)}"

    rows = generate(count, seed)
    for row in rows:
        if rng.random() < 0.5:
            row["supplier"] = near_name()
            if rng.random() < 0.3 and not row["manufacturer"]:
                row["manufacturer"] = near_name()
    return rows


def make_rows(mix: str, count: int, seed: int) -> tuple[list[dict[str, str]], str]:
    from bench import make_items

    if mix == "sparse":
        return make_items.generate(count, seed), "bench/make_items.py"
    if "mix" in inspect.signature(make_items.generate).parameters:
        return make_items.generate(count, seed, mix="dense"), "bench/make_items.py --mix dense"
    return dense_rows(count, seed), "bench/screen_bench.py dense_rows"


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
    return target, "generated (bench/make_csl.py), 26,000 rows"


# ----- one CLI run, measured -----
def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(c) for c in handle.read().split())
        except OSError:
            continue
    return found


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _rss_kb(pid: int) -> int:
    """RSS of one process in KiB (from statm: cheap); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _pss_kb(pid: int) -> int:
    """PSS of one process in KiB; 0 once it is gone.  smaps_rollup walks the process's page
    tables under its memory lock: ~12 ms for a 250 MB process, so it is read seldom."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


# Runs the CLI and reports its own view: a small process, so the children's peak RSS it reads
# is the CLI tree's (a child forked from this benchmark, which holds a million generated rows,
# would have the benchmark's peak counted as its own before it execs).
_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss_kb": usage.ru_maxrss}))
"""


def run_cli(args: list[str], pythonpath: Path | None = None) -> dict[str, Any]:
    """Run `python -m entityscan ARGS` (the `entityscan` package found first on `pythonpath`,
    if given); wall time, CPU, peak memory, exit code."""
    load_before = os.getloadavg()[0]
    peaks = {"rss": 0, "pss": 0}
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, sys.executable, "-m",
                             "entityscan", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    done = threading.Event()

    def sample() -> None:
        # RSS every 50 ms; PSS every 0.5 s (reading it every 50 ms took ~70 % of a core
        # from the measured run on a 2-core machine and stalled its page faults)
        tick = 0
        while not done.is_set():
            tree = _tree(proc.pid)[1:]  # not the wrapper
            peaks["rss"] = max(peaks["rss"], sum(_rss_kb(p) for p in tree))
            if tick % 10 == 0:
                peaks["pss"] = max(peaks["pss"], sum(_pss_kb(p) for p in tree))
            tick += 1
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    report = json.loads(out.strip().splitlines()[-1])
    if report["code"] not in (0, 1):
        raise SystemExit(f"entityscan {' '.join(args)} failed ({report['code']}): {err}")
    return {"wall_s": round(report["wall"], 2), "cpu_s": round(report["cpu"], 2),
            "max_process_rss_mb": round(report["maxrss_kb"] / 1024),
            "tree_rss_mb": round(peaks["rss"] / 1024), "tree_pss_mb": round(peaks["pss"] / 1024),
            "load": round(load_before, 2)}


def flagged_ids(output: Path, wanted: set[str] | None) -> set[str]:
    """Flagged ids (among `wanted`, if given) from a streamed screen document (one result a
    line)."""
    found = set()
    with output.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith('  "results": ['):
                break
        for line in handle:
            if line.startswith("    {"):
                result = json.loads(line.rstrip().rstrip(","))
                if result["verdict"] == "flagged" and (wanted is None or
                                                       result["id"] in wanted):
                    found.add(result["id"])
    return found


# ----- the baseline and the matcher alone, in-process children -----
def worker(mode: str, items_path: Path, csl_path: Path) -> dict[str, Any]:
    """Inside a child process: the matcher (indexed or brute force) over the lines, read in
    chunks so a million lines fit; only the CPU time of `screen_item` is counted."""
    from entityscan.lineitems import LineItemFile, to_item
    from entityscan.lists import load_bundled, load_list_file
    from entityscan.matcher import Matcher, load_patterns
    from entityscan.model import Verdict
    from entityscan.relations import load_relations

    lists = load_bundled().merged(load_list_file(csl_path))
    matcher = Matcher(lists, load_relations(), load_patterns())
    if mode == "brute":
        from bench.brute_force import BruteForceIndex

        matcher._entries = BruteForceIndex.from_index(matcher._entries)
        matcher._relations = BruteForceIndex.from_index(matcher._relations)
    cpu, count, flagged = 0.0, 0, []
    for rows in LineItemFile(items_path).chunks():
        items = [to_item(row) for row in rows]
        started = time.process_time()
        findings = [matcher.screen_item(item) for item in items]
        cpu += time.process_time() - started
        count += len(items)
        flagged += [i.id for i, f in zip(items, findings, strict=True)
                    if f.verdict is Verdict.FLAGGED]
    return {"mode": mode, "items": count, "cpu_s": round(cpu, 3), "flagged": sorted(flagged),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def run_worker(mode: str, items: Path, csl: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--worker", mode, "--items-file",
                           str(items), "--csl", str(csl)], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    from bench.make_items import write

    write(rows, path)


# ----- the run -----
def bench_mix(mix: str, count: int, args: argparse.Namespace, csl: Path,
              workdir: Path) -> dict[str, Any]:
    rows, origin = make_rows(mix, count, args.seed)
    items, sample = workdir / f"{mix}-{count}.csv", workdir / f"{mix}-sample.csv"
    write_csv(rows, items)
    write_csv(rows[: args.sample], sample)
    sample_ids = {r["id"] for r in rows[: args.sample]}
    del rows
    data = workdir / f"data-{mix}-{count}"
    out = workdir / f"{mix}-{count}.{args.format}"
    cli = ["screen", str(items), "--list", str(csl), "--format", args.format,
           "--output", str(out), "--data-dir", str(data)]
    if args.jobs:
        cli += ["--jobs", str(args.jobs)]
    if args.skip_cold:  # build the cache without timing it
        run_cli([*cli[:1], str(sample), *cli[2:]])
    cold = None if args.skip_cold else run_cli(cli)
    warm = run_cli(cli)
    flagged_all = flagged_ids(out, None) if args.format == "json" else None
    out.unlink()
    before = before_flagged = None
    if args.before:  # the same command, as an earlier version runs it (no cache, no --jobs)
        before = run_cli(["screen", str(items), "--list", str(csl), "--format", "json",
                          "--output", str(out), "--data-dir", str(workdir / "data-before")],
                         pythonpath=args.before)
        with out.open(encoding="utf-8") as handle:
            before_flagged = {r["id"] for r in json.load(handle)["results"]
                              if r["verdict"] == "flagged"}
        out.unlink()
    # the matcher alone over the whole file
    indexed = {"cpu_s": None, "flagged": []} if args.skip_matcher else run_worker(
        "indexed", items, csl)
    brute = run_worker("brute", sample, csl)
    flagged_sample = None if flagged_all is None else flagged_all & sample_ids
    agree = None if flagged_sample is None else (
        flagged_sample == set(brute["flagged"])
        and (args.skip_matcher or flagged_all == set(indexed["flagged"])))
    same_before = None if before_flagged is None or flagged_all is None else (
        before_flagged == flagged_all)
    return {"mix": mix, "origin": origin, "lines": count, "cold": cold, "warm": warm,
            "before": before, "same_flagged_before": same_before,
            "flagged_before": None if before_flagged is None else len(before_flagged),
            "sample": len(sample_ids), "matcher_cpu_s": indexed["cpu_s"],
            "brute_cpu_s_per_line": brute["cpu_s"] / max(brute["items"], 1),
            "flagged_cli": len(flagged_all or ()), "flagged_matcher": len(indexed["flagged"]),
            "flagged_sample_cli": len(flagged_sample or ()),
            "flagged_sample_brute": len(brute["flagged"]), "same_flagged": agree,
            "only_cli": sorted((flagged_sample or set()) - set(brute["flagged"])),
            "only_brute": sorted(set(brute["flagged"]) - (flagged_sample or set())),
            "data_dir": str(data)}


def main() -> None:
    parser = argparse.ArgumentParser(description="whole-process screening benchmark")
    parser.add_argument("--items", type=int, nargs="+", default=[100_000])
    parser.add_argument("--mix", nargs="+", choices=("sparse", "dense"),
                        default=["sparse", "dense"])
    parser.add_argument("--format", default="json", choices=("json", "ndjson", "csv"))
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--csl", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON")
    parser.add_argument("--skip-cold", action="store_true",
                        help="time the warm run only (the cache is built untimed)")
    parser.add_argument("--skip-matcher", action="store_true",
                        help="do not time the matcher alone (it takes as long as a run)")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time the same command as an earlier version runs it: a "
                             "directory holding that version's `entityscan` package (run "
                             "with PYTHONPATH=DIR); its flagged set must equal this one's")
    parser.add_argument("--worker", choices=("indexed", "brute"))
    parser.add_argument("--items-file", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.items_file, args.csl)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csl, origin = find_csl(args.csl, workdir)
        print(f"list: {csl.name} ({origin}); {os.cpu_count()} cores; format {args.format}; "
              f"jobs {args.jobs or 'default (all cores)'}", flush=True)
        results = []
        for count in args.items:
            for mix in args.mix:
                result = bench_mix(mix, count, args, csl, workdir)
                results.append(result)
                _print(result)
        one = workdir / "one.csv"
        one.write_text("id,supplier\n1,Acme Supply\n", encoding="utf-8")
        start = run_cli(["screen", str(one), "--list", str(csl), "--format", "json",
                         "--output", str(workdir / "one.json"), "--data-dir",
                         results[0]["data_dir"]])
        print(f"one-line file, warm cache: {start['wall_s']:.2f} s, "
              f"{start['max_process_rss_mb']} MB (load {start['load']})")
        if args.json_out:
            args.json_out.write_text(json.dumps({"results": results, "one_line": start},
                                                indent=2), encoding="utf-8")
    if any(r["same_flagged"] is False or r["same_flagged_before"] is False for r in results):
        sys.exit(1)


def _print(r: dict[str, Any]) -> None:
    print(f"\n{r['mix']} mix ({r['origin']}), {r['lines']:,} lines:")
    print(f"  {'cache':<6}{'wall s':>8}{'lines/s':>10}{'cpu s':>8}{'max proc MB':>12}"
          f"{'tree PSS MB':>12}{'tree RSS MB':>12}{'load':>6}")
    for name in ("cold", "warm", "before"):
        m = r[name]
        if m is None:
            continue
        print(f"  {name:<6}{m['wall_s']:>8.2f}{r['lines'] / m['wall_s']:>10,.0f}"
              f"{m['cpu_s']:>8.2f}{m['max_process_rss_mb']:>12}{m['tree_pss_mb']:>12}"
              f"{m['tree_rss_mb']:>12}{m['load']:>6}")
    if r["before"] is not None:
        print(f"  before (the earlier version, whole file): flagged {r['flagged_before']:,}; "
              f"{'same set' if r['same_flagged_before'] else 'DIFFERENT set'}")
    if r["matcher_cpu_s"] is not None:
        print(f"  the matcher alone over the same lines (one process, no reading or writing):"
              f" {r['matcher_cpu_s']:.1f} CPU s of the warm run's {r['warm']['cpu_s']:.1f}; "
              f"flagged: CLI {r['flagged_cli']:,}, matcher {r['flagged_matcher']:,}")
    print(f"  brute force baseline (first {r['sample']} lines): "
          f"{r['brute_cpu_s_per_line'] * 1e3:,.1f} ms/line; flagged: CLI "
          f"{r['flagged_sample_cli']}, brute force {r['flagged_sample_brute']}; "
          f"{'same sets' if r['same_flagged'] else 'DIFFERENT'}")
    if r["same_flagged"] is False:
        print(f"  only CLI: {r['only_cli']}\n  only brute force: {r['only_brute']}")


if __name__ == "__main__":
    main()
