"""Build USB inventories: this host through libusb (+ sysfs), or a fleet's lsusb files."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from entityscan.scanners.attribution import attribute
from entityscan.scanners.inventory import Inventory, ScanError
from entityscan.scanners.usb import libusb, lsusb, sysfs
from entityscan.scanners.usb.errors import LsusbFormatError, UsbError
from entityscan.scanners.usb.identify import UsbSignatures, VendorNames, identify
from entityscan.scanners.usb.records import UsbRecord


def identify_records(records: Iterable[UsbRecord], signatures: UsbSignatures | None = None,
                     names: VendorNames | None = None, include_root_hubs: bool = False,
                     ) -> list[Any]:
    """Raw records -> attributed `Device`s, root hubs dropped unless asked for."""
    signatures = signatures or UsbSignatures.load()
    names = names if names is not None else VendorNames.load()
    return [attribute(identify(record, signatures, names)) for record in records
            if include_root_hubs or not record.is_root_hub]


def scan_host(host: str | None = None, backend: Any = None,
              find_backend: Callable[[], Any] = libusb.default_backend,
              sysfs_root: Path = sysfs.DEFAULT_ROOT, signatures: UsbSignatures | None = None,
              names: VendorNames | None = None, include_root_hubs: bool = False) -> Inventory:
    """This host's USB devices: libusb for the bus, sysfs for strings libusb cannot read.

    Without libusb, or with libusb denied, sysfs alone gives the view where it exists; the
    inventory's `errors` say what to install or which permission is missing.  Raises
    `UsbError` only when neither view exists.
    """
    host = host or socket.gethostname()
    started = datetime.now(UTC)
    names = names if names is not None else VendorNames.load()
    via_libusb = libusb.enumerate_devices(host, backend=backend, find_backend=find_backend)
    via_sysfs = sysfs.read_devices(host, sysfs_root)
    errors = [ScanError(target=host, probe="usb", message=m) for m in via_libusb.problems]
    if not via_libusb.available and not via_sysfs.available:
        raise UsbError(f"{host}: no USB view: {'; '.join(via_libusb.problems)}; and "
                       f"{'; '.join(via_sysfs.problems)}")
    if via_libusb.available:
        records = _merge(via_libusb.records, via_sysfs.records)
    else:
        records = via_sysfs.records
        errors.append(ScanError(target=host, probe="usb",
                                message=f"showing the sysfs view ({sysfs_root}) instead"))
    errors += [ScanError(target=host, probe="sysfs", message=m) for m in via_sysfs.problems
               if via_sysfs.available]
    devices = identify_records(records, signatures, names, include_root_hubs)
    return Inventory(kind="usb", targets=[host], started=started, finished=datetime.now(UTC),
                     parameters={"source": "libusb" if via_libusb.available else "sysfs",
                                 "include_root_hubs": include_root_hubs,
                                 "usb_ids": names.location},
                     devices=devices, errors=errors)


def _merge(from_libusb: Sequence[UsbRecord], from_sysfs: Sequence[UsbRecord]) -> list[UsbRecord]:
    """libusb records, with missing strings (and port paths) filled in from sysfs; devices only
    sysfs lists (libusb without access to /dev/bus/usb, e.g. in a container) are kept too."""
    by_address = {(r.bus, r.device_number): r for r in from_sysfs}
    merged = []
    seen: set[tuple[int | None, int | None]] = set()
    for record in from_libusb:
        seen.add((record.bus, record.device_number))
        other = by_address.get((record.bus, record.device_number))
        if other is None or (other.vid, other.pid) != (record.vid, record.pid):
            merged.append(record)
            continue
        filled = {name: getattr(other, name) for name in ("manufacturer", "product", "serial",
                                                          "port_path", "bcd_device")
                  if getattr(record, name) is None and getattr(other, name) is not None}
        notes = record.notes
        if {"manufacturer", "product", "serial"} & filled.keys():
            notes = (*notes, "strings read from sysfs")
        merged.append(dataclasses.replace(record, **filled, notes=notes,
                                          source="libusb+sysfs" if filled else record.source))
    merged += [dataclasses.replace(r, notes=(*r.notes, "listed by sysfs only, not by libusb"))
               for r in from_sysfs if (r.bus, r.device_number) not in seen]
    return merged


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a directory stands for its (non-hidden) files, sorted."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted(p for p in path.iterdir()
                               if p.is_file() and not p.name.startswith("."))
        else:
            expanded.append(path)
    return expanded


def scan_lsusb_files(paths: Iterable[Path], signatures: UsbSignatures | None = None,
                     names: VendorNames | None = None, include_root_hubs: bool = False,
                     ) -> Inventory:
    """A fleet's lsusb / lsusb -v files, one per host.  A bad file becomes an error in the
    inventory (file and line named); every other host is still screened."""
    started = datetime.now(UTC)
    signatures = signatures or UsbSignatures.load()
    names = names if names is not None else VendorNames.load()
    devices: list[Any] = []
    errors: list[ScanError] = []
    hosts: dict[str, str] = {}
    unreadable: list[str] = []
    files = expand_paths(paths)
    for path in files:
        try:
            parsed = lsusb.read_file(path)
        except LsusbFormatError as exc:
            errors.append(ScanError(target=str(path), probe="lsusb", message=str(exc)))
            unreadable.append(str(path))
            continue
        if parsed.host in hosts:
            errors.append(ScanError(target=str(path), probe="lsusb-host",
                                    message=f"{path}: host {parsed.host!r} also comes from "
                                            f"{hosts[parsed.host]}; both files are screened"))
        hosts.setdefault(parsed.host, str(path))
        devices += identify_records(parsed.records, signatures, names, include_root_hubs)
    return Inventory(kind="usb", targets=list(hosts), started=started,
                     finished=datetime.now(UTC),
                     parameters={"source": "lsusb", "files": [str(p) for p in files],
                                 "unreadable_files": unreadable,
                                 "include_root_hubs": include_root_hubs,
                                 "usb_ids": names.location},
                     devices=devices, errors=errors)
