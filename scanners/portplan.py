"""Which ports a scan sweeps, which it only asks on hosts it already found, and what each speaks.

Swept (TCP connect to every target): the camera ports per service (`http`, `https`, `rtsp`,
`sdk`, `other`).  Asked only on live hosts (a greeting is read once a host answered anything):
`telnet`, `ftp`, `ssh`.  UDP: the discovery ports (`wsd`, `sadp`, `dhip`, `ssdp`) and `snmp`
(used only with the user's own SNMP credentials).  A simulated lab moves them with `--ports`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from entityscan.scanners.errors import ScannerError

#: TCP services swept on every target.
SWEPT = ("http", "https", "rtsp", "sdk", "other")
#: TCP services asked only on hosts found alive.
GREETINGS = ("telnet", "ftp", "ssh")
SERVICES = SWEPT + GREETINGS
UDP = ("wsd", "sadp", "dhip", "ssdp", "snmp")

#: Which service a bare port number is assumed to speak.
WELL_KNOWN = {80: "http", 8080: "http", 88: "http", 8081: "http", 443: "https", 8443: "https",
              554: "rtsp", 8554: "rtsp", 8000: "sdk", 37777: "sdk", 23: "telnet", 21: "ftp",
              22: "ssh"}


@dataclass(frozen=True)
class PortPlan:
    """TCP ports per service and the UDP ports (changeable for simulated labs)."""

    http: tuple[int, ...] = (80, 8080)
    https: tuple[int, ...] = (443, 8443)
    rtsp: tuple[int, ...] = (554, 8554)
    sdk: tuple[int, ...] = (8000, 37777)
    other: tuple[int, ...] = ()
    telnet: tuple[int, ...] = (23,)
    ftp: tuple[int, ...] = (21,)
    ssh: tuple[int, ...] = (22,)
    wsd: int = 3702
    sadp: int = 37020
    dhip: int = 37810
    ssdp: int = 1900
    snmp: int = 161

    @property
    def tcp(self) -> tuple[int, ...]:
        """The swept ports, each once."""
        seen: dict[int, None] = {}
        for name in SWEPT:
            seen.update(dict.fromkeys(getattr(self, name)))
        return tuple(seen)

    @property
    def greeting_ports(self) -> tuple[tuple[str, int], ...]:
        """(service, port) asked on every live host, minus ports already swept."""
        swept = set(self.tcp)
        return tuple((name, port) for name in GREETINGS for port in getattr(self, name)
                     if port not in swept)

    def service_of(self, port: int) -> str:
        for name in SERVICES:
            if port in getattr(self, name):
                return name
        return "other"

    @classmethod
    def parse(cls, specs: Iterable[str], base: PortPlan | None = None) -> PortPlan:
        """`80,443,554` or `http:10080,https:10443,rtsp:10554,wsd:13702` (comma or space
        separated).  Bare numbers get their usual service (443 https, 554 rtsp, 23 telnet, else
        http); named UDP entries (wsd, sadp, dhip, ssdp, snmp) move a UDP port.  Swept services
        given replace all swept ones; greeting services given replace all greeting ones."""
        groups: dict[str, list[int]] = {name: [] for name in SERVICES}
        udp: dict[str, int] = {}
        for spec in specs:
            for item in spec.replace(",", " ").split():
                name, sep, number = item.rpartition(":")
                try:
                    port = int(number)
                except ValueError:
                    raise ScannerError(f"port {item!r}: expected a number or SERVICE:NUMBER "
                                       f"(services: {', '.join(SERVICES + UDP)})") from None
                if not 0 < port < 65536:
                    raise ScannerError(f"port {item!r}: must be between 1 and 65535")
                service = name.lower() if sep else WELL_KNOWN.get(port, "http")
                if service in UDP:
                    udp[service] = port
                elif service in groups:
                    groups[service].append(port)
                else:
                    raise ScannerError(f"port {item!r}: unknown service {name!r}")
        plan = base or cls()
        changes: dict[str, object] = dict(udp)
        for family in (SWEPT, GREETINGS):
            if any(groups[name] for name in family):
                changes.update({name: tuple(groups[name]) for name in family})
        return replace(plan, **changes)  # type: ignore[arg-type]

    def describe(self) -> dict[str, object]:
        return {"tcp_ports": list(self.tcp),
                "greeting_ports": [port for _, port in self.greeting_ports],
                "udp_ports": {f.name: getattr(self, f.name) for f in fields(self)
                              if f.name in UDP}}
