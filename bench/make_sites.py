"""Scan documents for simulated sites, made from a real scan of the loopback lab.

`lab_templates()` scans the lab once (every non-hostile profile, on 127.0.13.0/24 from .10)
with the real scanner and keeps each device as the scanner reported it, evidence and all.
`site_document(templates, site, n, seed)` builds one site's `entityscan.scan/1` document of
`n` devices drawn from them with a realistic mix (most devices are other makers' cameras and
web boxes, about one in seven is a Hikvision- or Dahua-platform unit under its own or an OEM
label), each with a MAC, serial and address of its own, so every site's devices are distinct.

    python bench/make_sites.py --sites 3 --devices 200 --out /tmp/sites   # writes JSON files
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAB_BASE = "127.0.13.10"
FLAGGED_SHARE = 0.15


def lab_templates(python: str = sys.executable) -> list[dict[str, Any]]:
    """Devices of one real scan of the lab (`entityscan demo`, whole process)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "lab.json"
        subprocess.run([python, "-m", "entityscan", "demo", "--base", LAB_BASE, "--report",
                        str(report)], cwd=tmp, env=_env(tmp), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return list(json.loads(report.read_text())["devices"])


def _env(tmp: str) -> dict[str, str]:
    import os

    env = {**os.environ, "ENTITYSCAN_DATA_DIR": tmp}
    env.pop("ENTITYSCAN_DB", None)
    return env


def _mac(rng: random.Random, template: str | None, site: int, index: int) -> str | None:
    if template is None:
        return None
    prefix = template.split(":")[:3]  # keep the registrant (the OUI is evidence)
    tail = (site * 1000 + index) & 0xFFFFFF
    return ":".join([*prefix, f"{tail >> 16:02x}", f"{(tail >> 8) & 0xFF:02x}",
                     f"{tail & 0xFF:02x}"])


def site_document(templates: list[dict[str, Any]], site: int, devices: int, seed: int = 7
                  ) -> dict[str, Any]:
    """One site's scan document (see the module docstring)."""
    rng = random.Random(seed * 1_000_003 + site)
    flagged = [json.dumps(t) for t in templates if t.get("verdict") == "flagged"]
    clear = [json.dumps(t) for t in templates if t.get("verdict") != "flagged"]
    out = []
    for index in range(devices):
        device = json.loads(rng.choice(flagged if rng.random() < FLAGGED_SHARE else clear))
        address = f"10.{(site >> 8) & 0xFF}.{site & 0xFF}.{index % 250 + 1}"
        old = list(device.get("addresses") or [])
        device["addresses"] = [address]
        device["mac"] = _mac(rng, device.get("mac"), site, index)
        device["serial"] = f"S{site:05d}D{index:04d}" if device.get("serial") or not \
            device["mac"] else None
        device["id"] = None
        for ev in device.get("evidence") or []:
            for was in old:
                ev["value"] = ev["value"].replace(was, address)
            if ev.get("probe") == "oui" and device["mac"]:
                ev["value"] = device["mac"]
        out.append(device)
    return {"schema": "entityscan.scan/1", "kind": "network", "site": f"site-{site:04d}",
            "document_id": f"site-{site:04d}:bench-{seed}", "targets": [f"10.{site >> 8}."
                                                                        f"{site & 0xFF}.0/24"],
            "started": "2026-12-01T02:00:00+00:00", "finished": "2026-12-01T02:01:00+00:00",
            "parameters": {"timeout": 60.0}, "errors": [], "devices": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    templates = lab_templates()
    args.out.mkdir(parents=True, exist_ok=True)
    for site in range(args.sites):
        path = args.out / f"site-{site:04d}.json"
        path.write_text(json.dumps(site_document(templates, site, args.devices)))
    print(f"{args.sites} documents of {args.devices} devices in {args.out}")


if __name__ == "__main__":
    main()
