"""The scan core against tiny inline device servers on loopback (127.40.1.0/24): two good
devices and one of each hostile kind.  The scan ends within its deadline, identifies the good
devices, reports every hostile one unreadable, and memory stays bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import resource
import threading
import time
from collections.abc import Iterator

import pytest

from entityscan.scanners.discovery import dhip
from entityscan.scanners.scan import PortPlan, ScanOptions, scan

NET = "127.40.1"
HTTP, RTSP = 18080, 18554
HIK, DAHUA = f"{NET}.10", f"{NET}.11"
SILENT, DRIP, HUGE, SOAP_BOMB, SADP_BOMB, DHIP_GARBAGE, WSD_FLOOD = (
    f"{NET}.{n}" for n in range(20, 27))

SADP_REPLY = (
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<ProbeMatch>\r\n<Uuid>{uuid}</Uuid>"
    "<Types>inquiry</Types><DeviceType>138153</DeviceType>"
    "<DeviceDescription>DS-2CD2143G2-I</DeviceDescription>"
    "<DeviceSN>DS-2CD2143G2-I20220315AAWR123456789</DeviceSN><MAC>44-19-b6-6d-24-0a</MAC>"
    "<SoftwareVersion>V5.7.3build 220315</SoftwareVersion><OEMInfo>N/A</OEMInfo></ProbeMatch>")
BOMB = (b'<?xml version="1.0"?><!DOCTYPE z [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>')
DHIP_REPLY = dhip.frame(json.dumps({
    "mac": "3c:ef:8c:12:34:56", "method": "client.notifyDevInfo", "params": {"deviceInfo": {
        "DeviceClass": "IPC", "DeviceType": "IPC-HDW5442TM-AS", "SerialNo": "6G0A5B7PAZ12345",
        "Vendor": "General", "Manufacturer": "Private", "Version": "2.800.0000000.0.R"}}}
).encode())


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, answer: object):
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for reply in self.answer(data):  # type: ignore[operator]
            self.transport.sendto(reply, addr)  # type: ignore[attr-defined]


def _sadp_answer(data: bytes) -> list[bytes]:
    uuid = data.split(b"<Uuid>")[1].split(b"</Uuid>")[0].decode()
    return [SADP_REPLY.format(uuid=uuid).encode()]


def _flood(data: bytes) -> list[bytes]:
    bogus = [b"<not xml", b"\xff\xfe\x00garbage", BOMB + b"<Envelope/>",
             b'<Envelope><MessageNumber>x</MessageNumber></Envelope>']
    return [bogus[i % len(bogus)] + str(i).encode() for i in range(300)]


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ")[:2]
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            if kind == "silent":
                await asyncio.sleep(3600)
            if kind == "drip":
                for byte in b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\n" * 100:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.2)
            if kind == "huge":
                size = 50 * 1024 * 1024
                writer.write(b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: "
                             + str(size).encode() + b"\r\n\r\n")
                chunk = b"x" * 65536
                for _ in range(size // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
                return
            if kind == "soap-bomb" and method == b"POST":
                body = BOMB + b"<Envelope>&c;</Envelope>"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            elif path.startswith(b"/ISAPI"):
                writer.write(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest '
                             b'realm="IP Camera(23456)", nonce="n", qop="auth"\r\n'
                             b"Content-Length: 0\r\n\r\n")
            else:
                body = b"<html><head><title></title></head></html>"
                writer.write(b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):
            writer.close()


async def _rtsp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            cseq = next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"cseq"))
            writer.write(b"RTSP/1.0 401 Unauthorized\r\n" + cseq + b"\r\nServer: Dahua Rtsp "
                         b'Server\r\nWWW-Authenticate: Digest realm="Login to 6G0A5B7PAZ12345"'
                         b"\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _start(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for address, kind in ((HIK, "ok"), (SILENT, "silent"), (DRIP, "drip"), (HUGE, "huge"),
                          (SOAP_BOMB, "soap-bomb")):
        servers.append(await asyncio.start_server(
            lambda r, w, k=kind: _http(r, w, k), address, HTTP))
    servers.append(await asyncio.start_server(_rtsp, DAHUA, RTSP))
    servers.append(await asyncio.start_server(lambda r, w: _http(r, w, "silent"), SILENT, RTSP))
    udp = [(HIK, 37020, _sadp_answer), (DAHUA, 37810, lambda d: [DHIP_REPLY]),
           (SADP_BOMB, 37020, lambda d: [BOMB + b"<ProbeMatch>&c;</ProbeMatch>"]),
           (DHIP_GARBAGE, 37810, lambda d: [b"\x00", b"DHIP" * 9, dhip.frame(b"{broken")]),
           (WSD_FLOOD, 3702, _flood)]
    transports = []
    for address, port, answer in udp:
        transport, _ = await loop.create_datagram_endpoint(lambda a=answer: _Udp(a),
                                                           local_addr=(address, port))
        transports.append(transport)
    await stop.wait()
    for server in servers:
        server.close()
    for transport in transports:
        transport.close()
    handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)


@pytest.fixture(scope="module")
def lab() -> Iterator[None]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(_start(stop))
        loop.call_soon(ready.set)
        loop.run_until_complete(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.3)
    yield
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)


def test_hostile_devices_never_stall_and_end_unreadable(lab: None) -> None:
    deadline = 10.0
    options = ScanOptions(timeout=deadline, multicast=False, device_budget=4.0,
                          ports=PortPlan.parse([f"http:{HTTP}", f"rtsp:{RTSP}"]))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    inventory = scan([f"{NET}.1-40"], options)
    elapsed = time.monotonic() - started
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert elapsed < deadline + 0.5, elapsed
    assert rss_growth_mb < 60, rss_growth_mb
    by_address = {d.addresses[0]: d for d in inventory.devices}
    hik, dahua = by_address[HIK], by_address[DAHUA]
    assert (hik.maker, hik.platform, hik.model, hik.mac) == (
        "Hikvision", "Hikvision", "DS-2CD2143G2-I", "44:19:b6:6d:24:0a")
    assert hik.readable and hik.serial == "DS-2CD2143G2-I20220315AAWR123456789"
    assert (dahua.maker, dahua.model, dahua.readable) == ("Dahua", "IPC-HDW5442TM-AS", True)
    assert {"sadp"} <= set(hik.model_extra["discovered_by"])
    assert any(e.probe == "rtsp" and e.indicates == "Dahua" for e in dahua.evidence)
    for address in (SILENT, DRIP, HUGE, SOAP_BOMB, SADP_BOMB, DHIP_GARBAGE, WSD_FLOOD):
        device = by_address.get(address)
        assert device is not None, f"{address} not reported"
        assert not device.readable and device.errors, (address, device)
        assert device.maker is None, (address, device.maker)
    assert any("larger than" in e for e in by_address[HUGE].errors)
    assert any("hostile SOAP" in e for e in by_address[SOAP_BOMB].errors)
    flood = by_address[WSD_FLOOD].errors
    assert any(e.startswith("wsd: flooded the scanner (") for e in flood), flood
    assert any(re.fullmatch(r"wsd: \d+ unreadable replies \(malformed, hostile or oversized\)",
                            e) for e in flood), flood
    assert set(by_address) == {HIK, DAHUA, SILENT, DRIP, HUGE, SOAP_BOMB, SADP_BOMB,
                               DHIP_GARBAGE, WSD_FLOOD}


def test_deadline_is_kept_even_when_probing_is_cut_short(lab: None) -> None:
    options = ScanOptions(timeout=2.0, multicast=False, device_budget=30.0,
                          ports=PortPlan.parse([f"http:{HTTP}", f"rtsp:{RTSP}"]))
    started = time.monotonic()
    inventory = scan([SILENT, DRIP, HIK], options)
    assert time.monotonic() - started < 3.0
    by_address = {d.addresses[0]: d for d in inventory.devices}
    assert not by_address[SILENT].readable and not by_address[DRIP].readable
    assert by_address[HIK].maker == "Hikvision"  # SADP answered before the cut
