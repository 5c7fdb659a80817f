"""Whole-process benchmark: `entityscan scan` against `nmap -sV` on the same simulated lab.

Part 1 (root, iproute2, nmap): a network-namespace lab of N simulated devices (default 60:
every hostile profile once, the other profiles replicated with distinct MACs and serials), one
namespace per device, over 10.245.0.0/24 (every other address dead), built twice: on the
scanner's segment, and routed (the scanner on 10.246.0.0/24 behind a router namespace, no
multicast routing; `tests/lab/netns.py`).  In each mode both tools run as whole processes in
the scanner namespace on the camera ports; the script reports wall time, devices found,
devices correctly attributed, listed devices flagged, attribution precision/recall, and how
many listed devices each new signal kind alone attributes.

Part 2 (no root): a /16 unicast sweep (127.62.0.0/16 on loopback, a few simulated devices
in a separate process) timed as a whole process with its peak resident memory.

    python bench/scan_vs_nmap.py [--devices 60] [--mode segment|routed|both] [--skip-nmap]
                                 [--nmap-host-timeout 120] [--skip-sweep] [--json OUT]

Correct attribution: a Hikvision- or Dahua-platform device attributed to that platform, any
other device to neither.  For nmap, the platform is read from its service product/info/
device strings (the same test: `Hikvision`/`Dahua` named for exactly the right devices).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # nmap's own output, not a device's
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LOAD_BEFORE = os.getloadavg()

PREFIX = "es-r11-b"
SUBNET = "10.245.0"
SCANNER_SUBNET = "10.246.0"
CAMERA_PORTS = "80,443,554,8000,8080,8443,8554,37777"
RESTRICTED = ("Hikvision", "Dahua")
#: The new signals this benchmark credits one by one: the probes that produce them (with what
#: their values chain to, e.g. a UPnP serial judged by the serial rules) or their rule kind.
NEW_SIGNALS = {"sdk_reply": ("sdk",), "telnet_banner": ("telnet",), "ftp_banner": ("ftp",),
               "ssh_banner": ("ssh",), "upnp": ("upnp", "ssdp"), "snmp": ("snmp",),
               "mdns_txt": (), "http_shape": (), "rtsp_public": (), "neighbours": ("neighbours",)}


def timed(argv: list[str], stdout_path: Path | None = None) -> tuple[float, int, int]:
    """Run a whole process; (wall seconds, exit code, peak RSS in MB of it and its children)."""
    started = time.monotonic()
    with open(stdout_path or os.devnull, "wb") as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped by wait4 above
        if code not in (0, 1):
            err.seek(0)
            print(err.read().decode(errors="replace")[-2000:], file=sys.stderr)
    return wall, code, usage.ru_maxrss // 1024


def lab_profiles(count: int) -> list[Any]:
    """`count` devices: every hostile profile once, the others replicated (distinct MACs)."""
    from entityscan.scanners.lab import load_profiles, replicate

    everything = load_profiles()
    hostile = [p for p in everything if p.hostile is not None]
    normal = [p for p in everything if p.hostile is None]
    return replicate(normal, max(0, count - len(hostile))) + hostile


def expected_platform(profile: Any) -> str | None:
    want = profile.expected.platform or profile.expected.maker
    return want if want in RESTRICTED else None


def score_entityscan(doc: dict[str, Any], lab: Any) -> dict[str, Any]:
    """Found, correct, listed devices flagged, and attribution precision/recall for the
    restricted platforms (a device counts as claimed when its platform is Hikvision/Dahua)."""
    found = {a: d for d in doc["devices"] for a in d["addresses"]}
    seen = correct = flagged = listed = claimed = right = 0
    for device in lab.devices:
        want = expected_platform(device.profile)
        listed += want is not None
        got = found.get(device.address)
        if got is None:
            continue
        seen += 1
        have = got.get("platform") if got.get("platform") in RESTRICTED else None
        correct += have == want
        if have is not None:
            claimed += 1
            right += have == want
        flagged += want is not None and got.get("verdict") == "flagged"
    return {"found": seen, "correct": correct, "listed": listed, "listed_flagged": flagged,
            "precision": round(right / claimed, 3) if claimed else None,
            "recall": round(flagged / listed, 3) if listed else None}


def signal_contributions(doc: dict[str, Any], lab: Any) -> dict[str, int]:
    """How many listed devices each new signal kind alone attributes to their platform (at
    review level or above: confidence >= 0.3)."""
    from entityscan.scanners.attribution import attribute
    from entityscan.scanners.inventory import Device, Evidence

    found = {a: d for d in doc["devices"] for a in d["addresses"]}
    counts: dict[str, int] = dict.fromkeys(NEW_SIGNALS, 0)
    for device in lab.devices:
        want = expected_platform(device.profile)
        got = found.get(device.address)
        if want is None or got is None:
            continue
        evidence = [Evidence.model_validate(e) for e in got["evidence"]]
        for kind, probes in NEW_SIGNALS.items():
            own = [e for e in evidence
                   if e.probe in probes or (e.rule or "").split("/", 1)[0] == kind]
            alone = attribute(Device(addresses=[device.address], evidence=own))
            counts[kind] += alone.maker == want and alone.confidence >= 0.3
    return counts


def score_nmap(xml_text: str, lab: Any) -> tuple[int, int]:
    root = ET.fromstring(xml_text)
    hosts: dict[str, str] = {}
    for host in root.iter("host"):
        address = next((a.get("addr") for a in host.iter("address")
                        if a.get("addrtype") == "ipv4"), None)
        ports = [p for p in host.iter("port")
                 if (p.find("state") is not None and p.find("state").get("state") == "open")]  # type: ignore[union-attr]
        if address and ports:
            text = " ".join(" ".join(filter(None, (s.get("product"), s.get("extrainfo"),
                                                   s.get("devicetype"), s.get("ostype"))))
                            for p in ports for s in p.iter("service"))
            hosts[address] = text
    seen = correct = 0
    for device in lab.devices:
        if device.address not in hosts:
            continue
        seen += 1
        text = hosts[device.address].lower()
        named = [m for m in RESTRICTED if m.lower() in text]
        want = expected_platform(device.profile)
        correct += named == ([want] if want else [])
    return seen, correct


def part_lab(count: int, skip_nmap: bool, routed: bool, nmap_host_timeout: int
             ) -> dict[str, Any]:
    from tests.lab.netns import NetnsLab

    lab = NetnsLab(lab_profiles(count), routed=routed, prefix=PREFIX, subnet=SUBNET,
                   scanner_subnet=SCANNER_SUBNET)
    target = f"{SUBNET}.0/24"
    out: dict[str, Any] = {"mode": "routed" if routed else "segment", "devices": count,
                           "hostile": sum(p.hostile is not None for p in lab.profiles),
                           "target": target}
    lab.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "scan.json"
            argv = ["ip", "netns", "exec", lab.scanner, sys.executable, "-m", "entityscan",
                    "scan", target, "--format", "json", "--output", str(report),
                    "--timeout", "60"]
            os.chdir(ROOT)
            wall, code, rss = timed(argv)
            doc = json.loads(report.read_text())
            out["entityscan"] = {"command": " ".join(argv[4:]), "wall_s": round(wall, 2),
                                 "exit": code, "peak_rss_mb": rss,
                                 **score_entityscan(doc, lab)}
            out["signal_alone_identifies"] = signal_contributions(doc, lab)
            if not skip_nmap:
                nmap_xml = Path(tmp) / "nmap.xml"
                argv = ["ip", "netns", "exec", lab.scanner, "nmap", "-sV", "-p", CAMERA_PORTS,
                        "-oX", str(nmap_xml), target]
                if nmap_host_timeout:
                    # Tarpits (silent, dripping) hold nmap's service probes for many minutes
                    # per port; bounded, nmap drops such a host (its other hosts unaffected).
                    argv[6:6] = ["--host-timeout", f"{nmap_host_timeout}s"]
                wall, code, rss = timed(argv)
                found, correct = score_nmap(nmap_xml.read_text(), lab)
                out["nmap"] = {"command": " ".join(argv[4:]), "wall_s": round(wall, 2),
                               "exit": code, "found": found, "correct": correct,
                               "peak_rss_mb": rss}
                out["ratio_wall_entityscan_over_nmap"] = round(
                    out["entityscan"]["wall_s"] / out["nmap"]["wall_s"], 3)
    finally:
        lab.stop()
    return out


def part_sweep(rate: int) -> dict[str, Any]:
    """A /16 unicast sweep on loopback; three simulated devices in their own process."""
    devices = [("hikvision-ipc", "127.62.7.10"), ("dahua-ipc", "127.62.200.11"),
               ("plain-web", "127.62.255.12")]
    argv = [sys.executable, "-m", "entityscan.scanners.lab"]
    for name, address in devices:
        argv += ["--profile", name, "--address", address]
    lab = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert lab.stdout is not None
        for _ in devices:
            lab.stdout.readline()
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "sweep.json"
            scan = [sys.executable, "-m", "entityscan", "scan", "127.62.0.0/16", "--no-multicast",
                    "--ports", "http:8080,https:8443,rtsp:8554", "--rate", str(rate),
                    "--timeout", "300", "--format", "json", "--output", str(report)]
            wall, code, rss = timed(scan)
            doc = json.loads(report.read_text())
        found = sorted(a for d in doc["devices"] for a in d["addresses"])
        return {"command": " ".join(scan[2:]), "addresses": 65534, "wall_s": round(wall, 2),
                "exit": code, "peak_rss_mb": rss, "found": found,
                "platforms": sorted(str(d.get("platform")) for d in doc["devices"])}
    finally:
        lab.terminate()
        lab.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=60)
    parser.add_argument("--mode", choices=["segment", "routed", "both"], default="both")
    parser.add_argument("--nmap-host-timeout", type=int, default=120,
                        help="seconds nmap may spend on one host (0: unbounded; the lab's "
                             "tarpits then hold it for well over half an hour)")
    parser.add_argument("--skip-nmap", action="store_true")
    parser.add_argument("--skip-lab", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--rate", type=int, default=20000, help="rate for the /16 sweep")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average_before": LOAD_BEFORE}
    if not args.skip_lab:
        if os.geteuid() != 0 or not shutil.which("ip"):
            print("skipping the namespace lab: needs root and iproute2", file=sys.stderr)
        elif not args.skip_nmap and not shutil.which("nmap"):
            print("nmap not installed: use --skip-nmap", file=sys.stderr)
            return 2
        else:
            modes = ["segment", "routed"] if args.mode == "both" else [args.mode]
            results["lab"] = [part_lab(args.devices, args.skip_nmap, mode == "routed",
                                       args.nmap_host_timeout) for mode in modes]
    if not args.skip_sweep:
        results["sweep_16"] = part_sweep(args.rate)
    print(json.dumps(results, indent=2))
    print(f"load average before/after: {LOAD_BEFORE} / {os.getloadavg()}")
    for lab in results.get("lab", []):
        es = lab["entityscan"]
        print(f"\n{lab['mode']}: {lab['devices']} devices ({lab['hostile']} hostile) in "
              f"{lab['target']}, {es['listed']} Hikvision/Dahua platform")
        print(f"{'tool':<12}{'wall s':>9}{'found':>8}{'correct':>9}{'peak MB':>9}")
        for tool in ("entityscan", "nmap"):
            if tool in lab:
                r = lab[tool]
                print(f"{tool:<12}{r['wall_s']:>9}{r['found']:>8}{r['correct']:>9}"
                      f"{r['peak_rss_mb']:>9}")
        print(f"listed flagged {es['listed_flagged']}/{es['listed']}, attribution precision "
              f"{es['precision']}, recall {es['recall']}")
        print("listed devices each new signal alone attributes: "
              + ", ".join(f"{k} {v}" for k, v in lab["signal_alone_identifies"].items()))
        if "ratio_wall_entityscan_over_nmap" in lab:
            print(f"ratio entityscan/nmap wall time: {lab['ratio_wall_entityscan_over_nmap']}")
    if "sweep_16" in results:
        r = results["sweep_16"]
        print(f"/16 sweep: {r['wall_s']} s, peak {r['peak_rss_mb']} MB, found {r['found']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
