"""The vendor binary services: Hikvision's SDK port (8000) and Dahua's DVRIP (37777).

Each gets the one request that makes it say what it is without a login, as Nmap's service
probes do, and nothing else; the answer (bounded) becomes an `sdk_reply` signal for the rules.

- Hikvision: a length-prefixed frame with no command in it.  The service answers requests it
  does not recognise with a 16-byte status frame (length 16, the status twice, zero); Nmap's
  `hik-connect` and `ipcam` matches record those frames (nmap-service-probes, NPSL: facts
  only, nothing of Nmap's is read or shipped).
- Dahua: the DVRIP realm request (32-byte header `a0 01 …`), the step a client takes before it
  logs in: the device answers `b0 01 …` with `Realm:Login to <id>` and a random number
  (mcw0/DahuaConsole, net.py).  No user name or hash is ever sent.

Signal value: the first 32 bytes of the answer in hex, then (for DVRIP) a newline and the
printable text after the header.
"""

from __future__ import annotations

import asyncio

from entityscan.scanners.netutil import read_bounded
from entityscan.scanners.probes import ANSWER_TIMEOUT, Observations

ANSWER_LIMIT = 1024
HEADER = 32
#: A frame of 32 bytes: its own length, then zeros (no command, no session, no credentials).
HIKVISION_PROBE = (32).to_bytes(4, "big") + bytes(28)
#: DVRIP "send me the realm and random" (the header only; no body).
DVRIP_REALM_REQUEST = bytes.fromhex("a0010000") + bytes(20) + bytes.fromhex("050201010000a1aa")
#: Which request each usual port gets; other `sdk` ports get the DVRIP one.
HIKVISION_PORTS = (8000,)


def render(answer: bytes) -> str:
    """Header bytes as hex; text after a DVRIP header as printable text."""
    head = answer[:HEADER].hex()
    if len(answer) <= HEADER:
        return head
    text = "".join(ch if ch.isprintable() or ch == "\n" else "."
                   for ch in answer[HEADER:].decode("latin-1").replace("\r\n", "\n"))
    return f"{head}\n{text.strip()}"


async def probe_sdk(address: str, port: int, *, timeout: float = ANSWER_TIMEOUT) -> Observations:
    obs = Observations()
    request = HIKVISION_PROBE if port in HIKVISION_PORTS else DVRIP_REALM_REQUEST
    where = f"sdk {address}:{port}"
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
            writer.write(request)
            await writer.drain()
            answer = await _answer(reader)
        if not answer:
            obs.errors.append(f"{where}: connected, but no answer to the identification request")
            return obs
        obs.answered = True
        obs.signal("sdk_reply", render(answer), "sdk", f"port {port} answer",
                   limit=ANSWER_LIMIT * 2)
    except TimeoutError:
        obs.errors.append(f"{where}: no answer within {timeout:g}s")
    except OSError as exc:
        obs.errors.append(f"{where}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        if writer is not None:
            writer.close()
    return obs


async def _answer(reader: asyncio.StreamReader) -> bytes:
    """The first frame: 16 bytes for Hikvision's status frame, or a DVRIP header plus the body
    length it announces (bounded)."""
    head = await read_bounded(reader, 16)
    if len(head) < 16 or head[:1] not in (b"\xb0", b"\xb1"):
        return head
    rest = await read_bounded(reader, HEADER - 16)
    if len(rest) < HEADER - 16:
        return head + rest
    length = min(int.from_bytes(head[4:8], "little"), ANSWER_LIMIT - HEADER)
    body = await read_bounded(reader, length) if length else b""
    return head + rest + body
