"""Streaming readers for pcap and pcapng capture files, bounded against corrupt lengths.

A capture may be tens of gigabytes: it is read in chunks, never whole.  Every length field is
checked before anything is read on its behalf, because a corrupt or hostile capture can claim a
4 GiB packet (dpkt's readers trust those fields, so the record layer is ours).  A record that
cannot be valid ends the file with a `CaptureError` naming the file and byte offset; the
packets read before it have already been handed on.

    for packet in read_capture(stream, name="site.pcapng"):
        packet.timestamp, packet.linktype, packet.data

Formats: pcap (microsecond and nanosecond, either byte order) and pcapng (sections, several
interfaces with their own link type and timestamp resolution, enhanced, simple and obsolete
packet blocks; other blocks are skipped).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from entityscan.scanners.errors import ScannerError

#: Larger captured packets are not real frames (jumbo frames and TSO captures stay below).
MAX_PACKET = 256 * 1024
#: Non-packet pcapng blocks (name resolution, statistics, comments) are skipped up to this size.
MAX_BLOCK = 16 * 1024 * 1024
CHUNK = 1024 * 1024

PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
              b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


class Readable(Protocol):
    """What the readers need of a stream: a file, a pipe or a decompressing file."""

    def read(self, size: int = -1, /) -> bytes: ...


class CaptureError(ScannerError):
    """A capture file is not pcap/pcapng, or is corrupt at a named offset.  `truncated`: it
    only ends inside a record (a capture stopped mid-write), everything before was read."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


@dataclass(frozen=True, slots=True)
class Packet:
    timestamp: float
    linktype: int
    data: bytes


class _Chunks:
    """A read buffer over a stream: `take(n)` returns exactly n bytes or None at the end."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream
        self.buf = b""
        self.pos = 0
        self.offset = 0  # file offset of buf[0]

    def take(self, size: int) -> bytes | None:
        end = self.pos + size
        if end > len(self.buf):
            self._fill(size)
            end = self.pos + size
            if end > len(self.buf):
                return None
        data = self.buf[self.pos:end]
        self.pos = end
        return data

    def skip(self, size: int) -> bool:
        while size > 0:
            if self.pos >= len(self.buf):
                self._fill(1)
                if self.pos >= len(self.buf):
                    return False
            step = min(size, len(self.buf) - self.pos)
            self.pos += step
            size -= step
        return True

    def _fill(self, size: int) -> None:
        rest = self.buf[self.pos:]
        self.offset += self.pos
        self.pos = 0
        parts = [rest]
        have = len(rest)
        while have < size:
            more = self.stream.read(max(CHUNK, size - have))
            if not more:
                break
            parts.append(more)
            have += len(more)
        self.buf = b"".join(parts)

    @property
    def at(self) -> int:
        return self.offset + self.pos

    def left(self) -> int:
        """Bytes still buffered (after an end, the size of a truncated tail)."""
        return len(self.buf) - self.pos


def read_capture(stream: Readable, *, name: str) -> Iterator[Packet]:
    """Packets of one pcap or pcapng stream, in file order."""
    chunks = _Chunks(stream)
    head = chunks.take(4)
    if head is None:
        raise CaptureError(f"{name}: empty or shorter than a capture header")
    if head in PCAP_MAGIC:
        yield from _pcap(chunks, head, name)
    elif head == PCAPNG_SHB:
        yield from _pcapng(chunks, head, name)
    else:
        raise CaptureError(f"{name}: not a pcap or pcapng capture (starts with "
                           f"{head.hex()}); write captures with tcpdump -w or tshark -w")


def _truncated(name: str, chunks: _Chunks, count: int) -> CaptureError:
    return CaptureError(f"{name}: truncated at byte {chunks.at} after {count} packets (the "
                        f"capture ends inside a record; the packets before it were read)",
                        truncated=True)


def _pcap(chunks: _Chunks, magic: bytes, name: str) -> Iterator[Packet]:
    order, unit = PCAP_MAGIC[magic]
    header = chunks.take(20)
    if header is None:
        raise CaptureError(f"{name}: truncated pcap file header")
    _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", header)
    linktype = network & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    limit = MAX_PACKET
    count = 0
    take = chunks.take
    while True:
        raw = take(16)
        if raw is None:
            if chunks.left():
                raise _truncated(name, chunks, count)
            return
        seconds, fraction, caplen, _origlen = record.unpack(raw)
        if caplen > limit:
            raise CaptureError(
                f"{name}: byte {chunks.at - 16}: packet {count + 1} claims {caplen} captured "
                f"bytes (snaplen {snaplen}, at most {limit} accepted): corrupt record; the "
                f"{count} packets before it were read")
        data = take(caplen)
        if data is None:
            raise _truncated(name, chunks, count)
        count += 1
        yield Packet(seconds + fraction * unit, linktype, data)


@dataclass
class _Interface:
    linktype: int
    unit: float


def _tsresol(options: bytes, order: str) -> float:
    """The `if_tsresol` option of an Interface Description Block (default microseconds)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, pos)
        pos += 4
        if code == 0:
            break
        if code == 9 and length >= 1 and pos < len(options):
            value = options[pos]
            exponent = value & 0x7F
            if exponent > 30:
                return 1e-6  # nonsense resolution: keep the default
            return 2.0 ** -exponent if value & 0x80 else 10.0 ** -exponent
        pos += (length + 3) & ~3
    return 1e-6


