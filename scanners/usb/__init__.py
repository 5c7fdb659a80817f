"""USB edge check: this host's buses through pyusb/libusb (sysfs for what libusb cannot read),
or a fleet's `lsusb` / `lsusb -v` text files.  Records become inventory devices with evidence.

Public API:
- `scan_host()`: this host's USB devices as an `Inventory`;
- `scan_lsusb_files(paths)`: one `Inventory` for many hosts' lsusb files (bad files -> errors);
- `parse_lsusb(text)`: one host's lsusb text -> records;
- `identify(record, signatures, names)`: a raw `UsbRecord` -> `Device` (pure);
- `UsbSignatures`, `VendorNames`: the curated table and the system usb.ids.
"""

from entityscan.scanners.usb.errors import LsusbFormatError, UsbError
from entityscan.scanners.usb.identify import UsbSignatures, VendorNames, identify
from entityscan.scanners.usb.lsusb import parse_text as parse_lsusb
from entityscan.scanners.usb.records import Interface, UsbRecord
from entityscan.scanners.usb.scan import expand_paths, identify_records, scan_host, scan_lsusb_files

__all__ = [
    "Interface",
    "LsusbFormatError",
    "UsbError",
    "UsbRecord",
    "UsbSignatures",
    "VendorNames",
    "expand_paths",
    "identify",
    "identify_records",
    "parse_lsusb",
    "scan_host",
    "scan_lsusb_files",
]
