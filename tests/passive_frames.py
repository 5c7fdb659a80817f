"""Frames and capture files for the passive-scan tests and benchmark, built with dpkt.

    w = CaptureWriter(path)                       # pcap; CaptureWriter(path, ng=True): pcapng
    w.add(udp(DEV, CLIENT, 37020, 37020, payload, src_mac=MAC))
    w.add(*tcp_stream(DEV, CLIENT, 80, 40000, b"HTTP/1.1 200 OK\r\n...", segment=100))
    w.close()

Addresses are text; MACs `aa:bb:cc:dd:ee:ff`.  Only test data: nothing here is shipped.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import dpkt

CLIENT_MAC = "02:00:00:00:00:01"


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def ether(payload: dpkt.Packet, src_mac: str, dst_mac: str = "ff:ff:ff:ff:ff:ff",
          ethertype: int = dpkt.ethernet.ETH_TYPE_IP) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=_mac(src_mac), dst=_mac(dst_mac), type=ethertype,
                                        data=payload))


def _ip_packet(src: str, dst: str, proto: int, l4: dpkt.Packet) -> dpkt.Packet:
    if ":" in src:
        return dpkt.ip6.IP6(src=_ip(src), dst=_ip(dst), nxt=proto, hlim=64, data=l4,
                            plen=len(bytes(l4)))
    return dpkt.ip.IP(src=_ip(src), dst=_ip(dst), p=proto, ttl=64, data=l4)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes, *,
        src_mac: str = CLIENT_MAC) -> bytes:
    segment = dpkt.udp.UDP(sport=sport, dport=dport, ulen=8 + len(payload), data=payload)
    packet = _ip_packet(src, dst, dpkt.ip.IP_PROTO_UDP, segment)
    return ether(packet, src_mac, ethertype=dpkt.ethernet.ETH_TYPE_IP6 if ":" in src
                 else dpkt.ethernet.ETH_TYPE_IP)


def tcp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *, seq: int = 1000,
        flags: int = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, src_mac: str = CLIENT_MAC) -> bytes:
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=1, flags=flags,
                           data=payload)
    return ether(_ip_packet(src, dst, dpkt.ip.IP_PROTO_TCP, segment), src_mac,
                 ethertype=dpkt.ethernet.ETH_TYPE_IP6 if ":" in src
                 else dpkt.ethernet.ETH_TYPE_IP)


def tcp_stream(src: str, dst: str, sport: int, dport: int, data: bytes, *, segment: int = 1400,
               seq: int = 5000, src_mac: str = CLIENT_MAC, fin: bool = True) -> list[bytes]:
    """`data` sent from src:sport in segments of `segment` bytes (then FIN)."""
    frames = []
    for offset in range(0, len(data), segment):
        frames.append(tcp(src, dst, sport, dport, data[offset:offset + segment],
                          seq=seq + offset, src_mac=src_mac))
    if fin:
        frames.append(tcp(src, dst, sport, dport, b"", seq=seq + len(data),
                          flags=dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK, src_mac=src_mac))
    return frames


def arp_reply(address: str, mac: str, target: str = "10.0.0.1") -> bytes:
    arp = dpkt.arp.ARP(op=dpkt.arp.ARP_OP_REPLY, sha=_mac(mac), spa=_ip(address),
                       tha=_mac(CLIENT_MAC), tpa=_ip(target))
    return ether(arp, mac, CLIENT_MAC, ethertype=dpkt.ethernet.ETH_TYPE_ARP)


def dhcp_request(mac: str, *, hostname: str | None = None, vendor: str | None = None,
                 requested: str | None = None, params: bytes = b"\x01\x03\x06\x0c\x0f\x1c"
                 ) -> bytes:
    opts = [(dpkt.dhcp.DHCP_OPT_MSGTYPE, bytes([dpkt.dhcp.DHCPREQUEST])),
            (dpkt.dhcp.DHCP_OPT_PARAM_REQ, params)]
    if hostname:
        opts.append((dpkt.dhcp.DHCP_OPT_HOSTNAME, hostname.encode()))
    if vendor:
        opts.append((dpkt.dhcp.DHCP_OPT_VENDOR_ID, vendor.encode()))
    if requested:
        opts.append((dpkt.dhcp.DHCP_OPT_REQ_IP, _ip(requested)))
    message = dpkt.dhcp.DHCP(op=dpkt.dhcp.DHCP_OP_REQUEST, chaddr=_mac(mac), opts=opts,
                             xid=0x1234)
    return udp("0.0.0.0", "255.255.255.255", 68, 67, bytes(message), src_mac=mac)


def tls_server_flight(certificate_der: bytes, *, version: int = 0x0303) -> bytes:
    """ServerHello + Certificate + ServerHelloDone records (TLS 1.2 shape)."""
    hello = version.to_bytes(2, "big") + b"\x11" * 32 + b"\x00" + b"\xc0\x2f" + b"\x00" + \
        b"\x00\x00"
    cert_list = len(certificate_der).to_bytes(3, "big") + certificate_der
    certificate = len(cert_list).to_bytes(3, "big") + cert_list

    def message(kind: int, body: bytes) -> bytes:
        return bytes([kind]) + len(body).to_bytes(3, "big") + body

    handshake = message(2, hello) + message(11, certificate) + message(14, b"")
    records = b""
    for offset in range(0, len(handshake), 16384):
        chunk = handshake[offset:offset + 16384]
        records += b"\x16\x03\x03" + len(chunk).to_bytes(2, "big") + chunk
    return records


class CaptureWriter:
    """Frames into a pcap (or pcapng) file, timestamps one millisecond apart."""

    def __init__(self, path: Path, *, ng: bool = False, start: float = 1_700_000_000.0):
        self.stream = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.writer = (dpkt.pcapng.Writer(self.stream, snaplen=65535) if ng
                       else dpkt.pcap.Writer(self.stream, snaplen=65535))
        self.time = start

    def add(self, *frames: bytes) -> None:
        for frame in frames:
            self.writer.writepkt(frame, ts=self.time)
            self.time += 0.001

    def close(self) -> None:
        self.stream.close()


def packed(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