def _pcapng(chunks: _Chunks, first: bytes, name: str) -> Iterator[Packet]:
    order = "<"
    interfaces: list[_Interface] = []
    count = 0
    block_type: bytes | None = first
    while True:
        if block_type is None:
            raw = chunks.take(4)
            if raw is None:
                if chunks.left():
                    raise _truncated(name, chunks, count)
                return
            block_type = raw
        start = chunks.at - 4
        length_raw = chunks.take(4)
        if length_raw is None:
            raise _truncated(name, chunks, count)
        if block_type == PCAPNG_SHB:
            magic = chunks.take(4)
            if magic is None:
                raise _truncated(name, chunks, count)
            if magic == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise CaptureError(f"{name}: byte {start}: section header with a bad byte-order "
                                   "magic: corrupt pcapng")
            (length,) = struct.unpack(order + "I", length_raw)
            interfaces = []  # interface ids restart in every section
            _check_length(name, start, length, count)
            if not chunks.skip(length - 12):
                raise _truncated(name, chunks, count)
            block_type = None
            continue
        (kind,) = struct.unpack(order + "I", block_type)
        (length,) = struct.unpack(order + "I", length_raw)
        _check_length(name, start, length, count)
        body_size = length - 12
        if kind in (6, 3, 2) or kind == 1:
            if body_size > MAX_PACKET + 4096:
                raise CaptureError(f"{name}: byte {start}: packet block of {length} bytes "
                                   f"(at most {MAX_PACKET} captured bytes accepted): corrupt "
                                   f"block; the {count} packets before it were read")
            body = chunks.take(body_size)
            if body is None or chunks.take(4) is None:
                raise _truncated(name, chunks, count)
            packet = _packet_block(kind, body, order, interfaces, name, start)
            if packet is not None:
                count += 1
                yield packet
        elif not chunks.skip(body_size + 4):
            raise _truncated(name, chunks, count)
        block_type = None


def _check_length(name: str, start: int, length: int, count: int) -> None:
    if length < 12 or length % 4 or length > MAX_BLOCK:
        raise CaptureError(f"{name}: byte {start}: block length {length} is invalid (must be "
                           f"a multiple of 4 between 12 and {MAX_BLOCK}): corrupt pcapng; the "
                           f"{count} packets before it were read")


def _packet_block(kind: int, body: bytes, order: str, interfaces: list[_Interface],
                  name: str, start: int) -> Packet | None:
    if kind == 1:  # Interface Description Block
        if len(body) < 8:
            raise CaptureError(f"{name}: byte {start}: interface description too short")
        linktype = struct.unpack_from(order + "H", body, 0)[0]
        interfaces.append(_Interface(linktype, _tsresol(body[8:], order)))
        return None
    if kind == 3:  # Simple Packet Block: first interface, no timestamp
        if not interfaces or len(body) < 4:
            return None
        (origlen,) = struct.unpack_from(order + "I", body, 0)
        return Packet(0.0, interfaces[0].linktype, body[4:4 + origlen])
    # the obsolete Packet Block has a 16-bit interface id and a drops count
    header = "IIIII" if kind == 6 else "HHIIII"
    fields = struct.unpack_from(order + header, body, 0) if len(body) >= 20 else None
    if fields is None:
        raise CaptureError(f"{name}: byte {start}: packet block too short")
    if kind == 6:
        interface_id, high, low, caplen, _origlen = fields
    else:
        interface_id, _drops, high, low, caplen, _origlen = fields
    if interface_id >= len(interfaces):
        raise CaptureError(f"{name}: byte {start}: packet names interface {interface_id}, but "
                           f"only {len(interfaces)} were described: corrupt pcapng")
    if caplen > len(body) - 20:
        raise CaptureError(f"{name}: byte {start}: packet claims {caplen} captured bytes in a "
                           f"block of {len(body) + 12}: corrupt pcapng")
    iface = interfaces[interface_id]
    return Packet(((high << 32) | low) * iface.unit, iface.linktype, body[20:20 + caplen])
