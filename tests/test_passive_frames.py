"""The passive scan's frame and stream readers on the link types and HTTP shapes real captures
hold: Linux cooked captures (`tcpdump -i any`), BSD loopback, raw IP, 802.1Q tags, IPv6; HEAD
answers, interim 100 Continue, chunked bodies and pipelined responses."""

from __future__ import annotations

import struct

import dpkt

from entityscan.scanners.passive.frames import TCP, UDP, dissect
from entityscan.scanners.passive.streams import Response, StreamTable
from tests.passive_frames import packed, tcp, udp

SRC, DST = "10.248.9.10", "10.248.9.2"
MAC = "44:19:b6:6d:24:0a"


def _ip_part(frame: bytes) -> bytes:
    return frame[14:]


def test_link_types_reach_the_same_headers() -> None:
    frame = udp(SRC, DST, 37020, 37020, b"payload", src_mac=MAC)
    ip = _ip_part(frame)
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex(MAC.replace(":", "")) + b"\0\0",
                      0x0800) + ip
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 6,
                       bytes.fromhex(MAC.replace(":", "")) + b"\0\0") + ip
    loop_le, loop_be = struct.pack("<I", 2) + ip, struct.pack(">I", 2) + ip
    vlan = frame[:12] + b"\x81\x00\x00\x07" + frame[12:]
    cases = {1: frame, 113: sll, 276: sll2, 0: loop_le, 108: loop_be, 101: ip, 228: ip}
    cases_vlan = {1: vlan}
    for linktype, data in [*cases.items(), *cases_vlan.items()]:
        parsed = dissect(linktype, data)
        assert parsed is not None, linktype
        assert (parsed.src, parsed.dst, parsed.proto, parsed.sport, parsed.payload) == (
            packed(SRC), packed(DST), UDP, 37020, b"payload"), linktype
        if linktype in (1, 113, 276):
            assert parsed.src_mac == bytes.fromhex(MAC.replace(":", ""))


def test_ipv6_and_later_fragments() -> None:
    six = dissect(1, tcp("fd00::10", "fd00::2", 80, 40000, b"HTTP/1.1 200 OK\r\n\r\n"))
    assert six is not None and six.proto == TCP and six.src == packed("fd00::10")
    fragment = bytearray(udp(SRC, DST, 37020, 37020, b"x" * 40))
    fragment[14 + 6:14 + 8] = b"\x00\x10"  # fragment offset 16: no UDP header here
    assert dissect(1, bytes(fragment)) is None


def _table() -> tuple[StreamTable, list[Response]]:
    seen: list[Response] = []
    return StreamTable(seen.append, lambda *a: None), seen


def _client(table: StreamTable, request: bytes) -> None:
    table.segment(packed(DST), 40000, packed(SRC), 80, 1, 0x18, request)


def test_head_interim_chunked_and_pipelined_answers() -> None:
    table, seen = _table()
    _client(table, b"HEAD / HTTP/1.1\r\n\r\n")
    _client(table, b"POST /onvif/device_service HTTP/1.1\r\nExpect: 100-continue\r\n\r\n")
    _client(table, b"GET /doc/page/login.asp HTTP/1.1\r\n\r\n")
    answers = (b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 5000\r\n\r\n"
               b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n<Env>\r\n3\r\nabc\r\n0\r\n\r\n"
               b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"x\"\r\n"
               b"Content-Length: 0\r\n\r\n")
    table.segment(packed(SRC), 80, packed(DST), 40000, 7, 0x18, answers)
    shown = [(r.status, r.request, r.body) for r in seen]
    assert shown == [(200, ("HEAD", "/"), b""),
                     (100, ("POST", "/onvif/device_service"), b""),
                     (200, ("POST", "/onvif/device_service"), b"<Env>abc"),
                     (401, ("GET", "/doc/page/login.asp"), b"")]


def test_a_gap_that_never_fills_is_read_up_to_the_gap() -> None:
    table, seen = _table()
    head = b"HTTP/1.1 200 OK\r\nServer: DNVRS-Webs\r\n\r\n<html>"
    table.segment(packed(SRC), 80, packed(DST), 40000, 100, 0x18, head)
    table.segment(packed(SRC), 80, packed(DST), 40000, 100 + len(head) + 50, 0x18, b"late")
    table.finish_all()
    assert [(r.headers.get("server"), r.body, r.truncated) for r in seen] == [
        ("DNVRS-Webs", b"<html>", False)]


def test_dpkt_frames_used_by_the_tests_are_well_formed() -> None:
    # the helpers must build what real stacks send (checksums aside): IPv4 length fields
    frame = dpkt.ethernet.Ethernet(udp(SRC, DST, 1, 2, b"abc"))
    assert frame.data.len == 20 + 8 + 3 and frame.data.data.ulen == 8 + 3
