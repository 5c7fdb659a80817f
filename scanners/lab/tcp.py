"""HTTP/1.1 (keep-alive), HTTPS and RTSP servers for one simulated device (asyncio streams)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from entityscan.scanners.lab import auth, onvif
from entityscan.scanners.lab.device import SimDevice

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
IDLE_TIMEOUT_S = 30.0
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large", 454: "Session Not Found",
           500: "Internal Server Error"}


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


class BadRequest(Exception):
    pass


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request, or None on a clean EOF.  Bounded in size and idle time."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("truncated request") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise BadRequest("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise BadRequest(f"bad request line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("bad header line")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length", "0")
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise BadRequest("bad or too large Content-Length")
    body = await asyncio.wait_for(reader.readexactly(int(length)), IDLE_TIMEOUT_S)
    return Request(parts[0].upper(), parts[1], parts[2].upper(), headers, body)


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 2)


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _drip(writer: asyncio.StreamWriter, head: bytes, interval: float) -> None:
    """Send `head`, then an endless header value, one byte per `interval`."""
    for byte in head:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(interval)
    while True:
        writer.write(b"a")
        await writer.drain()
        await asyncio.sleep(interval)


# -- HTTP ------------------------------------------------------------------------------
def _http_response(device: SimDevice, status: int, headers: list[tuple[str, str]],
                   body: bytes, head_only: bool, keep_alive: bool) -> bytes:
    spec = device.profile.http
    out = [(k, v) for k, v in headers]
    if spec is not None and spec.server:
        out.insert(0, ("Server", device.render(spec.server)))
    out.append(("Date", format_datetime(datetime.now(UTC), usegmt=True)))
    if spec is not None:
        out.extend((k, device.render(v)) for k, v in spec.headers.items())
    out.append(("Content-Length", str(len(body))))
    out.append(("Connection", "keep-alive" if keep_alive else "close"))
    upper = spec is not None and spec.upper_case_headers
    if upper:
        out = [(k.upper(), v) for k, v in out]
    if spec is not None and spec.header_order:
        out = _in_order(out, spec.header_order)
    version = spec.version if spec is not None else "HTTP/1.1"
    lines = [f"{version} {status} {REASONS.get(status, 'OK')}"]
    lines += [f"{k}: {v}" for k, v in out]
    # Head and body in one write: one segment per response (the Nagle pitfall).
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


def _in_order(headers: list[tuple[str, str]], order: list[str]) -> list[tuple[str, str]]:
    """Headers named in `order` first, in that order and spelling; the rest after them."""
    rest = list(headers)
    placed: list[tuple[str, str]] = []
    for name in order:
        for index, (key, value) in enumerate(rest):
            if key.lower() == name.lower():
                placed.append((name, value))
                del rest[index]
                break
    return placed + rest


def _route(device: SimDevice, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
    profile = device.profile
    spec = profile.http
    if request.path == onvif.SERVICE_PATH and profile.onvif is not None:
        if request.method != "POST":
            return 405, [("Allow", "POST")], b""
        return onvif.handle_soap(device, request.headers, request.body)
    if spec is None:  # a device with ONVIF but no web UI
        return 404, [], b""
    path_spec = spec.paths.get(request.target) or spec.paths.get(request.path)
    if path_spec is None:
        return 404, [("Content-Type", "text/html")], spec.not_found_body.encode()
    allowed = set(path_spec.methods) | ({"HEAD"} if "GET" in path_spec.methods else set())
    if request.method not in allowed:
        return 405, [("Allow", ", ".join(sorted(allowed)))], b""
    if path_spec.protected and spec.auth is not None and not auth.verify(
            device, spec.auth, request.headers.get("authorization"), request.method):
        return 401, [("WWW-Authenticate", auth.challenge(device, spec.auth)),
                     ("Content-Type", "text/html")], (
            b"<!DOCTYPE html><html><head><title>Document Error: Unauthorized</title></head>"
            b"<body><h2>Access Error: 401 -- Unauthorized</h2></body></html>")
    if path_spec.body_b64 is not None:
        body = base64.b64decode(path_spec.body_b64)
    else:
        body = device.render(path_spec.body).encode("utf-8")
        if spec.html_bom and path_spec.content_type.startswith("text/html"):
            body = b"\xef\xbb\xbf" + body
    headers = [("Content-Type", path_spec.content_type)]
    headers += [(k, device.render(v)) for k, v in path_spec.headers.items()]
    return path_spec.status, headers, body


async def _serve_requests(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, silent: bool,
    bad_request: Callable[[], bytes],
    answer: Callable[[Request], Awaitable[bool]],
) -> None:
    """One connection of a request/response protocol (HTTP and RTSP share the framing).

    `answer` writes the reply and says whether to keep the connection open.
    """
    _nodelay(writer)
    try:
        if silent:
            await _discard_until_eof(reader)
            return
        while True:
            try:
                request = await read_request(reader)
            except BadRequest:
                writer.write(bad_request())
                await writer.drain()
                return
            if request is None or not await answer(request):
                return
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
        return
    finally:
        await _close(writer)


async def serve_http(device: SimDevice, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    hostile = device.profile.hostile
    mode = hostile.http if hostile else None

    async def answer(request: Request) -> bool:
        if mode is not None:
            await _serve_hostile_http(device, writer, mode)
            return False
        status, headers, body = _route(device, request)
        keep = request.keep_alive()
        writer.write(_http_response(device, status, headers, body,
                                    request.method == "HEAD", keep))
        await writer.drain()
        return keep

    await _serve_requests(reader, writer, silent=mode == "silent",
                          bad_request=lambda: _http_response(device, 400, [], b"", False, False),
                          answer=answer)


async def _serve_hostile_http(device: SimDevice, writer: asyncio.StreamWriter,
                              mode: str) -> None:
    hostile = device.profile.hostile
    assert hostile is not None
    if mode == "drip":
        await _drip(writer, b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nX-Pad: ",
                    hostile.drip_interval_s)
    elif mode == "huge":
        size = hostile.huge_body_bytes
        writer.write(f"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: text/html\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        chunk = (b"<html><body>" + b"A" * 65536)[:65536]
        sent = 0
        while sent < size:
            piece = chunk[: min(len(chunk), size - sent)]
            writer.write(piece)
            sent += len(piece)
            await writer.drain()
    elif mode == "garbage":
        writer.write(os.urandom(4096))
        await writer.drain()


# -- RTSP ------------------------------------------------------------------------------
def _rtsp_response(device: SimDevice, status: int, cseq: str,
                   headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    spec = device.profile.rtsp
    lines = [f"RTSP/1.0 {status} {REASONS.get(status, 'OK')}", f"CSeq: {cseq}"]
    if spec is not None and spec.server:
        lines.append(f"Server: {device.render(spec.server)}")
    lines.append(f"Date: {format_datetime(datetime.now(UTC), usegmt=True)}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _rtsp_route(device: SimDevice, request: Request) -> bytes:
    spec = device.profile.rtsp
    assert spec is not None
    cseq = request.headers.get("cseq", "0")
    needs_auth = request.method != "OPTIONS" or spec.options_requires_auth
    if spec.auth is not None and needs_auth and not auth.verify(
            device, spec.auth, request.headers.get("authorization"), request.method):
        return _rtsp_response(device, 401, cseq,
                              [("WWW-Authenticate", auth.challenge(device, spec.auth))])
    if request.method == "OPTIONS":
        return _rtsp_response(device, 200, cseq, [("Public", spec.public)])
    if request.method == "DESCRIBE":
        sdp = (f"v=0\r\no=- 0 0 IN IP4 {device.address}\r\ns=Media Presentation\r\n"
               f"c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
               f"a=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n").encode()
        return _rtsp_response(device, 200, cseq, [("Content-Type", "application/sdp"),
                                                  ("Content-Base", request.target)], sdp)
    return _rtsp_response(device, 454, cseq, [])


async def serve_rtsp(device: SimDevice, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    hostile = device.profile.hostile
    mode = hostile.rtsp if hostile else None

    async def answer(request: Request) -> bool:
        if mode == "drip" and hostile is not None:
            await _drip(writer, b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Pad: ",
                        hostile.drip_interval_s)
            return False
        writer.write(_rtsp_route(device, request))
        await writer.drain()
        return True

    await _serve_requests(reader, writer, silent=mode == "silent",
                          bad_request=lambda: _rtsp_response(device, 400, "0", []),
                          answer=answer)
