"""Neighbour tables exported from routers and switches, so routed devices get their MAC.

A scanner behind a router sees only the router's MAC; the router's own ARP table (and a
switch's MAC table) knows the devices'.  Accepted, detected per file from its lines:

- Linux `ip neigh` (`10.1.20.11 dev eth0 lladdr 44:19:b6:6d:24:0a REACHABLE`);
- Cisco IOS `show ip arp` (`Internet  10.1.20.11  3  4419.b66d.240a  ARPA  Vlan20`);
- Cisco IOS `show mac address-table` (`20  4419.b66d.240a  DYNAMIC  Gi1/0/5`): no addresses,
  so it only tells on which switch port a MAC learned elsewhere sits;
- Juniper Junos `show arp` (`44:19:b6:6d:24:0a 10.1.20.11 10.1.20.11 ge-0/0/5.0 none`);
- Windows `arp -a` (`  10.1.20.11   44-19-b6-6d-24-0a   dynamic`).

Headers, totals, prompts and incomplete entries are skipped.  A line that looks like an entry
but does not parse is reported as `file:line: what is wrong`, and the rest of the file (and
every other file) is still read: a bad line costs its own entry only.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from entityscan.scanners.oui import normalise_mac

#: Larger files are refused (an export of a big core router is a few megabytes).
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_ERRORS_PER_FILE = 20

_MAC = r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
_IPV4 = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
_IP = rf"{_IPV4}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+(?:%\S+)?"
#: One pattern per format, for the entry lines only.
FORMATS: dict[str, re.Pattern[str]] = {
    "ip neigh": re.compile(rf"^(?P<ip>{_IP})\s+dev\s+\S+(?:\s+lladdr\s+(?P<mac>\S+))?"
                           r"(?:\s+\S+)*\s*$"),
    "cisco show ip arp": re.compile(r"^Internet\s+(?P<ip>\S+)\s+\S+\s+(?P<mac>\S+)\s+\S+"
                                    r"(?:\s+\S+)?\s*$"),
    "cisco show mac address-table": re.compile(
        rf"^\s*(?P<vlan>[0-9]{{1,4}}|All)\s+(?P<mac>{_MAC}|\S+)\s+(?P<type>\S+)"
        r"(?:\s+\S+)*?\s+(?P<port>\S+)\s*$"),
    "juniper show arp": re.compile(rf"^(?P<mac>\S+)\s+(?P<ip>{_IPV4}|\S+)\s+\S+\s+"
                                   r"(?P<port>\S+)(?:\s+\S+)?\s*$"),
    "windows arp -a": re.compile(rf"^\s+(?P<ip>{_IPV4}|\S+)\s+(?P<mac>\S+)\s+"
                                 r"(?P<type>dynamic|static|\S+)\s*$"),
}
#: Lines that identify a format (a header) or are never entries.
HEADERS = {
    "cisco show ip arp": re.compile(r"^Protocol\s+Address\s+Age", re.I),
    "cisco show mac address-table": re.compile(r"^\s*Vlan\s+Mac Address\s+Type", re.I),
    "juniper show arp": re.compile(r"^MAC Address\s+Address\s+Name", re.I),
    "windows arp -a": re.compile(r"^\s*Internet Address\s+Physical Address", re.I),
}
#: Blank lines, rules, totals, Windows interface headings, CLI prompts (`host#`, `user@host>`)
#: and comments.
_SKIP = re.compile(r"^\s*$|^\s*(?:-{3,}|Total\b|Interface:|Mac Address Table|\{master|#)"
                   r"|^[\w.@-]+[#>]", re.I)
_INCOMPLETE = re.compile(r"\b(?:Incomplete|FAILED|INCOMPLETE|\(incomplete\))\b")


@dataclass
class NeighbourTables:
    """What the files say: address -> MAC, MAC -> where a switch saw it, and the problems."""

    macs: dict[str, str] = field(default_factory=dict)
    #: MAC -> `<port> vlan <n> (<file>)` from switch MAC tables.
    locations: dict[str, str] = field(default_factory=dict)
    #: Address -> the file and line the MAC came from (for the evidence).
    origins: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _detect(lines: list[str]) -> str | None:
    for line in lines[:200]:
        for name, header in HEADERS.items():
            if header.search(line):
                return name
    for line in lines[:200]:
        if FORMATS["ip neigh"].match(line.strip()):
            return "ip neigh"
    return None


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return None


def _usable_mac(text: str | None) -> str | None:
    """A unicast, registered-or-local MAC (broadcast and multicast entries are not devices)."""
    mac = normalise_mac(text or "")
    if mac is None or int(mac[:2], 16) & 0x01:
        return None
    return mac


def read_file(path: Path, tables: NeighbourTables) -> None:
    where = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            tables.errors.append(f"{where}:1: larger than {MAX_FILE_BYTES // 2**20} MiB; "
                                 "not read")
            return
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        tables.errors.append(f"{where}:1: cannot read it ({exc.strerror or exc})")
        return
    lines = text.splitlines()
    kind = _detect(lines)
    if kind is None:
        first = next((n for n, line in enumerate(lines, 1) if line.strip()), 1)
        tables.errors.append(f"{where}:{first}: not a neighbour table this scanner reads (ip "
                             "neigh, Cisco show ip arp / show mac address-table, Juniper show "
                             "arp, Windows arp -a)")
        return
    errors = 0
    for number, line in enumerate(lines, start=1):
        if _SKIP.match(line) or (kind in HEADERS and HEADERS[kind].search(line)):
            continue
        problem = _entry(kind, line, f"{where}:{number}", tables)
        if problem:
            errors += 1
            if errors <= MAX_ERRORS_PER_FILE:
                tables.errors.append(f"{where}:{number}: {problem}")
    if errors > MAX_ERRORS_PER_FILE:
        tables.errors.append(f"{where}: {errors - MAX_ERRORS_PER_FILE} more malformed lines")


def _entry(kind: str, line: str, origin: str, tables: NeighbourTables) -> str | None:
    """Record one entry line; the problem with it, if any."""
    stripped = line if kind == "windows arp -a" else line.strip()
    match = FORMATS[kind].match(stripped)
    if match is None:
        return f"not a `{kind}` entry: {line.strip()[:80]!r}"
    fields = match.groupdict()
    if _INCOMPLETE.search(line) or (kind == "ip neigh" and not fields.get("mac")):
        return None  # the router never learned it: nothing to read, nothing wrong
    mac_text = fields.get("mac")
    if normalise_mac(mac_text or "") is None:
        return f"{mac_text!r} is not a MAC address"
    mac = _usable_mac(mac_text)
    if kind == "cisco show mac address-table":
        if mac:
            tables.locations[mac] = f"{fields['port']} vlan {fields['vlan']} ({origin})"
        return None
    address = _address(fields.get("ip") or "")
    if address is None:
        return f"{fields.get('ip')!r} is not an IP address"
    if mac:
        tables.macs[address] = mac
        tables.origins[address] = origin
    return None


def read_neighbour_files(paths: list[Path]) -> NeighbourTables:
    """Every file's entries (later files win for the same address) and every problem."""
    tables = NeighbourTables()
    for path in paths:
        read_file(Path(path), tables)
    return tables
