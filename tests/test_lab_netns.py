"""The namespace lab: real multicast discovery and real MACs (root + iproute2)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from entityscan.scanners.lab import load_profiles, replicate
from tests.lab.netns import NetnsLab, cleanup_stale, netns_lab, requires_netns  # noqa: F401

pytestmark = requires_netns
NORMAL = [p for p in load_profiles() if p.hostile is None]
DEVICE_COUNT = 60  # the scan benchmark needs >= 50 devices on one /24


@pytest.fixture(scope="module")
def lab(netns_lab) -> NetnsLab:  # noqa: F811  (the factory fixture imported above)
    return netns_lab(replicate(NORMAL, DEVICE_COUNT), mdns=True)


def probe(lab: NetnsLab, kind: str, *extra: str) -> list[dict]:
    result = lab.run_in_scanner([sys.executable, "-m", "tests.lab.mcast_probe", kind,
                                 "--source", lab.scanner_address, *extra], timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["replies"]


def addresses_where(lab: NetnsLab, predicate) -> set[str]:
    return {d.address for d in lab.devices if predicate(d.profile)}


def test_lab_has_enough_distinct_devices(lab: NetnsLab) -> None:
    assert len(lab.devices) == DEVICE_COUNT
    hik = lab.device("hikvision-ipc")
    assert hik.url() == f"http://{hik.address}:80/" and hik.expected.maker == "Hikvision"
    assert len({d.mac for d in lab.devices}) == DEVICE_COUNT
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert all(d.namespace in listed for d in lab.devices)


@pytest.mark.parametrize(("types", "accepts"), [
    ("dn:NetworkVideoTransmitter", lambda o: any(t.endswith("NetworkVideoTransmitter")
                                                 for t in o.types)),
    ("tds:Device", lambda o: "tds:Device" in o.types),
])
def test_multicast_ws_discovery_reaches_devices(lab: NetnsLab, types: str, accepts) -> None:
    replies = probe(lab, "wsd", "--types", types)
    expected = addresses_where(lab, lambda p: p.onvif is not None and accepts(p.onvif))
    assert expected and {r["from"] for r in replies} == expected
    assert len(replies) == len(expected)  # one answer each
    for reply in replies:  # XAddrs name the device's own address, standard port 80
        assert reply["id"] == f"http://{reply['from']}:80/onvif/device_service"


def test_multicast_sadp_answers_come_back_on_the_group(lab: NetnsLab) -> None:
    replies = probe(lab, "sadp")
    matches = [r for r in replies if r["id"]]
    expected = addresses_where(lab, lambda p: p.sadp is not None)
    assert expected and {r["from"] for r in matches} == expected
    assert all(r["to_group"] for r in matches)  # sent to 239.255.255.250:37020
    by_address = {d.address: d.profile.serial for d in lab.devices}
    assert all(r["id"] == by_address[r["from"]] for r in matches)


def test_multicast_dhip_search(lab: NetnsLab) -> None:
    replies = probe(lab, "dhip")
    expected = addresses_where(lab, lambda p: p.dhip is not None)
    assert expected and {r["from"] for r in replies} == expected
    counts = Counter(r["from"] for r in replies)
    assert set(counts.values()) == {1}
    by_address = {d.address: d.profile.serial for d in lab.devices}
    assert all(r["id"] == by_address[r["from"]] for r in replies)


def test_mdns_over_real_multicast(lab: NetnsLab) -> None:
    replies = probe(lab, "mdns", "--service", "_CGI._tcp.local.",
                    "--service", "_axis-video._tcp.local.", "--wait", "2")
    expected = addresses_where(lab, lambda p: p.mdns is not None)
    assert {r["from"] for r in replies} == expected
    serials = {d.address: d.profile.serial for d in lab.devices}
    for reply in replies:
        if "_CGI" in reply["id"]:
            assert reply["server"] == f"{serials[reply['from']]}.local."


def test_scanner_neighbour_table_holds_profile_macs(lab: NetnsLab) -> None:
    probe(lab, "touch", "--targets", *(d.address for d in lab.devices), "--wait", "0.5")
    table = lab.neighbours()
    assert {d.address: d.mac for d in lab.devices}.items() <= table.items()


def test_one_process_per_device_mode_and_teardown() -> None:
    """The `ip netns exec` per device layout, and that nothing is left behind."""
    profiles = load_profiles(["hikvision-ipc", "dahua-ipc"])
    lab = NetnsLab(profiles, one_process=False)
    try:
        lab.start()
        sadp = {r["from"] for r in probe(lab, "sadp") if r["id"]}
        dhip = {r["from"] for r in probe(lab, "dhip")}
        assert sadp == {lab.device("hikvision-ipc").address}
        assert dhip == {lab.device("dahua-ipc").address}
        namespaces = [lab.switch, lab.scanner, *(d.namespace for d in lab.devices)]
    finally:
        lab.stop()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in namespaces)
    assert cleanup_stale() == []
