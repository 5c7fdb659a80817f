"""Asset-export import: `entityscan import` of a generated asset CSV (one row per device),
side by side in the same run with importing the same devices as nmap XML and, as a scan
document, through `entityscan store import` (which also re-attributes every device and writes
it to a SQLite store).  Whole processes, with wall time and peak memory (VmHWM).  Two caps of
the baselines show at 100,000 devices: the nmap import keeps at most 65,536 hosts (the host
table's bound) and a scan document holds at most 50,000 devices, so the store import is given
the asset import's document cut to its first 50,000 devices; devices/s counts what each
process actually produced.

The devices (generated in a temporary directory, deleted afterwards): `--cameras` Hikvision and
Dahua cameras (own-brand and relabelled; model numbers and MAC blocks), the rest printers,
switches, laptops and other makers' cameras; the run checks the restricted ones are flagged or
reviewed and counts the rest.

    python bench/assets_bench.py [--rows 100000] [--cameras 2000] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.passive_bench import run  # noqa: E402

# (manufacturer, model, MAC prefix, nmap Server header): restricted makers first.
RESTRICTED = [("Hikvision", "DS-2CD2143G2-I", "c0:56:e3", "App-webs/"),
              ("Lorex", "E841CA", "e0:50:8b", "Webs"),
              ("Dahua", "IPC-HDW5442TM-AS", "3c:ef:8c", "Webs"),
              ("ANNKE", "C500", "a4:14:37", "App-webs/")]
OTHERS = [("Axis", "P3245-LVE", "ac:cc:8e", "AXIS"), ("Brother", "HL-L2350DW", "00:1b:a9",
                                                      "debut/1.30"),
          ("Cisco", "C9300-48P", "00:1b:54", "cisco-IOS"), ("Dell", "Latitude 5440", "",
                                                             "")]


def _device(n: int, cameras: int) -> tuple[str, str, str, str, str]:
    table = RESTRICTED if n < cameras else OTHERS
    maker, model, prefix, server = table[n % len(table)]
    mac = f"{prefix}:{(n >> 16) & 0xff:02x}:{(n >> 8) & 0xff:02x}:{n & 0xff:02x}" if prefix \
        else ""
    address = f"10.{100 + (n >> 16)}.{(n >> 8) & 0xff}.{n & 0xff}"
    return maker, model, mac, address, server


def write_inputs(folder: Path, rows: int, cameras: int) -> tuple[Path, Path]:
    assets, nmap = folder / "assets.csv", folder / "nmap.xml"
    with open(assets, "w", newline="", encoding="utf-8") as a, \
            open(nmap, "w", encoding="utf-8") as x:
        writer = csv.writer(a)
        writer.writerow(["Name", "Manufacturer", "Model", "Serial Number", "MAC Address",
                         "IP Address", "Site", "Notes"])
        x.write('<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap -sV">\n')
        for n in range(rows):
            maker, model, mac, address, server = _device(n, cameras)
            writer.writerow([f"dev-{n}", maker, model, f"SN{n:09d}", mac, address,
                             f"site-{n % 40}", "installed by facilities; see ticket"])
            x.write(f'<host starttime="1700000000" endtime="1700000001"><status state="up"/>'
                    f'<address addr="{address}" addrtype="ipv4"/>'
                    + (f'<address addr="{mac.upper()}" addrtype="mac"/>' if mac else "")
                    + '<ports><port protocol="tcp" portid="80"><state state="open"/>'
                    '<service name="http"/>'
                    + (f'<script id="http-server-header" output="{server}"><elem>{server}'
                       '</elem></script>' if server else "")
                    + "</port></ports></host>\n")
        x.write("</nmaprun>\n")
    return assets, nmap


def _verdicts(path: Path) -> dict[str, int]:
    doc = json.loads(path.read_text())
    counts: dict[str, int] = {}
    for device in doc["devices"]:
        counts[device["verdict"]] = counts.get(device["verdict"], 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cameras", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="es-assets-bench-"))
    entityscan = [sys.executable, "-m", "entityscan"]
    try:
        assets, nmap = write_inputs(folder, args.rows, args.cameras)
        print(f"{args.rows:,} devices ({args.cameras:,} Hikvision/Dahua): asset CSV "
              f"{assets.stat().st_size / 1e6:.1f} MB, nmap XML {nmap.stat().st_size / 1e6:.1f} "
              f"MB; load average {os.getloadavg()[0]:.2f}")
        document = folder / "assets.json"
        runs = [
            ("entityscan import assets.csv -f json", [*entityscan, "import", str(assets),
                                                       "-f", "json", "-o", str(document)],
             document),
            ("entityscan import nmap.xml -f json", [*entityscan, "import", str(nmap), "-f",
                                                     "json", "-o", str(folder / "nmap.json")],
             folder / "nmap.json"),
            ("entityscan store import assets.json", [*entityscan, "store", "import",
                                                     str(document), "--db",
                                                     f"sqlite:///{folder / 'store.db'}"], None),
        ]
        for label, command, output in runs:
            if output is None:  # the scan document, within the per-document cap
                doc = json.loads(document.read_text())
                doc["devices"] = doc["devices"][:50_000]
                kept = [d["verdict"] for d in doc["devices"]]
                doc["summary"].update(total=len(kept), **{v: kept.count(v) for v in
                                                          ("flagged", "review", "clear")})
                document.write_text(json.dumps(doc))
                produced = len(doc["devices"])
                del doc
            seconds, peak, code, err = run(command)
            extra = ""
            if output is not None and output.exists():
                verdicts = _verdicts(output)
                produced = sum(verdicts.values())
                extra = f", verdicts {verdicts}"
            print(f"{label:40s} {seconds:7.1f} s  {produced:7,} devices  "
                  f"{produced / seconds:7,.0f}/s  peak {peak:6.0f} MiB  exit {code}{extra}")
            if code not in (0, 1):
                print(err, file=sys.stderr)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
