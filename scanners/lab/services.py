"""Service greetings (telnet, FTP, SSH) and the vendor binary services (Hikvision SDK on 8000,
Dahua DVRIP on 37777) for one simulated device.

The devices never authenticate anyone: a greeting is said, what the client sends is read and
dropped, and the binary services answer only the requests that need no login (and an error
frame to anything else), as the public facts behind the profiles describe.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct

from entityscan.scanners.lab.device import SimDevice

IDLE_S = 10.0
#: Hikvision's SDK port answers an unrecognised request with this 16-byte frame (length 16,
#: status 0x0d twice), and sends one with status 0x1e when the client says nothing.
HIK_ERROR_FRAME = bytes.fromhex("00000010" "0000000d" "0000000d" "00000000")
HIK_IDLE_FRAME = bytes.fromhex("00000010" "0000001e" "0000001e" "00000000")
HIK_IDLE_S = 5.0
HIK_MAX_FRAME = 64 * 1024
#: DVRIP: 32-byte headers; `a0 01` asks for the login realm and random, `b0 01` answers.
DVRIP_HEADER = 32
DVRIP_REALM_REQUEST = b"\xa0\x01"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 2)


async def _drip(writer: asyncio.StreamWriter, interval: float) -> None:
    while True:
        writer.write(b"a")
        await writer.drain()
        await asyncio.sleep(interval)


async def _hostile(device: SimDevice, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter, mode: str | None) -> bool:
    """Misbehave if the profile says so; True when the connection was handled."""
    if mode == "silent":
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass
        return True
    if mode == "drip":
        spec = device.profile.hostile
        with contextlib.suppress(Exception):
            await _drip(writer, spec.drip_interval_s if spec else 1.0)
        return True
    return False


async def _linger(reader: asyncio.StreamReader) -> None:
    """Read and drop what the client sends until it leaves or goes idle."""
    with contextlib.suppress(Exception):
        while await asyncio.wait_for(reader.read(4096), IDLE_S):
            pass


async def serve_greeting(device: SimDevice, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter, protocol: str) -> None:
    spec = device.profile.greetings
    hostile = device.profile.hostile
    try:
        if await _hostile(device, reader, writer, hostile.greeting if hostile else None):
            return
        assert spec is not None
        if protocol == "telnet":
            text = device.render(spec.telnet or "")
            writer.write(bytes.fromhex(spec.telnet_options) + text.encode("latin-1", "replace"))
        elif protocol == "ftp":
            writer.write(device.render(spec.ftp or "").encode("latin-1", "replace") + b"\r\n")
        else:
            writer.write(device.render(spec.ssh or "").encode("latin-1", "replace") + b"\r\n")
        await writer.drain()
        await _linger(reader)
    except (ConnectionError, OSError):
        pass
    finally:
        await _close(writer)


async def serve_sdk(device: SimDevice, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
    spec = device.profile.sdk
    hostile = device.profile.hostile
    try:
        if await _hostile(device, reader, writer, hostile.sdk if hostile else None):
            return
        assert spec is not None
        if spec.kind == "hikvision":
            await _hikvision(reader, writer)
        else:
            await _dahua(device, reader, writer)
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass
    finally:
        await _close(writer)


async def _hikvision(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readexactly(4), HIK_IDLE_S)
    except TimeoutError:
        writer.write(HIK_IDLE_FRAME)
        await writer.drain()
        return
    (length,) = struct.unpack(">I", head)
    # A login would carry credentials: none is ever accepted, every request gets the error.
    if 4 < length <= HIK_MAX_FRAME:
        await asyncio.wait_for(reader.readexactly(length - 4), IDLE_S)
    writer.write(HIK_ERROR_FRAME)
    await writer.drain()


def dvrip_realm_answer(device: SimDevice) -> bytes:
    spec = device.profile.sdk
    assert spec is not None
    body = (f"Realm:{device.render(spec.realm)}\r\n"
            f"Random:{secrets.randbelow(10**9):09d}\r\n\r\n").encode()
    header = b"\xb0\x01\x00\x00" + struct.pack("<I", len(body)) + bytes(16) + \
        bytes.fromhex("0502010100000000")
    return header + body


async def _dahua(device: SimDevice, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    while True:
        header = await asyncio.wait_for(reader.readexactly(DVRIP_HEADER), IDLE_S)
        if header[:2] == DVRIP_REALM_REQUEST:
            writer.write(dvrip_realm_answer(device))
            await writer.drain()
            continue
        # Anything else (a login with a hash, a JSON call) is refused: error code 1 0 (auth).
        writer.write(b"\xb0\x00\x00\x00" + bytes(4) + b"\x01\x00" + bytes(22))
        await writer.drain()
        return
