"""UPnP for one simulated device: SSDP search answers on UDP 1900 and the device-description
XML on its own HTTP port (UPnP Device Architecture 1.0: M-SEARCH with `MAN: "ssdp:discover"`,
answered by a unicast `HTTP/1.1 200 OK` carrying `LOCATION`, `ST`, `USN`, `SERVER`)."""

from __future__ import annotations

import asyncio
import contextlib
from xml.sax.saxutils import escape

from entityscan.scanners.lab import hostile as payloads
from entityscan.scanners.lab import tcp
from entityscan.scanners.lab.device import SimDevice

GROUP = "239.255.255.250"
MAX_SEARCH = 2048
ROOT_DEVICE = "upnp:rootdevice"


def _search_target(data: bytes) -> str | None:
    """The ST of an M-SEARCH, or None when the datagram is not one."""
    if len(data) > MAX_SEARCH:
        return None
    lines = data.decode("latin-1").split("\r\n")
    if not lines or not lines[0].upper().startswith("M-SEARCH * HTTP/1.1"):
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().upper()] = value.strip()
    if headers.get("MAN", "").strip('"') != "ssdp:discover":
        return None
    return headers.get("ST", "")


def ssdp_handler(device: SimDevice):  # -> udp.Handler
    spec = device.profile.upnp
    assert spec is not None

    def handle(data: bytes, addr: tuple[str, int], _multicast: bool
               ) -> list[tuple[bytes, tuple[str, int]]]:
        target = _search_target(data)
        device_type = device.render(spec.device_type)
        if target not in ("ssdp:all", ROOT_DEVICE, device_type):
            return []
        udn = device.render(spec.udn)
        st = ROOT_DEVICE if target in ("ssdp:all", ROOT_DEVICE) else device_type
        location = f"http://{device.address}:{device.ports['upnp']}{spec.path}"
        reply = ("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
                 f"LOCATION: {location}\r\nSERVER: {device.render(spec.server)}\r\n"
                 f"ST: {st}\r\nUSN: {udn}::{st}\r\n\r\n")
        return [(reply.encode("latin-1", "replace"), addr)]

    return handle


def description(device: SimDevice) -> bytes:
    spec = device.profile.upnp
    assert spec is not None
    fields = [("deviceType", spec.device_type), ("friendlyName", spec.friendly_name),
              ("manufacturer", spec.manufacturer), ("manufacturerURL", spec.manufacturer_url),
              ("modelDescription", spec.model_description), ("modelName", spec.model_name),
              ("modelNumber", spec.model_number), ("serialNumber", spec.serial),
              ("UDN", spec.udn), ("presentationURL", spec.presentation_url)]
    inner = "".join(f"<{name}>{escape(device.render(value))}</{name}>"
                    for name, value in fields if value is not None)
    return ('<?xml version="1.0"?>\r\n<root xmlns="urn:schemas-upnp-org:device-1-0">'
            "<specVersion><major>1</major><minor>0</minor></specVersion>"
            f"<device>{inner}</device></root>\r\n").encode()


async def serve_description(device: SimDevice, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
    spec = device.profile.upnp
    assert spec is not None
    mode = device.profile.hostile.upnp if device.profile.hostile else None
    try:
        request = await tcp.read_request(reader)
        if request is None:
            return
        if mode == "huge":
            size = device.profile.hostile.huge_body_bytes if device.profile.hostile else 0
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {size}"
                         "\r\n\r\n".encode())
            chunk = b"<root>" + b"A" * 65530
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()
            return
        if request.path != spec.path:
            body, status = b"", "404 Not Found"
        elif mode == "xml-bomb":
            body, status = payloads.upnp_bomb(), "200 OK"
        else:
            body, status = description(device), "200 OK"
        writer.write(f"HTTP/1.1 {status}\r\nCONTENT-TYPE: text/xml; charset=\"utf-8\"\r\n"
                     f"SERVER: {device.render(spec.server)}\r\nCONTENT-LENGTH: {len(body)}\r\n"
                     "CONNECTION: close\r\n\r\n".encode("latin-1", "replace") + body)
        await writer.drain()
    except (tcp.BadRequest, ConnectionError, OSError, TimeoutError,
            asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)
