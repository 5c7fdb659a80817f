"""USB devices as Linux sysfs shows them (`/sys/bus/usb/devices`).

sysfs is world-readable, so it gives the strings (`manufacturer`, `product`, `serial`) that
libusb cannot read without write access to the device node, and a whole view when libusb is
missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from entityscan.scanners.usb.records import Interface, UsbRecord, printable

DEFAULT_ROOT = Path("/sys/bus/usb/devices")
_MAX_ATTRIBUTE_BYTES = 4096  # sysfs attributes are one page at most


@dataclass
class SysfsResult:
    available: bool
    records: list[UsbRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_devices(host: str, root: Path = DEFAULT_ROOT) -> SysfsResult:
    """Every USB device under `root`; an unreadable entry is a problem, not a failure."""
    try:
        names = sorted(os.listdir(root))
    except OSError as exc:
        return SysfsResult(available=False,
                           problems=[f"{root}: USB sysfs view unavailable ({exc.strerror})"])
    result = SysfsResult(available=True)
    interfaces: dict[str, list[Interface]] = {}
    for name in names:
        if ":" in name:  # `1-1.4:1.0` is interface 0 of configuration 1 of device `1-1.4`
            entry = root / name
            cls = _hex(entry, "bInterfaceClass")
            if cls is not None:
                interfaces.setdefault(name.split(":", 1)[0], []).append(
                    Interface(cls, _hex(entry, "bInterfaceSubClass") or 0,
                              _hex(entry, "bInterfaceProtocol") or 0))
    for name in names:
        if ":" in name:
            continue
        entry = root / name
        vid, pid = _hex(entry, "idVendor"), _hex(entry, "idProduct")
        if vid is None or pid is None:
            if (entry / "idVendor").exists():
                result.problems.append(f"{entry}: idVendor/idProduct unreadable")
            continue
        result.records.append(UsbRecord(
            vid=vid, pid=pid, host=host, source="sysfs",
            bus=_int(entry, "busnum"), device_number=_int(entry, "devnum"),
            port_path=None if name.startswith("usb") else name,
            device_class=_hex(entry, "bDeviceClass"),
            device_subclass=_hex(entry, "bDeviceSubClass"),
            device_protocol=_hex(entry, "bDeviceProtocol"),
            interfaces=tuple(interfaces.get(name, ())),
            manufacturer=_text(entry, "manufacturer"), product=_text(entry, "product"),
            serial=_text(entry, "serial"), bcd_device=_bcd(_text(entry, "bcdDevice")),
        ))
    return result


def _text(entry: Path, attribute: str) -> str | None:
    try:
        with open(entry / attribute, "rb") as handle:
            raw = handle.read(_MAX_ATTRIBUTE_BYTES)
    except OSError:
        return None
    return printable(raw.decode("utf-8", errors="replace").replace("\x00", ""))


def _hex(entry: Path, attribute: str) -> int | None:
    value = _text(entry, attribute)
    try:
        return int(value, 16) if value else None
    except ValueError:
        return None


def _int(entry: Path, attribute: str) -> int | None:
    value = _text(entry, attribute)
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _bcd(value: str | None) -> str | None:
    """sysfs `bcdDevice` is four hex digits (`1100`); lsusb shows it as `11.00`."""
    if not value or len(value) != 4 or not all(c in "0123456789abcdefABCDEF" for c in value):
        return value
    return f"{int(value[:2], 16):x}.{value[2:].lower()}"
