"""Neighbour tables exported from routers and switches (`scan --neighbours FILE`): every
format's entries, file:line for malformed lines, the scan goes on, and the MAC reaches the
device (with its OUI evidence and where the MAC came from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.scanners.lab import load_profiles, run_lab_in_thread
from entityscan.scanners.neighbour_files import read_neighbour_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "neighbours"


def test_every_format_is_read() -> None:
    for name, expected in [
        ("ip-neigh.txt", {"10.241.0.10": "44:19:b6:6d:24:0a", "10.241.0.254": "02:11:22:33:44:fe",
                          "fe80::4619:b6ff:fe6d:240a": "44:19:b6:6d:24:0a",
                          "10.241.0.11": "e0:50:8b:3c:7a:11"}),
        ("cisco-show-ip-arp.txt", {"10.241.0.1": "00:11:22:33:44:55",
                                   "10.241.0.12": "24:48:45:21:6a:03",
                                   "10.241.0.13": "18:0d:2c:30:11:4c",
                                   "10.241.0.14": "4c:bd:8f:52:09:7e"}),
        ("juniper-show-arp.txt", {"10.241.0.14": "4c:bd:8f:52:09:7e",
                                  "10.241.0.15": "ac:cc:8e:4f:12:a0"}),
        ("windows-arp-a.txt", {"10.241.0.16": "40:3d:ec:11:22:33"}),  # broadcast/multicast out
    ]:
        tables = read_neighbour_files([FIXTURES / name])
        assert tables.macs == expected, name
        assert tables.errors == [], name


def test_switch_mac_table_locates_macs_learned_elsewhere() -> None:
    tables = read_neighbour_files([FIXTURES / "cisco-show-mac-address-table.txt"])
    assert tables.macs == {}
    assert tables.locations["24:48:45:21:6a:03"].startswith("Gi1/0/5 vlan 20 (")
    assert "0100.0ccc.cccc" not in str(tables.locations)  # a multicast MAC is no device


def test_malformed_lines_are_named_and_cost_only_their_entry() -> None:
    tables = read_neighbour_files([FIXTURES / "malformed-ip-neigh.txt",
                                   FIXTURES / "not-a-table.txt", FIXTURES / "absent.txt"])
    where = str(FIXTURES / "malformed-ip-neigh.txt")
    assert tables.macs == {"10.241.0.20": "44:19:b6:6d:24:0b", "10.241.0.22": "44:19:b6:6d:24:0e"}
    assert tables.errors[0] == f"{where}:2: '44:19:b6:zz:24:0c' is not a MAC address"
    assert tables.errors[1] == f"{where}:3: '10.241.0.300' is not an IP address"
    assert tables.errors[2].startswith(f"{FIXTURES / 'not-a-table.txt'}:1: not a neighbour table")
    assert tables.errors[3].startswith(f"{FIXTURES / 'absent.txt'}:1: cannot read it")


def test_scan_takes_macs_from_exported_tables(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Loopback devices have no neighbour entry: the exported table gives them their MAC."""
    profiles = load_profiles(["hiwatch-ipc", "intelbras-ipc"])
    with run_lab_in_thread(profiles, base="127.62.3.10") as lab:
        table = tmp_path / "core-arp.txt"
        table.write_text("Protocol  Address      Age (min)  Hardware Addr   Type   Interface\n" +
                         "".join(f"Internet  {d.address}   3   "
                                 f"{d.mac.replace(':', '')[:4]}.{d.mac.replace(':', '')[4:8]}."
                                 f"{d.mac.replace(':', '')[8:]}  ARPA   Vlan20\n"
                                 for d in lab.devices) +
                         "Internet  127.62.3.99   3   zzzz.zzzz.zzzz  ARPA   Vlan20\n")
        out = tmp_path / "scan.json"
        code = main(["scan", "127.62.3.10-11", "--no-multicast", "--ports",
                     "http:8080,rtsp:8554,sdk:8000,sdk:37777", "--neighbours", str(table),
                     "--format", "json", "--output", str(out), "--timeout", "20"])
        err = capsys.readouterr().err
        assert code == 1, err  # both are listed makers' devices: flagged, the bad line aside
        assert f"{table}:4: 'zzzz.zzzz.zzzz' is not a MAC address" in err
        doc = json.loads(out.read_text())
        by_address = {d["addresses"][0]: d for d in doc["devices"]}
        for device in lab.devices:
            found = by_address[device.address]
            assert found["mac"] == device.mac
            oui = [e for e in found["evidence"] if e["probe"] == "oui"]
            assert oui and oui[0]["value"] == device.profile.mac_registrant
            assert any(e["probe"] == "neighbours" and e["field"].endswith(":" + str(
                2 + lab.devices.index(device))) for e in found["evidence"])
        assert any(e["probe"] == "neighbours" and "zzzz" in e["message"]
                   for e in doc["errors"])
