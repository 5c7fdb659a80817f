"""The scanner in a network-namespace lab (root): real multicast, real MACs.

One namespace per simulated device on a bridge, one for the scanner (the shared harness in
`tests/lab/netns.py`, placed in this suite's own range: namespaces `es-scn-…`, subnet
10.240.0.0/24).  Checks multicast-only discovery (WS-Discovery, SADP, DHIP, mDNS), MACs from
the neighbour table with their OUI registrants, and the whole `entityscan scan` CLI run inside
the scanner namespace with hostile devices present."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from entityscan.scanners.lab import load_profiles
from tests.lab import netns

pytestmark = netns.requires_netns

PROFILES = ["hikvision-ipc", "dahua-ipc", "ezviz-cam", "lorex-ipc", "hilook-ipc", "axis-cam",
            "plain-web", "hostile-xml-bomb", "hostile-wsd-flood", "hostile-dhip-garbage",
            "hostile-silent", "hostile-drip", "hostile-huge"]
RESTRICTED = ("Hikvision", "Dahua")
DEADLINE = 30


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    # This suite's own namespace prefix and subnet, so it can run beside the lab's own tests.
    saved = (netns.PREFIX, netns.SUBNET)
    netns.PREFIX, netns.SUBNET = "es-scn-", "10.240.0"
    try:
        built = netns.NetnsLab(load_profiles(PROFILES), mdns=True)
        built.start()
    finally:
        netns.PREFIX, netns.SUBNET = saved
    try:
        yield built
    finally:
        built.stop()


def run_python(lab: Any, code: str, timeout: float = 60) -> Any:
    result = lab.run_in_scanner([sys.executable, "-c", code], timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


MULTICAST_ONLY = """
import json
from entityscan.scanners.scan import PortPlan, ScanOptions, scan
plan = PortPlan(http=(), https=(), rtsp=(), sdk=(), other=())
inventory = scan(["10.240.0.0/24"], ScanOptions(timeout=15, ports=plan, unicast_udp=False,
                                               discovery_wait=2.5))
print(json.dumps({"devices": [{"address": d.addresses[0], "by": d.model_extra["discovered_by"],
                               "platform": d.platform, "mac": d.mac} for d in inventory.devices],
                  "errors": [e.message for e in inventory.errors]}))
"""


def test_multicast_discovery_finds_devices_without_unicast(lab: Any) -> None:
    doc = run_python(lab, MULTICAST_ONLY)
    found = {d["address"]: d for d in doc["devices"]}
    hik, dahua, ezviz = (lab.device(n) for n in ("hikvision-ipc", "dahua-ipc", "ezviz-cam"))
    assert "sadp" in found[hik.address]["by"] and "wsd" in found[hik.address]["by"]
    assert "mdns" in found[hik.address]["by"], doc
    assert "dhip" in found[dahua.address]["by"]
    assert found[ezviz.address]["platform"] == "Hikvision"  # SADP answered to the group
    assert "wsd" in found[lab.device("axis-cam").address]["by"]
    assert not [e for e in doc["errors"] if "multicast" in e]


# Runs the CLI as its only child and reports that child's peak RSS (KiB) on stderr.
MEASURED = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "file=sys.stderr); sys.exit(code)")


def test_cli_in_scanner_namespace(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    report = tmp_path_factory.mktemp("netns") / "scan.json"
    started = time.monotonic()
    result = lab.run_in_scanner([sys.executable, "-c", MEASURED, sys.executable, "-m", "entityscan",
                                 "scan", "10.240.0.0/24", "--timeout", str(DEADLINE),
                                 "--format", "json", "--output", str(report)],
                                timeout=DEADLINE + 30)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-3000:]  # restricted devices are flagged
    assert elapsed < DEADLINE + 5  # the deadline plus interpreter start-up
    # Peak memory stays bounded although one device streams a 50 MB body.
    peak_mb = int(result.stderr.strip().splitlines()[-1].split()[-1]) / 1024
    assert peak_mb < 250, peak_mb
    doc = json.loads(report.read_text())
    found = {a: d for d in doc["devices"] for a in d["addresses"]}
    assert set(found) == {d.address for d in lab.devices}  # nothing missed, nothing invented
    for sim in lab.devices:
        device = found[sim.address]
        if sim.expected.readable is False:
            assert device["readable"] is False and device["platform"] is None, sim.name
            continue
        want = sim.expected.platform if sim.expected.platform in RESTRICTED else None
        have = device["platform"] if device["platform"] in RESTRICTED else None
        assert have == want, (sim.name, device["attribution_reasons"])
        assert device["readable"], (sim.name, device["errors"])
        # Real MACs from the neighbour table (or the device's own report) and their OUIs.
        assert device["mac"] == sim.mac, sim.name
        assert device["verdict"] == ("flagged" if want else "clear"), sim.name
    hik = found[lab.device("hikvision-ipc").address]
    assert any(e["probe"] == "oui" and e["indicates"] == "Hikvision" for e in hik["evidence"])
    axis = found[lab.device("axis-cam").address]
    assert any(e["probe"] == "oui" and "Axis" in e["value"] for e in axis["evidence"]), axis


def test_neighbour_table_holds_the_lab_macs(lab: Any) -> None:
    table: Callable[[], dict[str, str]] = lab.neighbours
    macs = table()
    assert macs.get(lab.device("axis-cam").address) == lab.device("axis-cam").mac
