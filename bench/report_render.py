"""Whole-process cost of `entityscan report` per format on a large scan document.

    python bench/report_render.py [--devices 5000]

Builds an `entityscan.scan/1` document of N devices through the real attribution and
screening path (a mix of Hikvision, Dahua, relabels and other makers, each with evidence),
then runs `python -m entityscan report DOC --format F` once per format as a separate process and
reports wall time, peak RSS and output size, side by side with `--format json` (validate and
re-serialise: the baseline every other format adds its rendering to).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from entityscan.output import scan_document  # noqa: E402
from entityscan.scanners.attribution import attribute  # noqa: E402
from entityscan.scanners.inventory import Certainty, Device, Evidence, Inventory  # noqa: E402
from entityscan.screening import screen_inventory  # noqa: E402

PROFILES = [
    ("HIKVISION", "DS-2CD2143G2-I", "Hikvision", "sadp", "DeviceType"),
    ("Amcrest", "IP8M-2496EB", "Dahua", "dhip", "DHDiscover.search"),
    ("EZVIZ", "CS-C6N", "Hikvision", "mdns", "_http._tcp"),
    ("AXIS", "P3265-LVE", "Axis", "mdns", "_axis-video._tcp"),
    ("Bosch", "FLEXIDOME IP 5000i", "Bosch", "http", "Server"),
]


def build_document(count: int) -> dict:
    devices = []
    for index in range(count):
        brand, model, maker, probe, field = PROFILES[index % len(PROFILES)]
        a, b = divmod(index, 250)
        devices.append(attribute(Device(
            addresses=[f"10.{a // 250}.{a % 250}.{b + 1}"],
            mac=f"02:00:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}:01",
            brand=brand, model=model, firmware=f"V5.{index % 9}.0", serial=f"SN{index:08d}",
            evidence=[Evidence(probe=probe, field=field, value=f"{model} unit {index}",
                               indicates=maker, certainty=Certainty.SOLID),
                      Evidence(probe="http", field="title", value=f"{brand} web", indicates=None,
                               kind="label")])))
    from _report_samples import context

    inventory = Inventory(targets=["10.0.0.0/16"], devices=devices,
                          parameters={"timeout": 3.0, "rate": 200})
    return scan_document(inventory, screen_inventory(inventory, context()), context().lists)


def run(doc_path: Path, fmt: str, out: Path) -> tuple[float, int, int]:
    code = ("import resource, sys; from entityscan.cli import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, "report", str(doc_path), "--format",
                             fmt, "--output", str(out)], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    wall = time.perf_counter() - start
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    return wall, peak_kb, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        doc_path = Path(folder) / "scan.json"
        doc_path.write_text(json.dumps(build_document(args.devices)), encoding="utf-8")
        print(f"document: {args.devices} devices, {doc_path.stat().st_size / 1e6:.1f} MB")
        results = {fmt: run(doc_path, fmt, Path(folder) / f"out.{fmt}")
                   for fmt in ("json", "csv", "html", "cyclonedx")}
    base_wall, base_rss, _ = results["json"]
    print(f"{'format':<10} {'wall s':>8} {'x json':>7} {'peak MB':>8} {'x json':>7} {'out MB':>7}")
    for fmt, (wall, rss, size) in results.items():
        print(f"{fmt:<10} {wall:8.2f} {wall / base_wall:7.2f} {rss / 1024:8.0f} "
              f"{rss / base_rss:7.2f} {size / 1e6:7.1f}")


if __name__ == "__main__":
    main()
