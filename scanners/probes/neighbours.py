"""MAC addresses from the neighbour table, and from IPv6 EUI-64 interface identifiers.

Read after probing, when TCP/UDP exchanges have filled the table.  Only local-segment devices
have an entry; routed devices show the router's MAC, so entries come only from the kernel's
table for the address itself.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
ZERO_MAC = "00:00:00:00:00:00"


def normalise_mac(text: str | None) -> str | None:
    """`AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`, `aabbccddeeff` -> `aa:bb:cc:dd:ee:ff`."""
    if not text:
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", text)
    if len(digits) != 12:
        return None
    mac = ":".join(digits[i:i + 2] for i in range(0, 12, 2)).lower()
    if mac == ZERO_MAC or mac == "ff:ff:ff:ff:ff:ff":
        return None
    return mac


def read_arp(path: Path = Path("/proc/net/arp")) -> dict[str, str]:
    """IPv4 address -> MAC for complete entries of the kernel ARP table."""
    table: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return table
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] != "0x0":  # flags 0x0: incomplete
            mac = normalise_mac(parts[3])
            if mac:
                table[parts[0]] = mac
    return table


def read_ip_neigh() -> dict[str, str]:
    """Address -> MAC from `ip -j neigh` (IPv4 and IPv6); empty if iproute2 is absent."""
    ip = shutil.which("ip")
    if not ip:
        return {}
    try:
        out = subprocess.run([ip, "-j", "neigh"], capture_output=True, timeout=3,  # noqa: S603
                             check=False).stdout
        entries = json.loads(out or b"[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    table = {}
    for entry in entries if isinstance(entries, list) else []:
        mac = normalise_mac(entry.get("lladdr"))
        if mac and entry.get("dst") and "FAILED" not in entry.get("state", []):
            table[entry["dst"]] = mac
    return table


def eui64_mac(address: str) -> str | None:
    """The MAC embedded in an IPv6 EUI-64 interface identifier (`…ff:fe…`), if any."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if ip.version != 6:
        return None
    iid = ip.packed[8:]
    if iid[3:5] != b"\xff\xfe":
        return None
    mac = bytes([iid[0] ^ 0x02]) + iid[1:3] + iid[5:8]
    return normalise_mac(mac.hex())


def neighbour_table() -> dict[str, str]:
    table = read_ip_neigh()
    for address, mac in read_arp().items():
        table.setdefault(address, mac)
    return table
