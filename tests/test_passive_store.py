"""A passive document and an active scan of the same devices meet in the store by MAC or
serial: `entityscan store import` of both yields their union, each device once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.scanners.lab import load_profiles, run_lab_in_thread
from entityscan.session import Session
from tests.lab.clients import dhip_frame
from tests.passive_frames import CaptureWriter, udp

BASE = "127.63.0.10"


def test_store_import_of_active_and_passive_yields_the_union(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profiles = load_profiles(["hikvision-ipc", "dahua-ipc"])
    active = tmp_path / "active.json"
    with run_lab_in_thread(profiles, base=BASE) as lab:
        ports = lab.port_plan
        targets = [d.address for d in lab.devices]
        code = main(["scan", *targets, "--no-multicast", "--timeout", "20", "--ports",
                     f"http:{ports.http},https:{ports.https},rtsp:{ports.rtsp},"
                     f"wsd:{ports.wsd},sadp:{ports.sadp},dhip:{ports.dhip}",
                     "-f", "json", "-o", str(active)])
        hik, dahua = lab.devices
    assert code == 1
    active_keys = {d["id"] for d in json.loads(active.read_text())["devices"]}
    assert active_keys == {f"mac:{hik.mac}", f"mac:{dahua.mac}"}

    # The same Hikvision camera seen passively at another address (DHCP moved it), and an
    # IMOU camera the active scan never reached.
    capture = tmp_path / "span.pcap"
    w = CaptureWriter(capture)
    sadp = (f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>1</Uuid>'
            f"<Types>inquiry</Types><DeviceDescription>{hik.profile.model}</DeviceDescription>"
            f"<DeviceSN>{hik.profile.serial}</DeviceSN><MAC>{hik.mac.replace(':', '-')}</MAC>"
            "</ProbeMatch>").encode()
    w.add(udp("10.248.5.20", "239.255.255.250", 37020, 37020, sadp, src_mac=hik.mac))
    imou_mac = "9c:14:63:00:00:99"
    body = json.dumps({"mac": imou_mac, "method": "client.notifyDevInfo", "params": {
        "deviceInfo": {"DeviceType": "IPC-F22", "SerialNo": "7B0123456789ABC",
                       "Vendor": "IMOU", "DeviceClass": "IPC"}}}).encode()
    w.add(udp("10.248.5.21", "10.248.5.2", 37810, 40000, dhip_frame(body), src_mac=imou_mac))
    w.close()
    passive = tmp_path / "passive.json"
    assert main(["passive", str(capture), "-f", "json", "-o", str(passive)]) == 1
    passive_keys = {d["id"] for d in json.loads(passive.read_text())["devices"]}
    assert passive_keys == {f"mac:{hik.mac}", f"mac:{imou_mac}"}

    db = f"sqlite:///{tmp_path / 'store.db'}"
    capsys.readouterr()
    assert main(["store", "import", str(active), str(passive), "--db", db,
                 "--format", "json"]) == 1
    reports = json.loads(capsys.readouterr().out)
    assert reports[1]["diff"]["summary"]["new"] == 1  # only the IMOU camera is new
    with Session.open(db=db) as session:
        stored = {row["key"]: row for row in session.store().inventory.devices(limit=100)}
    assert set(stored) == active_keys | passive_keys
    assert len(stored) == 3
    # one row for the shared camera; the capture's packets date from 2023, so the store keeps
    # the active scan's (newer) record and moves first_seen back to the capture's time
    shared = stored[f"mac:{hik.mac}"]
    assert shared["verdict"] == "flagged" and shared["record"]["addresses"] == [hik.address]
    assert shared["first_seen"].year == 2023
