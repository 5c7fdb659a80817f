"""Parse `lsusb` and `lsusb -v` text collected from a fleet: one file per host.

The host name comes from a `# host: NAME` line at the top, else from the file name.  A malformed
file raises `LsusbFormatError` naming the file and the line; callers screen the other hosts
anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from entityscan.scanners.usb.errors import LsusbFormatError
from entityscan.scanners.usb.records import Interface, UsbRecord, printable

MAX_FILE_BYTES = 16 * 1024 * 1024  # `lsusb -v` of a big host is well under 1 MiB
_HOST_SUFFIXES = (".txt", ".lsusb", ".log", ".out")

# No lazy group before `\s*$`: that backtracks quadratically on long runs of spaces.
_HOST_LINE = re.compile(r"^\s*#\s*host\s*:(.*)$", re.IGNORECASE)
_BUS_LINE = re.compile(r"^Bus (\d{1,3}) Device (\d{1,3}): ID ([0-9a-fA-F]{4}):([0-9a-fA-F]{4})"
                       r"(?:\s(.*))?$")
MAX_LINE = 4096  # lsusb lines are short; a longer one is not lsusb text
_HEX_ID = re.compile(r"^0x([0-9a-fA-F]{4})\b")
_NUMBER = re.compile(r"^(\d+)(?:\s+(.*))?$")
_BCD = re.compile(r"^\d{1,2}\.\d{2}$")
# Unindented lines `lsusb -v` prints besides device lines (usbutils 007..017).
# stderr lines too, as `lsusb -v 2>&1` collects them (usbutils versions differ in wording).
_VERBOSE_TOP = re.compile(
    r"^(?:[A-Z][\w ()/-]*:\s*(?:0x[0-9a-fA-F]+)?|[Cc]ouldn't .*|[Cc]an't .*|[Cc]annot .*"
    r"|Unable to .*|Warning: .*|Negotiated speed: .*|Device Status: .*|lsusb: .*|libusb.*)$")

_STRING_KEYS = {"iManufacturer": "manufacturer", "iProduct": "product", "iSerial": "serial"}
_DEVICE_KEYS = {"bDeviceClass": "device_class", "bDeviceSubClass": "device_subclass",
                "bDeviceProtocol": "device_protocol"}
_INTERFACE_KEYS = ("bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol")
_WANTED_KEYS = frozenset(("idVendor", "idProduct", "bcdDevice", *_STRING_KEYS, *_DEVICE_KEYS,
                          *_INTERFACE_KEYS))


@dataclass
class LsusbHost:
    """One host's file, parsed."""

    host: str
    path: str
    format: str  # "lsusb" | "lsusb -v"
    records: list[UsbRecord] = field(default_factory=list)


