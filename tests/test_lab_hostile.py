"""Hostile simulated devices misbehave as designed (each check bounded by its own timeout)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import defusedxml.ElementTree as SafeET
import httpx
import pytest
from defusedxml import DefusedXmlException

from entityscan.scanners.lab import Lab, load_profiles, run_lab_in_thread
from tests.lab.clients import DHIP_SEARCH, sadp_inquiry, soap, udp_exchange, wsd_probe

CLIENT = "127.30.4.1"
HOSTILE = [p for p in load_profiles() if p.hostile is not None]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with run_lab_in_thread(HOSTILE, base="127.30.4.10") as running:
        yield running


def read_for(sock: socket.socket, seconds: float, limit: int = 1 << 20) -> bytes:
    deadline = time.monotonic() + seconds
    data = b""
    while len(data) < limit and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("protocol", ["http", "rtsp"])
def test_silent_device_accepts_and_never_answers(lab: Lab, protocol: str) -> None:
    dev = lab.device("hostile-silent")
    with socket.create_connection((dev.address, dev.ports[protocol]), timeout=2) as sock:
        verb = "GET / HTTP/1.1" if protocol == "http" else f"OPTIONS {dev.url('rtsp')} RTSP/1.0"
        sock.sendall(f"{verb}\r\nHost: x\r\nCSeq: 1\r\n\r\n".encode())
        assert read_for(sock, 0.8) == b""


def test_drip_device_sends_one_byte_a_second(lab: Lab) -> None:
    dev = lab.device("hostile-drip")
    with socket.create_connection((dev.address, dev.ports["http"]), timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_for(sock, 1.5)
    assert 1 <= len(data) <= 3 and b"HTTP/1.1 200 OK".startswith(data)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(dev.url("http", "/"), timeout=httpx.Timeout(0.5))


def test_huge_device_streams_50_mb(lab: Lab) -> None:
    dev = lab.device("hostile-huge")
    with httpx.stream("GET", dev.url("http", "/"), timeout=5) as reply:
        assert int(reply.headers["content-length"]) == 50 * 1024 * 1024
        received = 0
        for chunk in reply.iter_bytes():
            received += len(chunk)
            if received >= 4 * 1024 * 1024:  # a bounded reader stops here
                break
    assert received >= 4 * 1024 * 1024
    with socket.create_connection((dev.address, dev.ports["http"]), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        total = 0
        while chunk := sock.recv(1 << 20):
            total += len(chunk)
            if total > 60 * 1024 * 1024:
                break
    assert total > 50 * 1024 * 1024


def assert_bomb(data: bytes) -> None:
    assert b"<!DOCTYPE" in data and b"&lol9;" in data
    with pytest.raises(DefusedXmlException):
        SafeET.fromstring(data)


def test_xml_bombs_in_soap_wsd_and_sadp(lab: Lab) -> None:
    dev = lab.device("hostile-xml-bomb")
    reply = httpx.post(dev.url("http", "/onvif/device_service"),
                       content=soap("GetSystemDateAndTime"), timeout=5)
    assert_bomb(reply.content)
    _, probe = wsd_probe(None)
    ((wsd_reply, _),) = udp_exchange(CLIENT, (dev.address, dev.ports["wsd"]), probe)
    assert_bomb(wsd_reply)
    _, inquiry = sadp_inquiry()
    ((sadp_reply, _),) = udp_exchange(CLIENT, (dev.address, dev.ports["sadp"]), inquiry)
    assert_bomb(sadp_reply)


def test_garbage_on_dhip_and_http(lab: Lab) -> None:
    dev = lab.device("hostile-dhip-garbage")
    replies = udp_exchange(CLIENT, (dev.address, dev.ports["dhip"]), DHIP_SEARCH)
    assert len(replies) >= 4
    lying = [d for d, _ in replies if d[4:8] == b"DHIP" and
             int.from_bytes(d[16:20], "little") != len(d) - 32]
    assert lying, "some frames must claim a length they do not have"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(dev.url("http", "/"), timeout=2)


def test_wsd_flood_sends_many_bogus_replies(lab: Lab) -> None:
    dev = lab.device("hostile-wsd-flood")
    message_id, probe = wsd_probe("dn:NetworkVideoTransmitter")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024 * 1024)
    sock.bind((CLIENT, 0))
    try:
        sock.sendto(probe, (dev.address, dev.ports["wsd"]))
        sock.settimeout(0.5)
        replies = []
        while len(replies) < 10_000:
            try:
                replies.append(sock.recv(65535))
            except TimeoutError:
                break
    finally:
        sock.close()
    assert len(replies) >= 100
    parsed, broken, numbers, foreign = 0, 0, set(), 0
    for data in replies:
        try:
            root = SafeET.fromstring(data)
        except (SafeET.ParseError, DefusedXmlException, ValueError):
            broken += 1
            continue
        parsed += 1
        seq = root.find(".//{http://schemas.xmlsoap.org/ws/2005/04/discovery}AppSequence")
        numbers.add(seq.get("MessageNumber") if seq is not None else None)
        relates = root.findtext(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}RelatesTo")
        foreign += relates != message_id
    assert parsed and broken
    # none is a valid xs:unsignedInt message number
    assert not any((n or "").isdigit() and int(n or 0) < 2**32 for n in numbers)
    assert foreign  # some answer a probe nobody sent
