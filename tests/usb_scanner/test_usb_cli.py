"""`entityscan usb --from-lsusb`: the fleet audit through the CLI, its contract and exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from entityscan.cli import main

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "fixtures" / "lsusb"
MALFORMED = FLEET / "malformed"


def run_json(tmp_path: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "scan.json"
    code = main(["usb", *args, "--format", "json", "--output", str(out)])
    return code, json.loads(out.read_text()) if out.exists() else {}


def test_fleet_json_contract_and_verdicts(tmp_path: Path) -> None:
    code, doc = run_json(tmp_path, "--from-lsusb", str(FLEET))
    assert code == 1, "flagged devices at the default --fail-on flagged"
    assert doc["schema"] == "entityscan.scan/1" and doc["kind"] == "usb"
    devices = {(d["host"], d["vid"], d["pid"]): d for d in doc["devices"]}
    hik = devices[("kiosk-lobby-01", "2bdf", "0281")]
    assert hik["verdict"] == "flagged" and hik["maker"] == "Hikvision"
    assert hik["device_class"] == "usb-camera"
    assert any(e["rule"] == "usb-vid-2bdf" for e in hik["evidence"])
    assert devices[("kiosk-7", "12d1", "1506")]["verdict"] == "flagged"
    assert devices[("lab-bench-2", "2bdf", "0001")]["maker"] == "Hikvision"
    for key in [("kiosk-7", "046d", "085c"), ("reception-pc", "2c7c", "0125"),
                ("site-office-pc", "046d", "0825"), ("reception-pc", "1bcf", "2284")]:
        assert devices[key]["verdict"] == "clear", key
    # VID-only Huawei/ZTE (no device strings in the listing) are never missed.
    huawei = devices[("gw-depot-3", "12d1", "14dc")]
    zte = devices[("site-office-pc", "19d2", "1405")]
    assert (huawei["maker"], huawei["verdict"]) == ("Huawei", "flagged")
    assert (zte["maker"], zte["verdict"]) == ("ZTE", "flagged")
    for device in doc["devices"]:
        assert len(device["vid"]) == 4 and device["vid"] == device["vid"].lower()
        assert len(device["pid"]) == 4 and device["host"]
    assert doc["summary"]["total"] == len(doc["devices"]) == 19
    assert doc["errors"] == []


def test_malformed_files_exit_2_but_the_other_hosts_are_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(tmp_path, "--from-lsusb", str(FLEET / "kiosk-lobby-01.txt"),
                         str(MALFORMED / "truncated-id.txt"), str(MALFORMED / "not-lsusb.txt"))
    assert code == 2
    assert [d["host"] for d in doc["devices"]] == ["kiosk-lobby-01"] * 4
    err = capsys.readouterr().err
    assert f"{MALFORMED / 'truncated-id.txt'}:3: malformed device line" in err
    assert f"{MALFORMED / 'not-lsusb.txt'}:1:" in err
    assert "2 of 3 files could not be read" in err
    assert len(doc["errors"]) == 2


def test_fail_on_review_and_clean_hosts(tmp_path: Path) -> None:
    assert run_json(tmp_path, "--from-lsusb", str(FLEET / "reception-pc.txt"))[0] == 0
    code, _ = run_json(tmp_path, "--from-lsusb", str(FLEET / "site-office-pc.lsusb"),
                       "--fail-on", "review")
    assert code == 1


def test_csv_output_has_host_vid_pid(tmp_path: Path) -> None:
    out = tmp_path / "fleet.csv"
    assert main(["usb", "--from-lsusb", str(FLEET / "kiosk-lobby-01.txt"), "--format", "csv",
                 "--output", str(out)]) == 1
    rows = list(csv.DictReader(out.open()))
    hik = next(r for r in rows if r["vid"] == "2bdf")
    assert (hik["host"], hik["pid"], hik["verdict"]) == ("kiosk-lobby-01", "0281", "flagged")


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usb", "--from-lsusb", str(FLEET / "kiosk-lobby-01.txt")]) == 1
    out = capsys.readouterr().out
    assert "entityscan usb — 4 devices" in out and "flagged 1 · review 0 · clear 3" in out


def test_table_survives_hostile_device_strings(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.txt"
    path.write_bytes(b"# host: evil\nBus 001 Device 002: ID 2bdf:0281 [/] [bold]HIK\x1b[2J\n")
    assert main(["usb", "--from-lsusb", str(path)]) == 1
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "flagged 1" in out


@pytest.mark.parametrize(("args", "fragment"), [
    (["usb", str(FLEET / "reception-pc.txt")], "need --from-lsusb"),
    (["usb", "--from-lsusb"], "needs at least one"),
    (["usb", "--from-lsusb", "/nonexistent/host.txt"], "no such file"),
    (["usb", "--from-lsusb", str(FLEET), "--format", "xml"],
     "'xml' is not one of 'table', 'json', 'csv', 'html', 'cyclonedx'"),
    (["usb", "--from-lsusb", str(FLEET), "--fail-on", "bogus"],
     "'bogus' is not one of 'flagged', 'review'"),
])
def test_usage_errors_exit_2(args: list[str], fragment: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert fragment in capsys.readouterr().err.replace("\n", " ")


def test_subprocess_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    proc = subprocess.run(
        [sys.executable, "-m", "entityscan", "usb", "--from-lsusb", str(FLEET / "lab-bench-2.txt"),
         "--format", "json", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    assert {d["vid"] for d in doc["devices"]} == {"2bdf", "046d"}
