"""The common shape of UDP discovery: one asking socket (unicast and multicast sends, replies
come back to it), optionally a listener bound to the protocol port and joined to its group
(for devices that answer to the group), and a bounded box of parsed replies per source."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from entityscan.scanners.netutil import (
    Datagram,
    LocalInterface,
    ReplyBox,
    join_group,
    open_collector,
    set_multicast_if,
    udp_socket,
)
from entityscan.scanners.probes import Observations

#: After this many unparsable datagrams from one source, stop parsing what it sends.
MAX_GARBAGE_PER_SOURCE = 32


@dataclass
class DiscoveryReply:
    """One parsed discovery answer: which protocol, from where, and its fields as text."""

    protocol: str
    source: str
    fields: dict[str, Any] = field(default_factory=dict)


def read_fields(reply: DiscoveryReply, *, signals: Iterable[tuple[str, str]] = (),
                facts: Iterable[tuple[str, str]] = ()) -> Observations:
    """A reply's fields mapped by a protocol's table: each (signal kind, field) pair becomes a
    signal for that kind's rules, each (fact, field) pair a fact (the first value seen wins)."""
    obs = Observations()
    for kind, name in signals:
        obs.signal(kind, _text(reply.fields.get(name)), reply.protocol, name)
    for fact, name in facts:
        obs.fact(fact, _text(reply.fields.get(name)))
    return obs


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass
class UdpDiscovery:
    """Send a fixed probe by unicast and multicast; collect parsed replies, bounded."""

    protocol: str
    port: int
    group: str
    parse: Callable[[bytes, str], list[DiscoveryReply]]
    probes: Callable[[], list[bytes]]
    listen_on_group: bool = False
    per_source: int = 8
    box: ReplyBox = field(init=False)
    errors: list[str] = field(default_factory=list)
    garbage: dict[str, int] = field(default_factory=dict)
    #: Every datagram per source, parsed or not (a flood shows here even when unparsed).
    datagrams: dict[str, int] = field(default_factory=dict)
    probes_per_target: int = 0
    #: Called with a source's address when its first datagram arrives (the scan identifies
    #: a host as soon as it answers).
    on_reply: Callable[[str], None] | None = None
    _announced: set[str] = field(default_factory=set)
    _transports: list[asyncio.DatagramTransport] = field(default_factory=list)
    _ask: socket.socket | None = None
    _payloads: list[bytes] | None = None

    @property
    def is_open(self) -> bool:
        return self._ask is not None

    def payloads(self) -> list[bytes]:
        """The probe datagrams, built once per scan (one SADP Uuid, one pair of WS-Discovery
        MessageIDs): a /16 sweep would otherwise spend its time formatting them."""
        if self._payloads is None:
            self._payloads = self.probes()
        return self._payloads

    def __post_init__(self) -> None:
        self.box = ReplyBox(per_source=self.per_source)

    def _handle(self, datagram: Datagram) -> None:
        self.datagrams[datagram.source] = self.datagrams.get(datagram.source, 0) + 1
        if self.box.dropped.get(datagram.source, 0) or \
                len(self.box.replies.get(datagram.source, ())) >= self.per_source:
            self.box.dropped[datagram.source] = self.box.dropped.get(datagram.source, 0) + 1
            return  # a flooding source: do not even parse
        if self.garbage.get(datagram.source, 0) >= MAX_GARBAGE_PER_SOURCE:
            return
        try:
            parsed = self.parse(datagram.data, datagram.source)
        except Exception:  # hostile bytes: count them, never raise into the event loop
            self.garbage[datagram.source] = self.garbage.get(datagram.source, 0) + 1
            self._first(datagram.source)
            return
        for reply in parsed:
            self.box.add(datagram.source, reply)
        if parsed:
            self._first(datagram.source)

    def _first(self, source: str) -> None:
        """Tell the scan about a source the first time it answered (or sent garbage)."""
        if self.on_reply is not None and source not in self._announced:
            self._announced.add(source)
            self.on_reply(source)

    async def start(self, multicast_ifaces: list[LocalInterface]) -> None:
        self._ask = udp_socket()
        self._transports.append(await open_collector(self._ask, self._handle))
        if multicast_ifaces and self.listen_on_group:
            try:
                listener = udp_socket("0.0.0.0", self.port, reuse=True)  # noqa: S104
                for iface in multicast_ifaces:
                    join_group(listener, self.group, iface.address)
                self._transports.append(await open_collector(listener, self._handle))
            except OSError as exc:
                self.errors.append(f"{self.protocol}: cannot listen on {self.group}:"
                                   f"{self.port} ({exc}); relying on direct replies")

    def send_unicast(self, address: str, port: int | None = None) -> None:
        assert self._ask is not None
        probes = self.payloads()
        self.probes_per_target = max(self.probes_per_target, len(probes))
        for payload in probes:
            with contextlib.suppress(OSError):  # unreachable hosts are normal in a sweep
                self._ask.sendto(payload, (address, port or self.port))

    def send_multicast(self, multicast_ifaces: list[LocalInterface]) -> None:
        assert self._ask is not None
        for iface in multicast_ifaces:
            try:
                set_multicast_if(self._ask, iface.address)
                probes = self.payloads()
                self.probes_per_target += len(probes)
                for payload in probes:
                    self._ask.sendto(payload, (self.group, self.port))
            except OSError as exc:
                self.errors.append(f"{self.protocol}: multicast on {iface.name} failed ({exc})")

    def replies(self) -> dict[str, list[DiscoveryReply]]:
        return {src: list(items) for src, items in self.box.replies.items()}

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()
