"""USB enumeration through pyusb and the libusb-1.0 backend.

Each device is read on its own: one that cannot be opened (permission), that has no strings, or
that disappears mid-scan costs only its own strings or its own record, never the scan.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from entityscan.scanners.usb.records import Interface, UsbRecord, printable

# Control transfers to a stalled device time out after this many milliseconds (pyusb's default
# is 1000 ms per request; three strings per device).
STRING_TIMEOUT_MS = 300

INSTALL_HINT = ("pyusb found no libusb backend: install the libusb-1.0 library "
                "(Debian/Ubuntu: `apt-get install libusb-1.0-0`; Fedora/RHEL: `dnf install "
                "libusb1`; macOS: `brew install libusb`)")
PERMISSION_HINT = ("no permission to open USB devices, so libusb cannot read their strings "
                   "(opening /dev/bus/usb/BBB/DDD needs read-write access): run as root, or add "
                   "a udev rule such as `SUBSYSTEM==\"usb\", MODE=\"0664\", GROUP=\"plugdev\"` "
                   "in /etc/udev/rules.d/ and add the user to that group")

_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM}
_GONE_ERRNOS = {errno.ENODEV, errno.ENOENT, errno.ESHUTDOWN}


@dataclass
class LibusbResult:
    """What libusb saw: records, whether libusb was there at all, and bus-wide problems."""

    available: bool
    records: list[UsbRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    permission_denied: bool = False


def default_backend() -> Any:
    """pyusb's libusb-1.0 backend, or None when the library is not installed."""
    import usb.backend.libusb1

    return usb.backend.libusb1.get_backend()


def enumerate_devices(host: str, backend: Any = None,
                      find_backend: Callable[[], Any] = default_backend) -> LibusbResult:
    """Read every device on this host's buses through `backend` (pyusb `IBackend`)."""
    import usb.core

    if backend is None:
        try:
            backend = find_backend()
        except Exception as exc:  # pyusb raises various errors when libusb is broken
            return LibusbResult(available=False, problems=[f"{INSTALL_HINT} ({exc})"])
    if backend is None:
        return LibusbResult(available=False, problems=[INSTALL_HINT])

    result = LibusbResult(available=True)
    try:
        handles = list(backend.enumerate_devices())
    except usb.core.USBError as exc:
        if _errno(exc) in _PERMISSION_ERRNOS:
            result.permission_denied = True
            result.problems.append(PERMISSION_HINT)
        else:
            result.problems.append(f"libusb could not list USB devices: {exc}")
        return result

    for handle in handles:
        try:
            device = usb.core.Device(handle, backend)
        except usb.core.USBError as exc:
            if _errno(exc) in _GONE_ERRNOS:
                result.problems.append("a USB device disappeared during the scan before its "
                                       f"descriptor was read ({exc.strerror or exc})")
            else:
                result.problems.append(f"a USB device's descriptor could not be read: {exc}")
            continue
        record, denied = _read_device(device, host)
        result.records.append(record)
        result.permission_denied |= denied
    if result.permission_denied:
        result.problems.append(PERMISSION_HINT)
    return result


def _read_device(device: Any, host: str) -> tuple[UsbRecord, bool]:
    import usb.core
    import usb.util

    notes: list[str] = []
    permission_denied = False
    vanished = False
    interfaces: list[Interface] = []
    try:
        for config in device:
            for interface in config:
                interfaces.append(Interface(interface.bInterfaceClass,
                                            interface.bInterfaceSubClass,
                                            interface.bInterfaceProtocol))
    except usb.core.USBError as exc:
        vanished = _errno(exc) in _GONE_ERRNOS
        notes.append(f"interface descriptors unreadable: {_describe(exc)}")

    port_path = None
    try:
        ports = device.port_numbers
        if device.bus is not None and ports:
            port_path = f"{device.bus}-" + ".".join(str(p) for p in ports)
    except (usb.core.USBError, NotImplementedError):
        pass

    strings: dict[str, str | None] = {"manufacturer": None, "product": None, "serial": None}
    indexes = {"manufacturer": device.iManufacturer, "product": device.iProduct,
               "serial": device.iSerialNumber}
    if any(indexes.values()):
        device.default_timeout = STRING_TIMEOUT_MS
        try:
            langids = usb.util.get_langids(device)
        except usb.core.USBError as exc:
            langids = ()
            permission_denied = _errno(exc) in _PERMISSION_ERRNOS
            vanished |= _errno(exc) in _GONE_ERRNOS
            notes.append(f"strings unreadable through libusb: {_describe(exc)}")
        except ValueError as exc:  # a malformed language table
            langids = ()
            notes.append(f"strings unreadable through libusb: {exc}")
        else:
            if not langids:
                notes.append("strings unreadable through libusb: the device reports no "
                             "string languages")
        for name, index in indexes.items():
            if not index or not langids:
                continue
            try:
                strings[name] = _clean(usb.util.get_string(device, index, langids[0]))
            except usb.core.USBError as exc:
                permission_denied |= _errno(exc) in _PERMISSION_ERRNOS
                notes.append(f"{name} string unreadable through libusb: {_describe(exc)}")
                if _errno(exc) in _GONE_ERRNOS:
                    vanished = True
                    break
                if _errno(exc) == errno.ETIMEDOUT:
                    break  # a stalled device: one timeout is enough, do not wait out the rest
            except (ValueError, UnicodeDecodeError) as exc:
                notes.append(f"{name} string unreadable through libusb: {exc}")
        with contextlib.suppress(usb.core.USBError):
            usb.util.dispose_resources(device)

    record = UsbRecord(
        vid=device.idVendor, pid=device.idProduct, host=host, source="libusb",
        bus=device.bus, device_number=device.address, port_path=port_path,
        device_class=device.bDeviceClass, device_subclass=device.bDeviceSubClass,
        device_protocol=device.bDeviceProtocol, interfaces=tuple(interfaces),
        manufacturer=strings["manufacturer"], product=strings["product"],
        serial=strings["serial"], bcd_device=_bcd(device.bcdDevice), notes=tuple(notes),
        vanished=vanished,
    )
    return record, permission_denied


def _errno(exc: Any) -> int | None:
    code = getattr(exc, "errno", None)
    backend_code = getattr(exc, "backend_error_code", None)
    # libusb's own codes: -3 LIBUSB_ERROR_ACCESS, -4 LIBUSB_ERROR_NO_DEVICE
    if code is None and backend_code == -3:
        return errno.EACCES
    if code is None and backend_code == -4:
        return errno.ENODEV
    return code


def _describe(exc: Any) -> str:
    code = _errno(exc)
    if code in _PERMISSION_ERRNOS:
        return "permission denied"
    if code in _GONE_ERRNOS:
        return "the device disappeared during the scan"
    return str(getattr(exc, "strerror", None) or exc)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    return printable(value.replace("\x00", ""))


def _bcd(value: int | None) -> str | None:
    if value is None:
        return None
    return f"{value >> 8:x}.{value & 0xFF:02x}"
