"""Scan targets: addresses, CIDRs and ranges, expanded lazily and bounded.

Accepted forms (IPv4 and IPv6 where it makes sense):

- an address: ``10.0.0.7``, ``fe80::1``
- a CIDR: ``10.0.0.0/24`` (network and broadcast addresses are skipped for IPv4 prefixes
  shorter than /31, as no device answers there)
- a full range: ``10.0.0.1-10.0.0.50``
- a short range on the last octet: ``10.0.0.1-50``

A `TargetSet` never materialises its addresses: it iterates them lazily and answers membership
in constant time per spec, so a /16 costs nothing until it is swept.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from entityscan.scanners.errors import ScannerError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Default upper bound on the number of addresses one scan may cover (a /16 is 65,536).
DEFAULT_MAX_ADDRESSES = 1 << 17


class TargetError(ScannerError, ValueError):
    """A target specification cannot be understood or is too large."""


@dataclass(frozen=True)
class TargetSpec:
    """One user-given target: an inclusive address range with its original text."""

    text: str
    first: IPAddress
    last: IPAddress

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __contains__(self, address: object) -> bool:
        try:
            ip = address if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address) \
                else ipaddress.ip_address(str(address).split("%", 1)[0])
        except ValueError:
            return False
        return ip.version == self.first.version and int(self.first) <= int(ip) <= int(self.last)

    def __iter__(self) -> Iterator[IPAddress]:
        cls = type(self.first)
        for value in range(int(self.first), int(self.last) + 1):
            yield cls(value)


def parse_target(text: str) -> TargetSpec:
    """Parse one target; raise `TargetError` naming the text and what is wrong with it."""
    raw = text.strip()
    if not raw:
        raise TargetError("empty target: give an address, a CIDR (10.0.0.0/24) or a range "
                          "(10.0.0.1-50)")
    try:
        if "/" in raw:
            net = ipaddress.ip_network(raw, strict=False)
            first, last = net.network_address, net.broadcast_address
            if net.version == 4 and net.prefixlen < 31:
                first, last = first + 1, last - 1
            return TargetSpec(raw, first, last)
        if "-" in raw:
            left, right = (part.strip() for part in raw.split("-", 1))
            start = ipaddress.ip_address(left)
            if right.isdigit() and start.version == 4:
                octet = int(right)
                if octet > 255:
                    raise TargetError(f"target {raw!r}: last octet {octet} is above 255")
                end: IPAddress = ipaddress.IPv4Address((int(start) & ~0xFF) | octet)
            else:
                end = ipaddress.ip_address(right)
            if end.version != start.version:
                raise TargetError(f"target {raw!r}: both ends must be IPv4 or both IPv6")
            if int(end) < int(start):
                raise TargetError(f"target {raw!r}: the range ends before it starts")
            return TargetSpec(raw, start, end)
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        return TargetSpec(raw, address, address)
    except TargetError:
        raise
    except ValueError as exc:
        raise TargetError(f"target {raw!r} is not an address, CIDR or range ({exc})") from None


class TargetSet:
    """The union of several target specs: lazy, de-duplicated iteration and fast membership."""

    def __init__(self, specs: Iterable[TargetSpec], *, max_addresses: int = DEFAULT_MAX_ADDRESSES):
        self.specs = list(specs)
        if not self.specs:
            raise TargetError("no targets given")
        total = sum(spec.size for spec in self.specs)
        if total > max_addresses:
            raise TargetError(
                f"targets cover {total:,} addresses, more than the limit of {max_addresses:,}; "
                "split the scan or narrow the ranges")
        self.upper_bound = total

    @classmethod
    def parse(cls, texts: Iterable[str], *, max_addresses: int = DEFAULT_MAX_ADDRESSES
              ) -> TargetSet:
        return cls((parse_target(text) for text in texts), max_addresses=max_addresses)

    @property
    def texts(self) -> list[str]:
        return [spec.text for spec in self.specs]

    def __contains__(self, address: object) -> bool:
        return any(address in spec for spec in self.specs)

    def __len__(self) -> int:
        """An upper bound: overlapping specs are counted once per spec."""
        return self.upper_bound

    def __iter__(self) -> Iterator[IPAddress]:
        for index, spec in enumerate(self.specs):
            earlier = self.specs[:index]
            for address in spec:
                # Overlaps are rare; checking earlier specs keeps iteration lazy and unique.
                if not any(address in other for other in earlier):
                    yield address

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The smallest networks covering every spec (for matching local interfaces)."""
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for spec in self.specs:
            nets.extend(ipaddress.summarize_address_range(spec.first, spec.last))
        return nets
