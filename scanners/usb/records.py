"""The raw USB record every source (libusb, sysfs, lsusb text) produces before identification."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: str | None) -> str | None:
    """A device string made safe to show: control characters (terminal escapes, NULs) become
    visible `\\xNN` text; surrounding whitespace goes; empty becomes None."""
    if value is None:
        return None
    value = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value.strip())
    return value or None


@dataclass(frozen=True)
class Interface:
    """One interface's class triple (class, subclass, protocol)."""

    cls: int
    subclass: int = 0
    protocol: int = 0


@dataclass(frozen=True)
class UsbRecord:
    """What one source saw of one USB device; `None` means "not seen", never "empty"."""

    vid: int
    pid: int
    host: str
    source: str = field(default="libusb", metadata={"doc": "libusb | sysfs | lsusb | lsusb -v"})
    bus: int | None = None
    device_number: int | None = None
    port_path: str | None = field(default=None, metadata={"doc": "sysfs style, e.g. `1-1.4`"})
    device_class: int | None = None
    device_subclass: int | None = None
    device_protocol: int | None = None
    interfaces: tuple[Interface, ...] = ()
    manufacturer: str | None = None
    product: str | None = None
    serial: str | None = None
    description: str | None = field(
        default=None, metadata={"doc": "the names lsusb printed after `ID vvvv:pppp`"})
    bcd_device: str | None = None
    notes: tuple[str, ...] = field(default=(), metadata={"doc": "what could not be read, and why"})
    vanished: bool = field(default=False, metadata={"doc": "unplugged while being read"})
    line: int | None = field(default=None, metadata={"doc": "first line in an lsusb file"})

    @property
    def vid_hex(self) -> str:
        return f"{self.vid:04x}"

    @property
    def pid_hex(self) -> str:
        return f"{self.pid:04x}"

    @property
    def is_root_hub(self) -> bool:
        """Linux root hubs (Linux Foundation 1d6b:0001..0004): the host controller, not a device."""
        return self.vid == 0x1D6B and self.pid in (1, 2, 3, 4)

    def address(self) -> str:
        """The port path when known (stable across replugs), else bus and device number."""
        if self.port_path:
            return self.port_path
        if self.bus is not None and self.device_number is not None:
            return f"bus{self.bus:03d}-dev{self.device_number:03d}"
        return f"{self.vid_hex}:{self.pid_hex}"
