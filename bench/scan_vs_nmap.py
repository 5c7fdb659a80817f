"""Whole-process benchmark: `entityscan scan` against `nmap -sV` on the same simulated lab.

Part 1 (root, iproute2, nmap): a network-namespace lab of N simulated devices (default 54,
the non-hostile profiles replicated with distinct MACs and serials), one namespace per device
on a bridge, over 10.240.0.0/24 (every other address dead), and one scanner namespace.  Both
tools run as whole processes in the scanner namespace on the camera ports; the script reports
wall time, devices found and devices correctly attributed for each, and the ratio.

Part 2 (no root): a /16 unicast sweep (127.40.0.0/16 on loopback, a few simulated devices
in a separate process) timed as a whole process with its peak resident memory.

    python bench/scan_vs_nmap.py [--devices 54] [--skip-nmap] [--skip-sweep] [--json OUT]

Correct attribution: a Hikvision- or Dahua-platform device attributed to that platform, any
other device to neither.  For nmap, the platform is read from its service product/info/
device strings (the same test: `Hikvision`/`Dahua` named for exactly the right devices).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # nmap's own output, not a device's
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from entityscan.scanners.lab import load_profiles  # noqa: E402

PREFIX = "es-scn-b"
SWITCH = f"{PREFIX}sw"
SCANNER = f"{PREFIX}scan"
SUBNET = "10.240.0"
SCANNER_ADDRESS = f"{SUBNET}.2"
FIRST_DEVICE = 10
CAMERA_PORTS = "80,443,554,8000,8080,8443,8554,37777"
RESTRICTED = ("Hikvision", "Dahua")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


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


class NetnsLab:
    """Bridge namespace, one namespace per device (its own MAC and process), one scanner."""

    def __init__(self, count: int):
        base = [p for p in load_profiles() if p.hostile is None]
        self.devices: list[dict[str, Any]] = []
        for index in range(count):
            profile = base[index % len(base)].variant(index // len(base))
            self.devices.append({
                "ns": f"{PREFIX}d{index}", "veth": f"pb{index}", "profile": profile.base_name,
                "variant": index // len(base), "mac": profile.mac,
                "address": f"{SUBNET}.{FIRST_DEVICE + index}",
                "expected": profile.expected.platform or profile.expected.maker})
        self.procs: list[subprocess.Popen[bytes]] = []

    def namespaces(self) -> list[str]:
        return [SWITCH, SCANNER] + [d["ns"] for d in self.devices]

    def teardown(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for name in self.namespaces():
            sh("ip", "netns", "del", name, check=False)

    def build(self) -> None:
        self.teardown()
        sh("ip", "netns", "add", SWITCH)
        sh("ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", SWITCH, "link", "set", "br0", "up")
        members = [(SCANNER, "pscan", None, SCANNER_ADDRESS)] + [
            (d["ns"], d["veth"], d["mac"], d["address"]) for d in self.devices]
        for ns, veth, mac, address in members:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", veth,
               "netns", SWITCH)
            sh("ip", "-n", SWITCH, "link", "set", veth, "master", "br0", "up")
            if mac:
                sh("ip", "-n", ns, "link", "set", "dev", "eth0", "address", mac)
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", "eth0", "up", "multicast", "on")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = sh("ip", "-n", SCANNER, "-br", "link", "show", "eth0").stdout
            if " UP " in state:
                break
            time.sleep(0.1)
        for device in self.devices:
            self.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", device["ns"], sys.executable, "-m",
                 "entityscan.scanners.lab",
                 "--profile", device["profile"], "--variant", str(device["variant"]),
                 "--address", device["address"], "--ports", "standard", "--multicast"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        for proc, device in zip(self.procs, self.devices, strict=True):
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            if not line.startswith("READY"):
                raise RuntimeError(f"device {device['profile']} did not start: {line!r}")

    @contextlib.contextmanager
    def running(self) -> Iterator[NetnsLab]:
        try:
            self.build()
            yield self
        finally:
            self.teardown()


def score_entityscan(doc: dict[str, Any], lab: NetnsLab) -> tuple[int, int]:
    found = {a: d for d in doc["devices"] for a in d["addresses"]}
    seen = correct = 0
    for device in lab.devices:
        got = found.get(device["address"])
        if got is None:
            continue
        seen += 1
        have = got.get("platform") if got.get("platform") in RESTRICTED else None
        want = device["expected"] if device["expected"] in RESTRICTED else None
        correct += have == want
    return seen, correct


def score_nmap(xml_text: str, lab: NetnsLab) -> tuple[int, int]:
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
        if device["address"] not in hosts:
            continue
        seen += 1
        text = hosts[device["address"]].lower()
        named = [m for m in RESTRICTED if m.lower() in text]
        want = device["expected"] if device["expected"] in RESTRICTED else None
        correct += named == ([want] if want else [])
    return seen, correct


def part_lab(count: int, skip_nmap: bool) -> dict[str, Any]:
    lab = NetnsLab(count)
    target = f"{SUBNET}.0/24"
    out: dict[str, Any] = {"devices": count, "target": target}
    with lab.running(), tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "scan.json"
        argv = ["ip", "netns", "exec", SCANNER, sys.executable, "-m", "entityscan", "scan", target,
                "--format", "json", "--output", str(report), "--timeout", "60"]
        os.chdir(ROOT)
        wall, code, rss = timed(argv)
        doc = json.loads(report.read_text())
        found, correct = score_entityscan(doc, lab)
        out["entityscan"] = {"command": " ".join(argv[4:]), "wall_s": round(wall, 2),
                             "exit": code, "found": found, "correct": correct,
                             "peak_rss_mb": rss}
        if not skip_nmap:
            nmap_xml = Path(tmp) / "nmap.xml"
            argv = ["ip", "netns", "exec", SCANNER, "nmap", "-sV", "-p", CAMERA_PORTS,
                    "-oX", str(nmap_xml), target]
            wall, code, rss = timed(argv)
            found, correct = score_nmap(nmap_xml.read_text(), lab)
            out["nmap"] = {"command": " ".join(argv[4:]), "wall_s": round(wall, 2),
                           "exit": code, "found": found, "correct": correct,
                           "peak_rss_mb": rss}
            out["ratio_wall_entityscan_over_nmap"] = round(
                out["entityscan"]["wall_s"] / out["nmap"]["wall_s"], 3)
        restricted = sum(d["expected"] in RESTRICTED for d in lab.devices)
        out["restricted_platform_devices"] = restricted
    return out


def part_sweep(rate: int) -> dict[str, Any]:
    """A /16 unicast sweep on loopback; three simulated devices in their own process."""
    devices = [("hikvision-ipc", "127.40.7.10"), ("dahua-ipc", "127.40.200.11"),
               ("plain-web", "127.40.255.12")]
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
            scan = [sys.executable, "-m", "entityscan", "scan", "127.40.0.0/16", "--no-multicast",
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
    parser.add_argument("--devices", type=int, default=54)
    parser.add_argument("--skip-nmap", action="store_true")
    parser.add_argument("--skip-lab", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--rate", type=int, default=20000, help="rate for the /16 sweep")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if not args.skip_lab:
        if os.geteuid() != 0 or not shutil.which("ip"):
            print("skipping the namespace lab: needs root and iproute2", file=sys.stderr)
        elif not args.skip_nmap and not shutil.which("nmap"):
            print("nmap not installed: use --skip-nmap", file=sys.stderr)
            return 2
        else:
            results["lab"] = part_lab(args.devices, args.skip_nmap)
    if not args.skip_sweep:
        results["sweep_16"] = part_sweep(args.rate)
    print(json.dumps(results, indent=2))
    if "lab" in results and "nmap" in results["lab"]:
        lab = results["lab"]
        print(f"\n{lab['devices']} devices in {lab['target']} "
              f"({lab['restricted_platform_devices']} Hikvision/Dahua platform)")
        print(f"{'tool':<12}{'wall s':>9}{'found':>8}{'correct':>9}{'peak MB':>9}")
        for tool in ("entityscan", "nmap"):
            r = lab[tool]
            print(f"{tool:<12}{r['wall_s']:>9}{r['found']:>8}{r['correct']:>9}"
                  f"{r['peak_rss_mb']:>9}")
        print(f"ratio entityscan/nmap wall time: {lab['ratio_wall_entityscan_over_nmap']}")
    if "sweep_16" in results:
        r = results["sweep_16"]
        print(f"/16 sweep: {r['wall_s']} s, peak {r['peak_rss_mb']} MB, found {r['found']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
