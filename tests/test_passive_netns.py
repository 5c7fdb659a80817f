"""Passive identification measured on captures the namespace lab records of clients that are
not entityscan: a VMS-like poller (multicast discovery, ONVIF login with the site's
credentials, RTSP, HTTPS over TLS 1.2), `nmap -sV` with its HTTP/TLS/RTSP scripts, and the
devices' own mDNS announcements.  `entityscan passive` on that capture must flag at least 90 %
of the listed devices the capture shows talking and nothing else; `entityscan import` of
nmap's XML is measured beside what nmap's own service names reveal.

`python -m pytest tests/test_passive_netns.py -s` prints the figures.  nmap runs with
`--version-light` (about 75 s here: the simulated web servers keep connections open, so each
of nmap's unanswered service probes waits out its time); `ENTITYSCAN_TEST_NMAP_FULL=1` runs the
default `-sV` intensity instead (about 200 s), as the README's figures were measured.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from entityscan.scanners.lab import load_profiles
from entityscan.scanners.passive.capture import read_capture
from entityscan.scanners.passive.frames import dissect
from tests.lab.capture import CaptureLab, capture_skip_reason

ROOT = Path(__file__).resolve().parent.parent
LISTED = {"Hikvision", "Dahua"}
pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(capture_skip_reason() is not None,
                                 reason=capture_skip_reason() or "")]


def _entityscan(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entityscan", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("passive-lab")
    profiles = [p for p in load_profiles() if p.hostile is None]
    lab = CaptureLab(profiles, capture=folder / "lab.pcap", mdns=True)
    with lab:
        time.sleep(1.0)  # mDNS announcements of the devices that advertise
        config = {"devices": [{"address": d.address, "ports": d.ports,
                               "username": d.profile.credentials.username,
                               "password": d.profile.credentials.password}
                              for d in lab.devices]}
        poller = lab.run_in_scanner([sys.executable, "-m", "tests.lab.vms_poller",
                                     json.dumps(config)], timeout=180)
        assert poller.returncode == 0, poller.stderr[-2000:]
        nmap_xml = folder / "nmap.xml"
        if shutil.which("nmap"):
            light = [] if os.environ.get("ENTITYSCAN_TEST_NMAP_FULL") else ["--version-light"]
            nmap = lab.run_in_scanner(
                ["nmap", "-n", "-Pn", "-sV", *light, "-T4", "-p", "80,443,554,8000,37777",
                 "--script", "http-title,http-server-header,ssl-cert,rtsp-methods",
                 "-oX", str(nmap_xml), *(d.address for d in lab.devices)], timeout=600)
            assert nmap.returncode == 0, nmap.stderr[-2000:]
        lab.stop_capture()
        devices = {d.address: d for d in lab.devices}
    yield {"folder": folder, "capture": folder / "lab.pcap", "nmap": nmap_xml,
           "devices": devices, "poller": json.loads(poller.stdout)}


def _talking(capture: Path) -> set[str]:
    """Addresses the capture shows sending something (read independently of the scan)."""
    import ipaddress

    seen = set()
    with open(capture, "rb") as stream:
        for packet in read_capture(stream, name=str(capture)):
            frame = dissect(packet.linktype, packet.data)
            if frame is not None and len(frame.src) == 4:
                seen.add(str(ipaddress.ip_address(frame.src)))
    return seen


def _score(doc: dict, devices: dict, talking: set[str]) -> tuple[list[str], list[str], list]:
    flagged = {a for d in doc["devices"] if d["verdict"] == "flagged" for a in d["addresses"]}
    listed = sorted(a for a, d in devices.items() if d.expected.maker in LISTED and a in talking)
    hits = [a for a in listed if a in flagged]
    false = sorted(a for a in flagged
                   if a not in devices or devices[a].expected.maker not in LISTED)
    return listed, hits, false


def test_passive_flags_the_listed_devices_the_capture_shows(recorded: dict) -> None:
    out = recorded["folder"] / "passive.json"
    result = _entityscan("passive", str(recorded["capture"]), "-f", "json", "-o", str(out))
    assert result.returncode == 1, result.stderr[-2000:]
    doc = json.loads(out.read_text())
    talking = _talking(recorded["capture"])
    listed, hits, false = _score(doc, recorded["devices"], talking)
    missed = sorted(set(listed) - set(hits))
    print(f"\npassive: {len(hits)}/{len(listed)} listed devices flagged that the capture shows "
          f"talking ({100 * len(hits) / max(1, len(listed)):.0f} %), false flags: {false}, "
          f"missed: {[recorded['devices'][a].name for a in missed]}; "
          f"{doc['parameters']['packets']} packets, {len(doc['devices'])} devices")
    assert len(listed) >= 10
    assert len(hits) >= 0.9 * len(listed)
    assert false == []
    for device in doc["devices"]:
        assert device["discovered_by"] == ["passive"] and device["observed"]["protocols"]
        if device["addresses"] and device["addresses"][0] in recorded["devices"]:
            assert device["mac"] == recorded["devices"][device["addresses"][0]].mac


def test_nmap_xml_of_the_same_lab_imported(recorded: dict) -> None:
    if not recorded["nmap"].exists():
        pytest.skip("nmap is not installed")
    out = recorded["folder"] / "import.json"
    result = _entityscan("import", str(recorded["nmap"]), "-f", "json", "-o", str(out))
    assert result.returncode == 1, result.stderr[-2000:]
    doc = json.loads(out.read_text())
    devices = recorded["devices"]
    nmap_hosts = {a for a, d in devices.items() if d.expected.maker in LISTED}
    listed, hits, false = _score(doc, devices, nmap_hosts)
    named = set()
    for host in ET.parse(recorded["nmap"]).getroot().iter("host"):
        address = host.find("address").get("addr")  # type: ignore[union-attr]
        words = " ".join(f"{s.get('product', '')} {s.get('extrainfo', '')} "
                         f"{s.get('devicetype', '')} " + " ".join(c.text or "" for c in s)
                         for s in host.iter("service"))
        if address in nmap_hosts and re.search(r"hikvision|dahua", words, re.I):
            named.add(address)
    print(f"\nimport of nmap -sV XML: {len(hits)}/{len(listed)} listed devices attributed and "
          f"flagged; nmap's own service names name the maker of {len(named)}/{len(listed)}; "
          f"false flags: {false}")
    assert false == []
    assert len(hits) >= len(named)
    assert set(hits) >= named
