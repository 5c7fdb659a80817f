"""`lsusb` / `lsusb -v` text from a fleet: host names, both formats, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from entityscan.scanners.usb import (
    Interface,
    LsusbFormatError,
    VendorNames,
    parse_lsusb,
    scan_lsusb_files,
)
from entityscan.scanners.usb.lsusb import read_file

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "fixtures" / "lsusb"
MALFORMED = FLEET / "malformed"
NAMES = VendorNames.load([ROOT / "fixtures" / "usb" / "usb.ids.sample"])


def test_plain_listing_with_host_line() -> None:
    parsed = read_file(FLEET / "kiosk-lobby-01.txt")
    assert (parsed.host, parsed.format) == ("kiosk-lobby-01", "lsusb")
    hik = next(r for r in parsed.records if r.vid == 0x2BDF)
    assert (hik.pid, hik.bus, hik.device_number, hik.line) == (0x0281, 1, 4, 3)
    assert hik.description == "SN0002 HIK 2K USB CAMERA"
    assert hik.address() == "bus001-dev004"
    assert len(parsed.records) == 6


def test_host_name_from_file_name_and_crlf_lines() -> None:
    parsed = read_file(FLEET / "site-office-pc.lsusb")
    assert parsed.host == "site-office-pc"
    assert parsed.records[0].description == "ZTE WCDMA Technologies MSM"
    assert [r.vid for r in parsed.records] == [0x19D2, 0x046D, 0x1D6B, 0x1D6B]


def test_verbose_listing_reads_classes_strings_and_interfaces() -> None:
    parsed = read_file(FLEET / "lab-bench-2.txt")
    assert (parsed.host, parsed.format) == ("lab-bench-2", "lsusb -v")
    camera = parsed.records[0]
    assert (camera.manufacturer, camera.product, camera.serial) == (
        "Hikrobot", "MV-CS016-10UC", "00F61728544")
    assert (camera.device_class, camera.device_subclass, camera.device_protocol) == (0xEF, 2, 1)
    assert camera.interfaces == (Interface(0xEF, 5, 0), Interface(0xEF, 5, 1),
                                 Interface(0xEF, 5, 2))
    assert camera.bcd_device == "1.00"
    receiver = parsed.records[2]
    assert receiver.product == "USB Receiver" and receiver.serial is None
    assert receiver.interfaces == (Interface(3, 1, 1),)


def test_verbose_listing_without_root_notes_missing_strings() -> None:
    parsed = read_file(FLEET / "gw-depot-3.txt")
    modem = parsed.records[0]
    assert modem.manufacturer is None and modem.product is None
    assert "manufacturer string (index 1) not shown by lsusb" in modem.notes
    assert Interface(0xE0, 1, 3) in modem.interfaces and Interface(8, 6, 80) in modem.interfaces


def test_error_strings_and_interface_association_are_handled() -> None:
    text = """Bus 001 Device 007: ID 2bdf:0281 SN0002 HIK 2K USB CAMERA
Device Descriptor:
  bDeviceClass          239 Miscellaneous Device
  idVendor           0x2bdf
  idProduct          0x0281
  iManufacturer           1 (error)
  iProduct                2 (error)
  iSerial                 3 (error)
  Configuration Descriptor:
    Interface Association:
      bFunctionClass         14 Video
    Interface Descriptor:
      bInterfaceClass        14 Video
Device Qualifier (for other device speed):
  bDeviceClass          239 Miscellaneous Device
