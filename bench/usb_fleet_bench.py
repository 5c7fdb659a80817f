"""Fleet USB audit benchmark: `entityscan usb --from-lsusb` over N hosts' lsusb files.

Whole processes, side by side in the same run:
- `entityscan`: `python -m entityscan usb --from-lsusb DIR --format json` (parse, identify,
  attribute, screen, write);
- `startup`: the same command on one host (fixed cost: interpreter, lists, matcher);
- `grep`: the baseline an IT team would script, `grep -l -i -E` for the listed makers' VIDs,
  which finds hosts but names no device, maker, list or reason.
Hosts are the fixture files in fixtures/lsusb (both formats) copied under new host names.
The flagged/review host set must contain every host grep finds.

    python bench/usb_fleet_bench.py [--hosts 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "lsusb"
LISTED_VIDS = ("2bdf", "2e03", "12d1", "19d2")


def make_fleet(folder: Path, hosts: int) -> None:
    templates = sorted(p for p in FIXTURES.iterdir() if p.is_file())
    for number in range(hosts):
        template = templates[number % len(templates)]
        lines = template.read_text(encoding="utf-8").splitlines()
        if lines and lines[0].startswith("# host:"):
            lines = lines[1:]
        name = f"edge-{number:05d}"
        (folder / f"{name}.txt").write_text("\n".join([f"# host: {name}", *lines]) + "\n",
                                            encoding="utf-8")


def timed(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="usb-fleet-") as tmp:
        fleet = Path(tmp) / "fleet"
        fleet.mkdir()
        make_fleet(fleet, args.hosts)
        size_mb = sum(p.stat().st_size for p in fleet.iterdir()) / 1e6
        out = Path(tmp) / "scan.json"
        one = sorted(fleet.iterdir())[0]

        grep = shutil.which("grep") or "grep"
        pattern = "|".join(f"(ID |idVendor +0x){vid}" for vid in LISTED_VIDS)
        t_grep, _, grep_proc = timed([grep, "-l", "-i", "-E", pattern, "-r", str(fleet)])
        t_start, rss_start, _ = timed([sys.executable, "-m", "entityscan", "usb", "--from-lsusb",
                                       str(one), "--format", "json", "--output", str(out)])
        t_full, rss_full, proc = timed([sys.executable, "-m", "entityscan", "usb", "--from-lsusb",
                                        str(fleet), "--format", "json", "--output", str(out)])
        if proc.returncode not in (0, 1):
            print(proc.stderr, file=sys.stderr)
            return 2
        doc = json.loads(out.read_text())
        hit_hosts = {d["host"] for d in doc["devices"] if d["verdict"] != "clear"}
        grep_hosts = {Path(line).stem for line in grep_proc.stdout.split()}
        missed = grep_hosts - hit_hosts

    per_host_ms = (t_full - t_start) / max(args.hosts - 1, 1) * 1000
    result = {
        "hosts": args.hosts, "input_mb": round(size_mb, 1), "devices": len(doc["devices"]),
        "entityscan_s": round(t_full, 2), "startup_s": round(t_start, 2),
        "grep_s": round(t_grep, 3), "per_host_ms": round(per_host_ms, 2),
        "ratio_vs_grep": round(t_full / max(t_grep, 1e-6), 1),
        "ratio_vs_startup": round(t_full / max(t_start, 1e-6), 2),
        "peak_rss_mb": {"entityscan": round(rss_full, 1), "startup": round(rss_start, 1)},
        "flagged_or_review_hosts": len(hit_hosts), "grep_hosts": len(grep_hosts),
        "hosts_grep_found_but_entityscan_missed": sorted(missed)[:5],
    }
    print(json.dumps(result, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
