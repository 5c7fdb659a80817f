"""Link, network and transport headers of one captured frame, read by slicing.

This is the per-packet hot path (a multi-gigabyte capture is millions of frames), so it reads
only the fields the passive scan needs, with plain slicing and `struct`, and never raises on a
short or malformed frame: such a frame yields None.  Link types: Ethernet (with 802.1Q/802.1ad
tags), Linux cooked v1/v2, raw IP and BSD loopback.  IPv4 fragments other than the first carry
no transport header and are skipped; IPv6 extension headers are walked (bounded).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

ETH_IP4, ETH_IP6, ETH_ARP, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8
TCP, UDP = 6, 17
ARP = -1
#: IPv6 extension headers walked to reach TCP/UDP: hop-by-hop, routing, destination options.
_IP6_EXTENSIONS = {0, 43, 60}
_HH = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIBB")
LINK_ETHERNET, LINK_SLL, LINK_SLL2, LINK_NULL, LINK_LOOP = 1, 113, 276, 0, 108
LINK_RAW = {101, 12, 14}
LINK_IP4, LINK_IP6 = 228, 229
SUPPORTED_LINKTYPES = {LINK_ETHERNET, LINK_SLL, LINK_SLL2, LINK_NULL, LINK_LOOP,
                       LINK_IP4, LINK_IP6, *LINK_RAW}


class Frame(NamedTuple):
    """One frame's headers: `src`/`dst` are packed addresses (4 or 16 bytes); for ARP, `src`
    is the sender's address and `payload` the sender's MAC."""

    src_mac: bytes | None
    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    seq: int
    flags: int
    payload: bytes


def _link(linktype: int, data: bytes) -> tuple[bytes | None, int, int] | None:
    """(source MAC, ethertype, offset of the network header)."""
    if linktype == LINK_ETHERNET:
        if len(data) < 14:
            return None
        ethertype = (data[12] << 8) | data[13]
        offset = 14
        while ethertype in (ETH_VLAN, ETH_QINQ) and len(data) >= offset + 4:
            ethertype = (data[offset + 2] << 8) | data[offset + 3]
            offset += 4
        return data[6:12], ethertype, offset
    if linktype == LINK_SLL:
        if len(data) < 16:
            return None
        mac = data[6:12] if data[4:6] == b"\x00\x06" else None
        return mac, (data[14] << 8) | data[15], 16
    if linktype == LINK_SLL2:
        if len(data) < 20:
            return None
        mac = data[12:18] if data[11] == 6 else None
        return mac, (data[0] << 8) | data[1], 20
    if linktype in (LINK_NULL, LINK_LOOP):
        # a 4-byte address family in the capturing host's byte order (AF_INET6 differs
        # between systems): the IP version nibble after it says the same, portably
        if len(data) < 5:
            return None
        return None, (ETH_IP4 if data[4] >> 4 == 4 else ETH_IP6), 4
    if linktype in LINK_RAW or linktype in (LINK_IP4, LINK_IP6):
        if not data:
            return None
        return None, (ETH_IP4 if data[0] >> 4 == 4 else ETH_IP6), 0
    return None


def dissect(linktype: int, data: bytes) -> Frame | None:
    """The headers of one frame, or None when it is not ARP/IPv4/IPv6 TCP or UDP (or is too
    short or malformed to read)."""
    link = _link(linktype, data)
    if link is None:
        return None
    src_mac, ethertype, offset = link
    if ethertype == ETH_IP4:
        if len(data) < offset + 20:
            return None
        ihl = (data[offset] & 0x0F) * 4
        if ihl < 20 or data[offset] >> 4 != 4:
            return None
        if ((data[offset + 6] & 0x1F) << 8) | data[offset + 7]:
            return None  # a later fragment: no transport header
        total = (data[offset + 2] << 8) | data[offset + 3]
        end = min(len(data), offset + total) if total >= ihl else len(data)
        proto = data[offset + 9]
        src, dst = data[offset + 12:offset + 16], data[offset + 16:offset + 20]
        offset += ihl
    elif ethertype == ETH_IP6:
        if len(data) < offset + 40 or data[offset] >> 4 != 6:
            return None
        length = (data[offset + 4] << 8) | data[offset + 5]
        proto = data[offset + 6]
        src, dst = data[offset + 8:offset + 24], data[offset + 24:offset + 40]
        end = min(len(data), offset + 40 + length) if length else len(data)
        offset += 40
        hops = 0
        while proto in _IP6_EXTENSIONS and hops < 8 and offset + 2 <= end:
            proto, offset = data[offset], offset + (data[offset + 1] + 1) * 8
            hops += 1
    elif ethertype == ETH_ARP:
        # Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
        if len(data) < offset + 28 or data[offset:offset + 6] != b"\x00\x01\x08\x00\x06\x04":
            return None
        sender_mac = data[offset + 8:offset + 14]
        return Frame(src_mac, data[offset + 14:offset + 18], data[offset + 24:offset + 28],
                     ARP, 0, 0, 0, 0, sender_mac)
    else:
        return None
    if proto == TCP:
        if end < offset + 20:
            return None
        sport, dport, seq, _ack, header, flags = _TCP.unpack_from(data, offset)
        start = offset + (header >> 4) * 4
        if start > end:
            return None
        return Frame(src_mac, src, dst, TCP, sport, dport, seq, flags, data[start:end])
    if proto == UDP:
        if end < offset + 8:
            return None
        sport, dport = _HH.unpack_from(data, offset)
        return Frame(src_mac, src, dst, UDP, sport, dport, 0, 0, data[offset + 8:end])
    return None
