"""Small network helpers shared by discovery and probes: local interfaces, UDP sockets that
collect bounded replies, a rate limiter and bounded stream reads."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import socket
import struct
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B

#: A datagram larger than this is cut: no discovery reply needs more.
MAX_DATAGRAM = 16 * 1024


@dataclass(frozen=True)
class LocalInterface:
    name: str
    address: ipaddress.IPv4Address
    network: ipaddress.IPv4Network

    @property
    def is_loopback(self) -> bool:
        return self.address.is_loopback


def local_ipv4_interfaces() -> list[LocalInterface]:
    """IPv4 addresses of this host's interfaces (Linux ioctl; empty where unsupported)."""
    found: list[LocalInterface] = []
    try:
        names = socket.if_nameindex()
    except OSError:
        return found
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in names:
            packed = struct.pack("256s", name.encode()[:15])
            try:
                addr = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, packed)[20:24])
                mask = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, packed)[20:24])
            except OSError:
                continue
            network = ipaddress.IPv4Network(f"{addr}/{mask}", strict=False)
            found.append(LocalInterface(name, ipaddress.IPv4Address(addr), network))
    return found


def multicast_interfaces(target_networks: list[Any]) -> list[LocalInterface]:
    """Non-loopback local interfaces whose subnet overlaps a target: multicast is only sent
    where the targets live, never on unrelated segments."""
    chosen = []
    for iface in local_ipv4_interfaces():
        if iface.is_loopback:
            continue
        if any(net.version == 4 and net.overlaps(iface.network) for net in target_networks):
            chosen.append(iface)
    return chosen


class RateLimiter:
    """At most `rate` events per second, spread evenly (no bursts larger than `burst`).

    Waiters are released in order, except that `urgent` ones (a live host's identification
    probes) go before the sweep's: the sweep books many slots ahead, and a host that already
    answered should not wait behind a thousand connection attempts to dead addresses.  The
    total rate is the same either way.
    """

    #: Slots this close to due are released together (fewer timer wake-ups at high rates).
    GRANULE = 0.002

    def __init__(self, rate: float, burst: int = 32):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.burst = burst
        self._next = time.monotonic()
        self._urgent: deque[tuple[asyncio.Future[None], int]] = deque()
        self._normal: deque[tuple[asyncio.Future[None], int]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def wait(self, slots: int = 1, *, urgent: bool = False) -> None:
        """Return when `slots` consecutive events may go (a few datagrams to one host book
        their slots together: one wake-up instead of several, the same rate)."""
        if not self.interval:
            return
        now = time.monotonic()
        # Allow a small backlog so the limiter does not starve after an idle spell.
        self._next = max(self._next, now - self.burst * self.interval)
        if self._next <= now + self.GRANULE and not self._urgent and not self._normal:
            self._next += slots * self.interval
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._normal).append((future, slots))
        self._schedule()
        await future

    def _schedule(self) -> None:
        if self._timer is None and (self._urgent or self._normal):
            delay = max(0.0, self._next - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._release)

    def _release(self) -> None:
        self._timer = None
        now = time.monotonic() + self.GRANULE
        while (self._urgent or self._normal) and self._next <= now:
            future, slots = (self._urgent or self._normal).popleft()
            if future.done():  # its waiter was cancelled: the slot goes to the next one
                continue
            future.set_result(None)
            self._next += slots * self.interval
        self._schedule()


@dataclass
class Datagram:
    source: str
    port: int
    data: bytes


@dataclass
class ReplyBox:
    """Replies collected per source address, bounded per source and in total, so a flood of
    bogus replies costs a fixed amount of memory."""

    per_source: int = 8
    total: int = 20_000
    replies: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    count: int = 0

    def add(self, source: str, item: Any) -> bool:
        bucket = self.replies[source]
        if len(bucket) >= self.per_source or self.count >= self.total:
            self.dropped[source] += 1
            return False
        bucket.append(item)
        self.count += 1
        return True


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[Datagram], None]):
        self.handler = handler

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        with contextlib.suppress(Exception):  # a parser bug must never stop the receiver
            self.handler(Datagram(addr[0], addr[1], data[:MAX_DATAGRAM]))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable etc.: ignore
        pass


def udp_socket(bind_host: str = "0.0.0.0", bind_port: int = 0, *,  # noqa: S104
               reuse: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:  # beyond net.core.rmem_max when allowed (root), so bursts of replies are not lost
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setblocking(False)
    sock.bind((bind_host, bind_port))
    return sock


def join_group(sock: socket.socket, group: str, iface: ipaddress.IPv4Address) -> None:
    mreq = socket.inet_aton(group) + socket.inet_aton(str(iface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)


def set_multicast_if(sock: socket.socket, iface: ipaddress.IPv4Address) -> None:
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(str(iface)))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)


async def open_collector(sock: socket.socket, handler: Callable[[Datagram], None]
                         ) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Collector(handler), sock=sock)
    return transport


async def read_bounded(reader: asyncio.StreamReader, limit: int, *, until: bytes | None = None
                       ) -> bytes:
    """Read up to `limit` bytes, stopping early at `until` or EOF.  The caller bounds time."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = await reader.read(min(4096, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
        if until is not None and until in buf:
            break
    return bytes(buf)


def header_fields(lines: Iterable[str], *, value_limit: int = 512,
                  joined: frozenset[str] = frozenset()) -> dict[str, str]:
    """`Name: value` header lines (HTTP, RTSP, SSDP: one grammar) as lower-case names, each at
    most 64 characters, to values of at most `value_limit`; a repeated name keeps its first
    value, except the names in `joined`, whose values are all kept, joined by `, `.  The caller
    bounds how many lines it passes."""
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not (sep and name.strip()):
            continue
        key, value = name.strip().lower()[:64], value.strip()[:value_limit]
        if key in joined and key in headers:
            headers[key] += ", " + value
        else:
            headers.setdefault(key, value)
    return headers
