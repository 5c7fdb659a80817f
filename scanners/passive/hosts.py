"""Per-host state of a passive scan, and the devices it becomes.

Everything a capture shows about one address is gathered on a `Candidate` (the active scan's
own record: open ports, discovery replies, observations), so devices are built, merged by MAC
or serial and attributed by the same code as an active scan's (`entityscan.scanners.assembly`).
MACs come from ARP (sender MAC and address), from the source MAC of frames sent from an
address (ignored for a MAC that sends from many addresses: that is a router), from what the
device itself says (SADP, DHIP, ONVIF, ISAPI) and from DHCP client messages.  Memory is bounded:
at most MAX_HOSTS hosts keep observations and MAX_SPANS addresses their time span.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

from entityscan.scanners import assembly, signals
from entityscan.scanners.assembly import Candidate
from entityscan.scanners.discovery.base import DiscoveryReply
from entityscan.scanners.inventory import Certainty, Device, Evidence
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.neighbours import eui64_mac, normalise_mac
from entityscan.scanners.signals import RuleSet

MAX_HOSTS = 65536
MAX_SPANS = 262144
MAX_SIGNALS = 512
MAX_REPLIES = 32
#: A MAC seen sending from more addresses than this is a router's (or a NAT's).
ROUTER_ADDRESSES = 4
#: Facts only passive observation yields, shown as descriptive evidence.
PASSIVE_FACTS = {"dhcp_hostname": ("dhcp", "host name"),
                 "dhcp_vendor_class": ("dhcp", "vendor class"),
                 "dhcp_parameters": ("dhcp", "parameter request list"),
                 "tls_server_name": ("tls", "server name (SNI) clients asked for"),
                 "tls_version": ("tls", "version chosen"),
                 "nmap_service": ("nmap", "service (nmap's name for it)"),
                 "rtsp_methods": ("nmap", "rtsp-methods")}
#: Protocols that are local discovery chatter: a host heard on them is always reported.
CHATTER = frozenset({"wsd", "sadp", "dhip", "mdns", "ssdp", "dhcp"})


def address_text(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


@dataclass
class Host:
    """What one address (or, for DHCP before it has one, one MAC) showed."""

    candidate: Candidate
    protocols: set[str] = field(default_factory=set)
    mac: str | None = None
    signals_seen: set[tuple[str, str]] = field(default_factory=set)
    garbage: dict[str, int] = field(default_factory=dict)
    span: tuple[float, float, float] | None = None

    def seen_at(self, timestamp: float) -> None:
        """A time this host (known by MAC, not by a sending address) was heard from."""
        if timestamp > 0:
            first, last, count = self.span or (timestamp, timestamp, 0.0)
            self.span = (min(first, timestamp), max(last, timestamp), count + 1)

    def add(self, protocol: str, obs: Observations | None = None,
            replies: list[DiscoveryReply] | None = None) -> None:
        self.protocols.add(protocol)
        target = self.candidate.observations
        if obs is not None:
            for sig in obs.signals:
                key = (sig.kind, sig.value)
                if key not in self.signals_seen and len(self.signals_seen) < MAX_SIGNALS:
                    self.signals_seen.add(key)
                    target.signals.append(sig)
            for name, value in obs.facts.items():
                target.fact(name, value)
            for error in obs.errors:
                if error not in target.errors and len(target.errors) < 32:
                    target.errors.append(error)
            target.answered = target.answered or obs.answered
            target.hostile = target.hostile or obs.hostile
        for reply in replies or ():
            if len(self.candidate.replies) < MAX_REPLIES:
                self.candidate.replies.append(reply)
            target.answered = True


class HostTable:
    """Hosts by address, MAC bindings and per-address time spans (see the module doc)."""

    def __init__(self) -> None:
        self.hosts: dict[str, Host] = {}
        self.spans: dict[bytes, list[float]] = {}
        self.ip_mac: dict[bytes, bytes] = {}
        self.arp_bound: set[bytes] = set()
        self.mac_addresses: dict[bytes, set[bytes]] = {}
        self.routers: set[bytes] = set()
        self.untracked = 0  # hosts past MAX_HOSTS
        self.remote_skipped = 0

    def host(self, key: str, *, minor: bool = False) -> Host | None:
        """The record of `key`, made on first use.  `minor` (an open port, a server name
        clients asked for) may not take the second half of the table: that is kept for hosts
        that say something, so a gateway capture's thousands of far servers crowd no camera
        out."""
        found = self.hosts.get(key)
        if found is None:
            if len(self.hosts) >= (MAX_HOSTS // 2 if minor else MAX_HOSTS):
                self.untracked += 1
                return None
            found = self.hosts[key] = Host(Candidate(key))
        return found

    def seen(self, src: bytes, timestamp: float) -> None:
        span = self.spans.get(src)
        if span is None:
            if len(self.spans) < MAX_SPANS:
                self.spans[src] = [timestamp, timestamp, 1.0]
            return
        if timestamp > span[1]:
            span[1] = timestamp
        elif timestamp < span[0]:
            span[0] = timestamp
        span[2] += 1

    def bind(self, address: bytes, mac: bytes, *, from_arp: bool) -> None:
        """`address` was seen sending with source MAC `mac` (or claimed it in ARP)."""
        if mac[0] & 1 or address in (b"\x00\x00\x00\x00",):
            return  # multicast source MACs are not stations; ARP probes claim no address
        if from_arp:
            self.arp_bound.add(address)
            self.ip_mac[address] = mac
            return
        if address in self.arp_bound or mac in self.routers:
            return
        known = self.mac_addresses.setdefault(mac, set())
        if len(known) <= ROUTER_ADDRESSES:
            known.add(address)
        if len(known) > ROUTER_ADDRESSES:
            self.routers.add(mac)
            return
        if len(self.ip_mac) < MAX_SPANS:
            self.ip_mac[address] = mac

    def mac_of(self, address: str) -> str | None:
        try:
            packed = socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET,
                                      address)
        except OSError:
            return None
        mac = self.ip_mac.get(packed)
        if mac is not None and (packed in self.arp_bound or mac not in self.routers):
            return normalise_mac(mac.hex())
        return eui64_mac(address)

    def span_of(self, address: str) -> list[float] | None:
        try:
            packed = socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET,
                                      address)
        except OSError:
            return None
        return self.spans.get(packed)

    # -- devices ---------------------------------------------------------------------------
    def devices(self, rules: RuleSet | None, *, discovered_by: list[str] | None = None,
                report_all: bool = False, include_remote: bool = True) -> list[Device]:
        """Every host worth reporting (with `report_all`, every host with open ports too),
        built, merged and attributed like an active scan's.  Without `include_remote`, a host
        with a global address, no MAC on the segment and no local chatter (a web site a user
        visited, a vendor's cloud) is counted in `remote_skipped`, not listed."""
        # Hosts seen only in ARP or as a frame's source: reported when their OUI points to a
        # maker (judged once per block: the first 5 bytes cover MA-L, MA-M and MA-S blocks).
        pointing: dict[bytes, bool] = {}
        for packed, mac in self.ip_mac.items():
            address = address_text(packed)
            if address in self.hosts or len(self.hosts) >= MAX_HOSTS:
                continue
            if mac[:5] not in pointing:
                pointing[mac[:5]] = any(ev.indicates for ev in signals.evaluate(
                    "oui", mac.hex(), probe="oui", field="MAC", rules=rules))
            if pointing[mac[:5]]:
                self.hosts[address] = Host(Candidate(address))
        hosts = list(self.hosts.values())
        if not include_remote:
            local = [h for h in hosts if not self._remote(h)]
            self.remote_skipped = len(hosts) - len(local)
            hosts = local
        built = [self._device(host, rules, discovered_by or ["passive"], report_all)
                 for host in hosts]
        return assembly.merge_and_attribute(d for d in built if d is not None)

    def _remote(self, host: Host) -> bool:
        address = host.candidate.address
        if address.startswith("mac:") or host.mac or host.protocols & CHATTER:
            return False
        try:
            far = ipaddress.ip_address(address).is_global
        except ValueError:
            return False
        return far and self.mac_of(address) is None

    def _device(self, host: Host, rules: RuleSet | None, discovered_by: list[str],
                report_all: bool) -> Device | None:
        cand = host.candidate
        address = "" if cand.address.startswith("mac:") else cand.address
        mac = host.mac or (self.mac_of(address) if address else None)
        device = assembly.build_device(cand, mac, rules=rules)
        evidence = list(device.evidence)
        shown = {ev.value for ev in evidence}
        for name, (probe, field_name) in PASSIVE_FACTS.items():
            # device and file strings: no control sequences reach a terminal or a report
            value = "".join(ch for ch in cand.observations.facts.get(name) or ""
                            if ch.isprintable())[:200]
            if value and value not in shown:
                evidence.append(Evidence(probe=probe, field=field_name, value=value,
                                         indicates=None, certainty=Certainty.MEDIUM,
                                         kind="label"))
        points = any(ev.indicates for ev in evidence)
        if not (points or host.protocols & CHATTER or
                ((device.mac or report_all) and (cand.open_ports or host.protocols))):
            return None  # a client or a far server that says nothing about its maker
        errors = [e for e in device.errors if not e.startswith("open ports ")]
        for protocol, count in sorted(host.garbage.items()):
            errors.append(f"{protocol}: {count} unreadable datagram{'s' * (count != 1)} "
                          "(malformed, hostile or not this protocol)")
        span = (self.span_of(address) if address else None) or host.span
        observed: dict[str, object] = {"protocols": sorted(host.protocols)}
        if span is not None:
            observed.update(first=_iso(span[0]), last=_iso(span[1]), packets=int(span[2]))
        # Seen is read: a host that only showed its MAC is not `unreadable` (nothing refused).
        return device.model_copy(update={
            "readable": not cand.observations.hostile,
            "addresses": [address] if address else [], "evidence": evidence, "errors": errors,
            "discovered_by": discovered_by, "observed": observed})


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(max(0.0, timestamp), UTC).isoformat()
