"""Writes umockdev device descriptions (`*.umockdev`) for fake USB devices.

`fixtures/usb/umockdev/edge-host.umockdev` is this module's output (a test checks they agree);
regenerate with `python -m tests.usb_scanner.umockdev_devices`.  The format is what
`umockdev-record` writes: `P:` sysfs path, `N:` device node with its contents (the
descriptors libusb reads), `E:` udev properties, `A:` sysfs attributes (`\\n` is the
newline real sysfs files end with), `H:` binary attributes in hex.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EDGE_HOST = ROOT / "fixtures" / "usb" / "umockdev" / "edge-host.umockdev"
PCI = "/devices/pci0000:00/0000:00:14.0"


@dataclass(frozen=True)
class FakeDevice:
    name: str  # sysfs name: `usb1` (root hub), `1-1`, `1-4.1`
    vid: int
    pid: int
    devnum: int
    bcd_device: int
    device_class: tuple[int, int, int]
    interfaces: tuple[tuple[int, int, int], ...]
    manufacturer: str | None = None
    product: str | None = None
    serial: str | None = None
    bcd_usb: int = 0x0200
    speed: int = 480

    @property
    def busnum(self) -> int:
        return int(self.name.removeprefix("usb").split("-")[0])

    @property
    def sysfs_path(self) -> str:
        if self.name.startswith("usb"):
            return f"{PCI}/{self.name}"
        bus, ports = self.name.split("-")
        chain, parts = [f"usb{bus}"], ports.split(".")
        for depth in range(1, len(parts) + 1):
            chain.append(f"{bus}-{'.'.join(parts[:depth])}")
        return f"{PCI}/" + "/".join(chain)

    @property
    def interface_prefix(self) -> str:
        """Interfaces are `<device>:<config>.<n>`; a root hub's device part is `<bus>-0`."""
        return f"{self.busnum}-0" if self.name.startswith("usb") else self.name

    def descriptors(self) -> bytes:
        string_index = iter(range(1, 4))
        i_mfr = next(string_index) if self.manufacturer else 0
        i_prod = next(string_index) if self.product else 0
        i_ser = next(string_index) if self.serial else 0
        device = struct.pack("<BBHBBBBHHHBBBB", 18, 1, self.bcd_usb, *self.device_class, 64,
                             self.vid, self.pid, self.bcd_device, i_mfr, i_prod, i_ser, 1)
        body = b"".join(struct.pack("<BBBBBBBBB", 9, 4, number, 0, 0, *triple, 0)
                        for number, triple in enumerate(self.interfaces))
        config = struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), len(self.interfaces), 1, 0,
                             0x80, 250) + body
        return device + config

    def description(self) -> str:
        node = f"bus/usb/{self.busnum:03d}/{self.devnum:03d}"
        hexdump = self.descriptors().hex()
        lines = [
            f"P: {self.sysfs_path}",
            f"N: {node}={hexdump.upper()}",
            f"E: DEVNAME=/dev/{node}",
            "E: DEVTYPE=usb_device",
            "E: DRIVER=usb",
            f"E: PRODUCT={self.vid:x}/{self.pid:x}/{self.bcd_device:x}",
            "E: TYPE={}/{}/{}".format(*self.device_class),
            f"E: BUSNUM={self.busnum:03d}",
            f"E: DEVNUM={self.devnum:03d}",
            "E: MAJOR=189",
            f"E: MINOR={(self.busnum - 1) * 128 + self.devnum - 1}",
            "E: SUBSYSTEM=usb",
            f"A: idVendor={self.vid:04x}\\n",
            f"A: idProduct={self.pid:04x}\\n",
            f"A: bcdDevice={self.bcd_device:04x}\\n",
            f"A: bDeviceClass={self.device_class[0]:02x}\\n",
            f"A: bDeviceSubClass={self.device_class[1]:02x}\\n",
            f"A: bDeviceProtocol={self.device_class[2]:02x}\\n",
            f"A: bNumInterfaces={len(self.interfaces):2d}\\n",
            "A: bConfigurationValue=1\\n",
            "A: bMaxPacketSize0=64\\n",
            "A: bNumConfigurations=1\\n",
            "A: bmAttributes=80\\n",
            "A: configuration=\\n",
            f"A: maxchild={4 if self.device_class[0] == 9 else 0}\\n",
            "A: rx_lanes=1\\n",
            "A: tx_lanes=1\\n",
            f"A: version={self.bcd_usb >> 8:2d}.{self.bcd_usb & 0xFF:02x}\\n",
            f"A: busnum={self.busnum}\\n",
            f"A: devnum={self.devnum}\\n",
            f"A: speed={self.speed}\\n",
        ]
        for attribute in ("manufacturer", "product", "serial"):
            value = getattr(self, attribute)
            if value:
                lines.append(f"A: {attribute}={value}\\n")
        lines.append(f"H: descriptors={hexdump.upper()}")
        lines.append("")
        for number, (cls, sub, proto) in enumerate(self.interfaces):
            lines += [
                f"P: {self.sysfs_path}/{self.interface_prefix}:1.{number}",
                "E: DEVTYPE=usb_interface",
                "E: SUBSYSTEM=usb",
                f"A: bInterfaceClass={cls:02x}\\n",
                f"A: bInterfaceSubClass={sub:02x}\\n",
                f"A: bInterfaceProtocol={proto:02x}\\n",
                f"A: bInterfaceNumber={number:02x}\\n",
                "A: bAlternateSetting= 0\\n",
                "A: bNumEndpoints=00\\n",
                "",
            ]
        return "\n".join(lines)


# A kiosk PC: a Hikvision USB webcam (strings as the linux-media list 2021-02-28 shows them), a
# Huawei LTE stick in modem mode (strings as in kernel logs of 12d1:1506), and behind a hub a
# Logitech webcam (the negative control).
EDGE_DEVICES = (
    FakeDevice("usb1", 0x1D6B, 0x0002, 1, 0x0601, (9, 0, 1), ((9, 0, 0),),
               "Linux 6.1.0-13-amd64 xhci-hcd", "xHCI Host Controller", "0000:00:14.0"),
    FakeDevice("1-1", 0x2BDF, 0x0281, 7, 0x1100, (0xEF, 2, 1),
               ((0x0E, 1, 0), (0x0E, 2, 0), (1, 1, 0), (1, 2, 0)),
               "SN0002", "HIK 2K USB CAMERA", "SN0002"),
    FakeDevice("1-2", 0x12D1, 0x1506, 3, 0x0102, (0, 0, 0),
               ((0xFF, 2, 1), (0xFF, 2, 2), (8, 6, 0x50)),
               "HUAWEI_MOBILE", "HUAWEI_MOBILE"),
    FakeDevice("1-4", 0x05E3, 0x0610, 4, 0x9226, (9, 0, 2), ((9, 0, 1),),
               "GenesysLogic", "USB2.1 Hub"),
    FakeDevice("1-4.1", 0x046D, 0x085C, 5, 0x0016, (0xEF, 2, 1),
               ((0x0E, 1, 0), (0x0E, 2, 0), (1, 1, 0), (1, 2, 0)),
               None, "C922 Pro Stream Webcam", "A1B2C3D4"),
)


def render(devices: tuple[FakeDevice, ...] = EDGE_DEVICES) -> str:
    # umockdev's parser takes no comment lines: the provenance lives in this module.
    return "\n".join(device.description() for device in devices)


if __name__ == "__main__":
    EDGE_HOST.write_text(render(), encoding="utf-8")
    print(EDGE_HOST)
