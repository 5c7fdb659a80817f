"""Edge cases of the libusb path through a scripted pyusb backend (`usb.backend.IBackend`):
permission errors, unreadable strings, devices that disappear mid-scan, libusb missing."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from entityscan.scanners.usb import UsbError, VendorNames, scan_host
from entityscan.scanners.usb.libusb import INSTALL_HINT, PERMISSION_HINT, enumerate_devices
from tests.usb_scanner.fake_backend import ScriptedBackend, ScriptedDevice, usb_error

NO_SYSFS = Path("/nonexistent/sys/bus/usb/devices")


def hik_camera(**kwargs: object) -> ScriptedDevice:
    return ScriptedDevice(0x2BDF, 0x0281, 1, 7, (1,), (0xEF, 2, 1),
                          ((0x0E, 1, 0), (0x0E, 2, 0), (1, 1, 0)),
                          {1: "SN0002", 2: "HIK 2K USB CAMERA", 3: "SN0002"}, **kwargs)


def huawei_modem(**kwargs: object) -> ScriptedDevice:
    return ScriptedDevice(0x12D1, 0x1506, 1, 3, (4, 2), (0, 0, 0),
                          ((0xFF, 2, 1), (0xFF, 2, 2), (8, 6, 0x50)),
                          {1: "HUAWEI_MOBILE", 2: "HUAWEI_MOBILE"}, **kwargs)


def logitech_webcam(**kwargs: object) -> ScriptedDevice:
    return ScriptedDevice(0x046D, 0x085C, 2, 5, (3,), (0xEF, 2, 1),
                          ((0x0E, 1, 0), (0x0E, 2, 0)),
                          {2: "C922 Pro Stream Webcam", 3: "A1B2C3D4"}, **kwargs)


def write_sysfs(root: Path, name: str, **attributes: str) -> None:
    """A device directory as Linux sysfs shows it (values end with a newline)."""
    entry = root / name
    entry.mkdir(parents=True)
    for key, value in attributes.items():
        (entry / key).write_text(value + "\n")


def test_readable_devices_give_strings_classes_and_port_paths() -> None:
    backend = ScriptedBackend([hik_camera(), huawei_modem(), logitech_webcam()])
    inventory = scan_host("kiosk-1", backend=backend, sysfs_root=NO_SYSFS)
    by_vid = {d.vid: d for d in inventory.devices}
    assert set(by_vid) == {"2bdf", "12d1", "046d"}
    hik = by_vid["2bdf"]
    assert (hik.pid, hik.host, hik.addresses) == ("0281", "kiosk-1", ["1-1"])
    assert hik.model == "HIK 2K USB CAMERA" and hik.device_class == "usb-camera"
    assert hik.maker == "Hikvision" and hik.errors == []
    assert by_vid["12d1"].addresses == ["1-4.2"] and by_vid["12d1"].device_class == "modem"
    assert by_vid["12d1"].maker == "Huawei"
    assert by_vid["046d"].maker != "Hikvision" and by_vid["046d"].device_class == "usb-camera"
    assert inventory.errors == []
    assert backend.open_handles == 0, "every opened device handle is released"


def test_permission_denied_says_how_to_fix_and_sysfs_fills_the_strings(tmp_path: Path) -> None:
    write_sysfs(tmp_path, "1-1", idVendor="2bdf", idProduct="0281", busnum="1", devnum="7",
                manufacturer="SN0002", product="HIK 2K USB CAMERA", serial="SN0002")
    backend = ScriptedBackend([hik_camera(open_errno=errno.EACCES),
                               huawei_modem(open_errno=errno.EACCES)])
    inventory = scan_host("kiosk-2", backend=backend, sysfs_root=tmp_path,
                          names=VendorNames.empty())
    messages = [e.message for e in inventory.errors]
    assert PERMISSION_HINT in messages and "run as root" in PERMISSION_HINT
    assert "udev rule" in PERMISSION_HINT
    hik = next(d for d in inventory.devices if d.vid == "2bdf")
    assert hik.model == "HIK 2K USB CAMERA", "strings come from sysfs when libusb is denied"
    assert "strings read from sysfs" in hik.errors
    assert any("permission denied" in note for note in hik.errors)
    huawei = next(d for d in inventory.devices if d.vid == "12d1")
    assert huawei.model is None and huawei.maker == "Huawei", "the VID still identifies it"


def test_unreadable_strings_cost_only_the_strings() -> None:
    backend = ScriptedBackend([hik_camera(string_errno=errno.EIO), logitech_webcam(langids=())])
    result = enumerate_devices("h", backend=backend)
    hik, logi = result.records
    assert (hik.manufacturer, hik.product, hik.serial) == (None, None, None)
    assert hik.notes == ("strings unreadable through libusb: Input/Output Error",)
    assert hik.interfaces and hik.vid == 0x2BDF
    assert logi.product is None
    assert "reports no string languages" in logi.notes[0]
    assert not result.permission_denied
    assert backend.devices[0].string_requests == 1, "no retry storm after a failed request"


def test_device_unplugged_before_its_descriptor_is_reported_and_others_kept() -> None:
    backend = ScriptedBackend([hik_camera(), logitech_webcam(gone_before_descriptor=True),
                               huawei_modem()])
    inventory = scan_host("kiosk-3", backend=backend, sysfs_root=NO_SYSFS)
    assert [d.vid for d in inventory.devices] == ["2bdf", "12d1"]
    assert any("disappeared during the scan" in e.message for e in inventory.errors)


def test_device_unplugged_after_its_descriptor_is_kept_as_unreadable() -> None:
    backend = ScriptedBackend([hik_camera(gone_after_descriptor=True), huawei_modem()])
    inventory = scan_host("kiosk-4", backend=backend, sysfs_root=NO_SYSFS)
    hik = next(d for d in inventory.devices if d.vid == "2bdf")
    assert hik.readable is False
    assert any("disappeared during the scan" in note for note in hik.errors)
    assert hik.maker == "Hikvision", "the descriptor read before it vanished still counts"
    assert next(d for d in inventory.devices if d.vid == "12d1").readable is True


def test_listing_denied_entirely_reports_permission() -> None:
    class DeniedBackend(ScriptedBackend):
        def enumerate_devices(self):  # type: ignore[override]
            raise usb_error(errno.EACCES, "Access denied")

    result = enumerate_devices("h", backend=DeniedBackend([]))
    assert result.permission_denied and result.problems == [PERMISSION_HINT]


def test_without_libusb_the_sysfs_view_is_shown_with_the_install_hint(tmp_path: Path) -> None:
    write_sysfs(tmp_path, "usb1", idVendor="1d6b", idProduct="0002", busnum="1", devnum="1",
                bDeviceClass="09")
    write_sysfs(tmp_path, "1-2", idVendor="12d1", idProduct="1506", busnum="1", devnum="3",
                bDeviceClass="00", manufacturer="HUAWEI_MOBILE", product="HUAWEI_MOBILE")
    write_sysfs(tmp_path, "1-2:1.0", bInterfaceClass="ff", bInterfaceSubClass="02",
                bInterfaceProtocol="01")
    inventory = scan_host("gw-1", find_backend=lambda: None, sysfs_root=tmp_path)
    messages = [e.message for e in inventory.errors]
    assert INSTALL_HINT in messages and "apt-get install libusb-1.0-0" in INSTALL_HINT
    assert any("sysfs view" in m for m in messages)
    assert inventory.parameters["source"] == "sysfs"
    (modem,) = inventory.devices  # the root hub is the host controller, left out
    assert (modem.vid, modem.pid, modem.addresses) == ("12d1", "1506", ["1-2"])
    assert modem.model == "HUAWEI_MOBILE" and modem.device_class == "modem"


def test_broken_libusb_counts_as_missing(tmp_path: Path) -> None:
    def broken() -> None:
        raise OSError("libusb-1.0.so.0: cannot open shared object file")

    write_sysfs(tmp_path, "1-1", idVendor="046d", idProduct="085c", busnum="1", devnum="2")
    inventory = scan_host("h", find_backend=broken, sysfs_root=tmp_path)
    assert any(INSTALL_HINT in e.message and "cannot open shared object" in e.message
               for e in inventory.errors)
    assert [d.vid for d in inventory.devices] == ["046d"]


def test_no_libusb_and_no_sysfs_is_an_error_naming_both() -> None:
    with pytest.raises(UsbError) as caught:
        scan_host("h", find_backend=lambda: None, sysfs_root=NO_SYSFS)
    assert "libusb-1.0-0" in str(caught.value) and str(NO_SYSFS) in str(caught.value)


def test_root_hubs_only_on_request() -> None:
    root_hub = ScriptedDevice(0x1D6B, 0x0002, 1, 1, (), (9, 0, 1), ((9, 0, 0),))
    backend = ScriptedBackend([root_hub, hik_camera()])
    assert [d.vid for d in scan_host("h", backend=backend, sysfs_root=NO_SYSFS).devices] == [
        "2bdf"]
    with_hubs = scan_host("h", backend=backend, sysfs_root=NO_SYSFS, include_root_hubs=True)
    assert [d.vid for d in with_hubs.devices] == ["1d6b", "2bdf"]
    assert with_hubs.devices[0].device_class == "usb-hub"


def test_devices_only_sysfs_lists_are_kept(tmp_path: Path) -> None:
    """libusb without access to /dev/bus/usb (a container) lists nothing; sysfs still does."""
    write_sysfs(tmp_path, "1-3", idVendor="19d2", idProduct="1405", busnum="1", devnum="9",
                manufacturer="ZTE,Incorporated", product="ZTE WCDMA Technologies MSM")
    inventory = scan_host("h", backend=ScriptedBackend([hik_camera()]), sysfs_root=tmp_path)
    zte = next(d for d in inventory.devices if d.vid == "19d2")
    assert zte.maker == "ZTE" and "listed by sysfs only, not by libusb" in zte.errors
    assert {d.vid for d in inventory.devices} == {"2bdf", "19d2"}


def test_a_stalled_device_costs_one_timeout_not_one_per_string() -> None:
    backend = ScriptedBackend([hik_camera(text_errno=errno.ETIMEDOUT), huawei_modem()])
    hik, huawei = enumerate_devices("h", backend=backend).records
    assert backend.devices[0].string_requests == 2, "language table, then one timed-out string"
    assert hik.manufacturer is None and any("timed out" in n for n in hik.notes)
    assert huawei.manufacturer == "HUAWEI_MOBILE", "the next device is read normally"