@dataclass
class _Draft:
    line: int
    bus: int
    device_number: int
    vid: int
    pid: int
    description: str | None
    values: dict[str, object] = field(default_factory=dict)
    interfaces: list[list[int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def host_from_path(path: Path) -> str:
    name = path.name
    for suffix in _HOST_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def read_file(path: Path) -> LsusbHost:
    """Read and parse one host's file (bounded in size)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError as exc:
        raise LsusbFormatError(path, None, "is a directory, not an lsusb text file") from exc
    except OSError as exc:
        raise LsusbFormatError(path, None, f"cannot read the file ({exc.strerror})") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise LsusbFormatError(path, None, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: "
                                           "not an lsusb listing")
    # Device strings are not always UTF-8; a stray byte must not cost the host its audit.
    return parse_text(raw.decode("utf-8-sig", errors="replace"), path=str(path),
                      default_host=host_from_path(path))


def parse_text(text: str, path: str = "<text>", default_host: str = "localhost") -> LsusbHost:
    """Parse `lsusb` or `lsusb -v` text; raise `LsusbFormatError` at the first bad line."""
    lines = text.splitlines()
    host = default_host
    for number, line in enumerate(lines, start=1):  # the leading comment block
        if not line.lstrip().startswith("#"):
            break
        match = _HOST_LINE.match(line[:MAX_LINE])
        if match:
            if not match[1].strip():
                raise LsusbFormatError(path, number, "`# host:` line without a host name")
            host = match[1].strip()
            break
    drafts: list[_Draft] = []
    verbose = False
    top_section = ""
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise LsusbFormatError(path, number, "binary data (NUL byte): not lsusb text")
        if len(line) > MAX_LINE:
            raise LsusbFormatError(path, number, f"line longer than {MAX_LINE} characters: "
                                                 "not lsusb text")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            bus = _BUS_LINE.match(line)
            if bus:
                drafts.append(_Draft(line=number, bus=int(bus[1]), device_number=int(bus[2]),
                                     vid=int(bus[3], 16), pid=int(bus[4], 16),
                                     description=(bus[5] or "").strip() or None))
                top_section = ""
                continue
            if line.startswith("Bus "):
                raise LsusbFormatError(
                    path, number, f"malformed device line {_show(line)} (expected "
                                  "`Bus NNN Device NNN: ID vvvv:pppp [names]`)")
            if _VERBOSE_TOP.match(stripped):
                verbose = True
                top_section = stripped.rstrip(":")
                continue
            if line.startswith("/:  Bus ") or line.startswith("T:  Bus="):
                tool = "lsusb -t" if line.startswith("/:") else "usb-devices"
                raise LsusbFormatError(path, number, f"`{tool}` output is not supported: "
                                                     "collect `lsusb` or `lsusb -v` instead")
            raise LsusbFormatError(path, number, f"unexpected text {_show(line)}: not `lsusb` "
                                                 "or `lsusb -v` output")
        if not drafts:
            raise LsusbFormatError(path, number, f"descriptor line {_show(line)} before any "
                                                 "`Bus NNN Device NNN: ID ...` line")
        verbose = True
        _parse_descriptor_line(drafts[-1], line, stripped, top_section, path, number)
    if not drafts:
        raise LsusbFormatError(path, None, "no `Bus NNN Device NNN: ID vvvv:pppp` lines: not "
                                           "lsusb output, or an empty file")
    fmt = "lsusb -v" if verbose else "lsusb"
    return LsusbHost(host=host, path=path, format=fmt,
                     records=[_finish(d, host, fmt) for d in drafts])


def _parse_descriptor_line(draft: _Draft, line: str, stripped: str, top_section: str,
                           path: str, number: int) -> None:
    if stripped == "Interface Descriptor:":
        draft.interfaces.append([-1, 0, 0])
        return
    key, _, value = stripped.partition(" ")
    if key not in _WANTED_KEYS:
        return  # endpoints, class-specific descriptors ...: nothing we use
    value = value.strip()
    if key in ("idVendor", "idProduct"):
        hex_id = _HEX_ID.match(value)
        if not hex_id:
            raise LsusbFormatError(path, number, f"malformed {key} value {value!r} "
                                                 "(expected 0x followed by 4 hex digits)")
        expected = draft.vid if key == "idVendor" else draft.pid
        if int(hex_id[1], 16) != expected:
            raise LsusbFormatError(path, number, f"{key} 0x{hex_id[1]} does not match the "
                                                 f"device line ({draft.vid:04x}:{draft.pid:04x}, "
                                                 f"line {draft.line})")
    elif key in _DEVICE_KEYS and top_section in ("", "Device Descriptor"):
        draft.values[_DEVICE_KEYS[key]] = _number(value, key, path, number)
    elif key in _INTERFACE_KEYS and draft.interfaces:
        draft.interfaces[-1][_INTERFACE_KEYS.index(key)] = _number(value, key, path, number)
    elif key == "bcdDevice" and top_section in ("", "Device Descriptor"):
        if _BCD.match(value):
            draft.values["bcd_device"] = value
    elif key in _STRING_KEYS and top_section in ("", "Device Descriptor"):
        parsed = _NUMBER.match(value)
        if not parsed:
            raise LsusbFormatError(path, number, f"malformed {key} value {value!r} "
                                                 "(expected an index, then the string)")
        name = _STRING_KEYS[key]
        index, text = int(parsed[1]), (parsed[2] or "").strip()
        if index == 0:
            return
        if not text or text == "(error)":
            draft.notes.append(f"{name} string (index {index}) not shown by lsusb"
                               + (": read error on that host" if text else ""))
        else:
            draft.values[name] = text


def _number(value: str, key: str, path: str, number: int) -> int:
    parsed = _NUMBER.match(value)
    if not parsed or int(parsed[1]) > 255:
        raise LsusbFormatError(path, number, f"malformed {key} value {value!r} "
                                             "(expected a number 0-255)")
    return int(parsed[1])


def _finish(draft: _Draft, host: str, fmt: str) -> UsbRecord:
    values = draft.values
    interfaces = tuple(dict.fromkeys(Interface(c, s, p) for c, s, p in draft.interfaces
                                     if c >= 0))
    return UsbRecord(
        vid=draft.vid, pid=draft.pid, host=host, source=fmt, bus=draft.bus,
        device_number=draft.device_number,
        device_class=_opt_int(values.get("device_class")),
        device_subclass=_opt_int(values.get("device_subclass")),
        device_protocol=_opt_int(values.get("device_protocol")),
        interfaces=interfaces,
        manufacturer=printable(_opt_str(values.get("manufacturer"))),
        product=printable(_opt_str(values.get("product"))),
        serial=printable(_opt_str(values.get("serial"))),
        description=printable(draft.description),
        bcd_device=_opt_str(values.get("bcd_device")),
        notes=tuple(draft.notes), line=draft.line,
    )


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _show(line: str) -> str:
    text = line.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")
