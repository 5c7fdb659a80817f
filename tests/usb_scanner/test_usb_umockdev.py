"""End to end through real libusb: umockdev fakes an edge host's USB bus (a Hikvision webcam,
a Huawei LTE modem, a Logitech webcam behind a hub) that pyusb enumerates under `umockdev-run`;
the CLI screens it; real `lsusb` on the same fake bus agrees with the libusb view."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from entityscan.scanners.usb import parse_lsusb
from tests.usb_scanner.umockdev_devices import EDGE_HOST, render

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("umockdev-run") is None,
    reason="umockdev-run not installed (Debian/Ubuntu: apt-get install umockdev "
           "gir1.2-umockdev-1.0); .ci/run installs it")

def _libusb_missing() -> bool:
    import usb.backend.libusb1

    return usb.backend.libusb1.get_backend() is None


needs_libusb = pytest.mark.skipif(
    _libusb_missing(), reason="libusb-1.0 not installed (Debian/Ubuntu: apt-get install "
                              "libusb-1.0-0); .ci/run installs it")

DUMP_SCAN = """
import json
from entityscan.scanners.usb import scan_host
from entityscan.scanners.usb.libusb import enumerate_devices
raw = [r.__dict__ | {"interfaces": [list(vars(i).values()) for i in r.interfaces]}
       for r in enumerate_devices("kiosk-7").records]
print(json.dumps({
    "inventory": scan_host("kiosk-7").model_dump(mode="json"),
    "sysfs_only": scan_host("kiosk-7", find_backend=lambda: None).model_dump(mode="json"),
    "raw": raw}))
"""


def under_umockdev(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(["umockdev-run", "--device", str(EDGE_HOST), "--", *command],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def libusb_scan() -> dict[str, Any]:
    """One Python process under umockdev: raw libusb records, scan_host, and scan_host
    without libusb (umockdev's preload makes every process start slow: start few)."""
    proc = under_umockdev(sys.executable, "-c", DUMP_SCAN)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("usb-cli") / "scan.json"
    proc = under_umockdev(sys.executable, "-m", "entityscan", "usb", "--format", "json",
                          "--output", str(out))
    return proc.returncode, json.loads(out.read_text()), proc.stderr


def test_checked_in_description_is_the_generator_output() -> None:
    assert EDGE_HOST.read_text(encoding="utf-8") == render()


@needs_libusb
def test_pyusb_enumerates_the_fake_bus_through_libusb(libusb_scan: dict[str, Any]) -> None:
    raw = {(r["vid"], r["pid"]): r for r in libusb_scan["raw"]}
    assert set(raw) == {(0x1D6B, 0x0002), (0x2BDF, 0x0281), (0x12D1, 0x1506),
                        (0x05E3, 0x0610), (0x046D, 0x085C)}
    hik = raw[(0x2BDF, 0x0281)]
    assert (hik["bus"], hik["device_number"], hik["port_path"]) == (1, 7, "1-1")
    assert hik["interfaces"] == [[14, 1, 0], [14, 2, 0], [1, 1, 0], [1, 2, 0]]
    assert raw[(0x046D, 0x085C)]["port_path"] == "1-4.1", "a device behind a hub"
    # umockdev cannot answer string requests: libusb's strings are missing and say why.
    assert hik["product"] is None and any("strings unreadable" in n for n in hik["notes"])


@needs_libusb
def test_scan_host_fills_strings_from_sysfs_and_identifies(libusb_scan: dict[str, Any]) -> None:
    inventory = libusb_scan["inventory"]
    assert inventory["kind"] == "usb" and inventory["parameters"]["source"] == "libusb"
    devices = {d["vid"]: d for d in inventory["devices"]}
    assert set(devices) == {"2bdf", "12d1", "05e3", "046d"}, "root hub left out"
    hik = devices["2bdf"]
    assert (hik["pid"], hik["host"], hik["model"]) == ("0281", "kiosk-7", "HIK 2K USB CAMERA")
    assert (hik["maker"], hik["device_class"], hik["usb_source"]) == (
        "Hikvision", "usb-camera", "libusb+sysfs")
    assert "strings read from sysfs" in hik["errors"]
    huawei = devices["12d1"]
    assert (huawei["maker"], huawei["device_class"], huawei["model"]) == (
        "Huawei", "modem", "HUAWEI_MOBILE")
    logitech = devices["046d"]
    assert logitech["maker"] not in {"Hikvision", "Dahua", "Huawei", "ZTE"}
    assert (logitech["addresses"], logitech["usb_serial"]) == (["1-4.1"], "A1B2C3D4")


def test_sysfs_alone_gives_the_same_devices_without_libusb(libusb_scan: dict[str, Any]) -> None:
    inventory = libusb_scan["sysfs_only"]
    assert inventory["parameters"]["source"] == "sysfs"
    assert any("apt-get install libusb-1.0-0" in e["message"] for e in inventory["errors"])
    devices = {d["vid"]: d for d in inventory["devices"]}
    assert set(devices) == {"2bdf", "12d1", "05e3", "046d"}
    assert devices["2bdf"]["model"] == "HIK 2K USB CAMERA"
    assert devices["2bdf"]["device_class"] == "usb-camera"
    assert devices["046d"]["addresses"] == ["1-4.1"]


def test_cli_screens_this_host(cli_run: tuple[int, dict[str, Any], str]) -> None:
    code, doc, stderr = cli_run
    assert code == 1, stderr
    assert doc["schema"] == "entityscan.scan/1" and doc["kind"] == "usb"
    verdicts = {(d["vid"], d["pid"]): d["verdict"] for d in doc["devices"]}
    assert verdicts[("2bdf", "0281")] == "flagged"
    assert verdicts[("12d1", "1506")] == "flagged"
    assert verdicts[("046d", "085c")] == "clear"
    assert verdicts[("05e3", "0610")] == "clear"
    hik = next(d for d in doc["devices"] if d["vid"] == "2bdf")
    assert hik["maker"] == "Hikvision" and hik["host"]
    assert any(m["list"] for m in hik["matches"])


def test_real_lsusb_on_the_same_bus_agrees_with_libusb(libusb_scan: dict[str, Any]) -> None:
    if shutil.which("lsusb") is None:
        pytest.skip("lsusb not installed (Debian: apt-get install usbutils)")
    libusb_view = {(d["vid"], d["pid"]): d for d in libusb_scan["inventory"]["devices"]}
    for flags in ([], ["-v"]):
        proc = under_umockdev("lsusb", *flags)
        assert proc.returncode == 0, proc.stderr
        records = parse_lsusb(proc.stdout, f"lsusb {' '.join(flags)}", "kiosk-7").records
        lsusb_view = {(r.vid_hex, r.pid_hex): r for r in records if not r.is_root_hub}
        assert set(lsusb_view) == set(libusb_view)
        for key, record in lsusb_view.items():
            assert record.device_number == libusb_view[key]["device_number"]
            if flags:
                # lsusb -v names this hub from its own string, libusb from usb.ids.
                expected = ("USB2.1 Hub" if key == ("05e3", "0610")
                            else libusb_view[key]["model"])
                assert record.product == expected, key