"""
    (camera,) = parse_lsusb(text, "kiosk.txt", "kiosk").records
    assert camera.product is None and any("read error" in n for n in camera.notes)
    assert camera.interfaces == (Interface(14, 0, 0),)
    assert camera.device_class == 239


def test_umockdev_generated_listing_matches_the_plain_one() -> None:
    """kiosk-7.txt is real `lsusb -v` (usbutils 014) output on the umockdev edge host."""
    parsed = read_file(FLEET / "kiosk-7.txt")
    assert parsed.format == "lsusb -v"
    hik = next(r for r in parsed.records if r.vid == 0x2BDF)
    assert (hik.manufacturer, hik.product, hik.serial) == ("SN0002", "HIK 2K USB CAMERA",
                                                           "SN0002")


@pytest.mark.parametrize(("name", "line", "fragment"), [
    ("truncated-id.txt", 3, "malformed device line"),
    ("not-lsusb.txt", 1, "not `lsusb` or `lsusb -v` output"),
    ("mismatched-idvendor.txt", 11, "does not match the device line"),
    ("binary.txt", 3, "binary data"),
    ("empty-host.txt", 1, "without a host name"),
    ("empty.txt", None, "empty file"),
])
def test_malformed_files_name_file_and_line(name: str, line: int | None, fragment: str) -> None:
    with pytest.raises(LsusbFormatError) as caught:
        read_file(MALFORMED / name)
    error = caught.value
    assert (error.path, error.line) == (str(MALFORMED / name), line)
    where = f"{MALFORMED / name}:{line}:" if line else f"{MALFORMED / name}:"
    assert str(error).startswith(where) and fragment in str(error)


def test_other_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(LsusbFormatError, match="cannot read"):
        read_file(tmp_path / "missing.txt")
    with pytest.raises(LsusbFormatError, match="is a directory"):
        read_file(tmp_path)
    bad_class = tmp_path / "bad-class.txt"
    bad_class.write_text("Bus 001 Device 002: ID 046d:085c\nDevice Descriptor:\n"
                         "  bDeviceClass          999 Nonsense\n")
    with pytest.raises(LsusbFormatError, match=r"bad-class.txt:3: malformed bDeviceClass"):
        read_file(bad_class)
    tree = tmp_path / "tree.txt"
    tree.write_text("/:  Bus 01.Port 1: Dev 1, Class=root_hub, Driver=xhci_hcd/4p, 480M\n")
    with pytest.raises(LsusbFormatError, match=r"tree.txt:1: `lsusb -t` output is not supported"):
        read_file(tree)
    long_line = tmp_path / "long.txt"
    long_line.write_text("Bus 001 Device 002: ID 2bdf:0281 " + " " * 200_000 + "x\n")
    with pytest.raises(LsusbFormatError, match=r"long.txt:1: line longer than"):
        read_file(long_line)
    orphan = tmp_path / "orphan.txt"
    orphan.write_text("  idVendor           0x2bdf\n")
    with pytest.raises(LsusbFormatError, match=r"orphan.txt:1: descriptor line"):
        read_file(orphan)


def test_undecodable_device_strings_do_not_cost_the_host(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"Bus 001 Device 002: ID 2bdf:0281 Cam\xe9ra HIK\n")
    (record,) = read_file(path).records
    assert record.vid == 0x2BDF and "HIK" in (record.description or "")


def test_fleet_screens_good_hosts_and_reports_every_bad_file() -> None:
    inventory = scan_lsusb_files([FLEET, MALFORMED], names=NAMES)
    assert sorted(inventory.targets) == ["gw-depot-3", "kiosk-7", "kiosk-lobby-01",
                                         "lab-bench-2", "reception-pc", "site-office-pc"]
    unreadable = inventory.parameters["unreadable_files"]
    assert sorted(Path(p).name for p in unreadable) == sorted(p.name for p in MALFORMED.iterdir())
    assert all(e.probe == "lsusb" and e.message.startswith(e.target or "")
               for e in inventory.errors)
    makers = {(d.host, d.vid): d.maker for d in inventory.devices}
    assert makers[("kiosk-lobby-01", "2bdf")] == "Hikvision"
    assert makers[("lab-bench-2", "2bdf")] == "Hikvision"
    assert makers[("gw-depot-3", "12d1")] == "Huawei"
    assert makers[("site-office-pc", "19d2")] == "ZTE"
    assert makers[("reception-pc", "2c7c")] not in {"Hikvision", "Dahua", "Huawei", "ZTE"}
    assert not any(d.vid == "1d6b" for d in inventory.devices), "root hubs are left out"
    assert all(d.host and len(d.vid or "") == 4 and len(d.pid or "") == 4
               for d in inventory.devices)


def test_duplicate_host_names_are_kept_and_reported(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("# host: gw-1\nBus 001 Device 002: ID 12d1:1506\n")
    inventory = scan_lsusb_files([tmp_path], names=NAMES)
    assert len(inventory.devices) == 2 and inventory.parameters["unreadable_files"] == []
    assert any("also comes from" in e.message for e in inventory.errors)


def test_hostile_strings_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "evil.txt"
    path.write_bytes(b"\xef\xbb\xbf# host: evil\r\n"
                     b"Bus 001 Device 002: ID 2bdf:0281 [/] HIK\x1b[2J 2K\x07\r\n")
    parsed = read_file(path)
    assert parsed.host == "evil", "a UTF-8 byte order mark does not hide the host line"
    (record,) = parsed.records
    assert record.description == "[/] HIK\\x1b[2J 2K\\x07", "control characters made visible"


def test_stderr_lines_collected_with_the_listing_are_tolerated() -> None:
    text = """# collected by the nightly audit job
# host: gw-old-1
lsusb: cannot open "/var/lib/usbutils/usb.ids", No such file or directory
Bus 001 Device 003: ID 12d1:1506
libusb couldn't open USB device /dev/bus/usb/001/003: Permission denied.
libusb requires write access to USB device nodes.
Couldn't get configuration descriptor 0, some information will be missing
Device Descriptor:
  idVendor           0x12d1
  iManufacturer           1
"""
    parsed = parse_lsusb(text, "gw-old-1.txt", "fallback")
    assert parsed.host == "gw-old-1" and parsed.format == "lsusb -v"
    (modem,) = parsed.records
    assert modem.vid == 0x12D1 and modem.notes
