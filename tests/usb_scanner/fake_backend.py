"""A pyusb backend (`usb.backend.IBackend`) serving scripted devices, for edge cases real
hardware and umockdev cannot stage on demand: permission errors, unreadable strings, a device
that disappears mid-scan."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core

USB_DT_STRING = 3


def usb_error(code: int, text: str) -> usb.core.USBError:
    return usb.core.USBError(text, error_code=None, errno=code)


@dataclass
class ScriptedDevice:
    vid: int
    pid: int
    bus: int
    address: int
    ports: tuple[int, ...]
    device_class: tuple[int, int, int] = (0, 0, 0)
    interfaces: tuple[tuple[int, int, int], ...] = ()
    strings: dict[int, str] = field(default_factory=dict)  # index -> text (1 mfr, 2 prod, 3 ser)
    langids: tuple[int, ...] = (0x0409,)
    open_errno: int | None = None  # open_device fails (EACCES: no permission)
    string_errno: int | None = None  # every string request fails (EIO, EPIPE ...)
    text_errno: int | None = None  # the language table reads, the strings themselves fail
    gone_before_descriptor: bool = False  # unplugged between listing and descriptor read
    gone_after_descriptor: bool = False  # unplugged after its descriptor was read
    string_requests: int = 0


class ScriptedBackend(usb.backend.IBackend):
    """Serves `ScriptedDevice`s; counts opens so tests can check handles are released."""

    def __init__(self, devices: list[ScriptedDevice]) -> None:
        self.devices = devices
        self.open_handles = 0

    def enumerate_devices(self) -> Any:
        yield from self.devices

    def get_device_descriptor(self, dev: ScriptedDevice) -> Any:
        if dev.gone_before_descriptor:
            raise usb_error(errno.ENODEV, "No such device (it may have been disconnected)")
        indexes = [i if i in dev.strings else 0 for i in (1, 2, 3)]
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=dev.device_class[0],
            bDeviceSubClass=dev.device_class[1], bDeviceProtocol=dev.device_class[2],
            bMaxPacketSize0=64, idVendor=dev.vid, idProduct=dev.pid, bcdDevice=0x0102,
            iManufacturer=indexes[0], iProduct=indexes[1], iSerialNumber=indexes[2],
            bNumConfigurations=1, address=dev.address, bus=dev.bus,
            port_number=dev.ports[-1] if dev.ports else None, port_numbers=dev.ports,
            speed=3)

    def get_configuration_descriptor(self, dev: ScriptedDevice, config: int) -> Any:
        if dev.gone_after_descriptor:
            raise usb_error(errno.ENODEV, "No such device (it may have been disconnected)")
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=9 + 9 * len(
            dev.interfaces), bNumInterfaces=len(dev.interfaces), bConfigurationValue=1,
            iConfiguration=0, bmAttributes=0x80, bMaxPower=250, extra_descriptors=[])

    def get_interface_descriptor(self, dev: ScriptedDevice, intf: int, alt: int,
                                 config: int) -> Any:
        if alt > 0 or intf >= len(dev.interfaces):
            raise IndexError("no such alternate setting")
        cls, sub, proto = dev.interfaces[intf]
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=intf,
                               bAlternateSetting=0, bNumEndpoints=0, bInterfaceClass=cls,
                               bInterfaceSubClass=sub, bInterfaceProtocol=proto,
                               iInterface=0, extra_descriptors=[])

    def open_device(self, dev: ScriptedDevice) -> Any:
        if dev.gone_after_descriptor:
            raise usb_error(errno.ENODEV, "No such device (it may have been disconnected)")
        if dev.open_errno is not None:
            raise usb_error(dev.open_errno, "Access denied (insufficient permissions)")
        self.open_handles += 1
        return dev

    def close_device(self, dev_handle: Any) -> None:
        self.open_handles -= 1

    def ctrl_transfer(self, dev_handle: ScriptedDevice, bmRequestType: int, bRequest: int,
                      wValue: int, wIndex: int, data_or_wLength: Any, timeout: int) -> int:
        dev = dev_handle
        dev.string_requests += 1
        if dev.string_errno is not None:
            raise usb_error(dev.string_errno, "Input/Output Error")
        if (wValue >> 8) != USB_DT_STRING:
            raise usb_error(errno.EPIPE, "Pipe error")
        index = wValue & 0xFF
        if index and dev.text_errno is not None:
            raise usb_error(dev.text_errno, "Operation timed out")
        if index == 0:
            payload = b"".join(lang.to_bytes(2, "little") for lang in dev.langids)
        elif index in dev.strings:
            payload = dev.strings[index].encode("utf-16-le")
        else:
            raise usb_error(errno.EPIPE, "Pipe error")
        descriptor = bytes([2 + len(payload), USB_DT_STRING]) + payload
        size = min(len(descriptor), len(data_or_wLength))
        data_or_wLength[:size] = type(data_or_wLength)("B", descriptor[:size])
        return size
