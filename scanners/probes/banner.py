"""Service greetings: what telnet, FTP and SSH say before the client says anything.

Connect, read for a short while, close.  Nothing is ever sent: no user name, no password, not
even an answer to telnet's option negotiation (the options are stripped from what was read).
The text is bounded, control characters are dropped, and each protocol's greeting becomes one
signal for its rule kind (`telnet_banner`, `ftp_banner`, `ssh_banner`).
"""

from __future__ import annotations

import asyncio
import re

from entityscan.scanners.probes import ANSWER_TIMEOUT, Observations

GREETING_LIMIT = 2048
#: Most services greet at once; a telnet login prompt may follow its options a little later.
GREETING_WAIT = 1.0
#: Once data came, a pause this long ends the greeting.
IDLE_AFTER_DATA = 0.2
KINDS = {"telnet": "telnet_banner", "ftp": "ftp_banner", "ssh": "ssh_banner"}

_IAC = 0xFF
_SB, _SE = 0xFA, 0xF0
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_telnet_options(data: bytes) -> bytes:
    """Drop telnet commands (IAC WILL/WONT/DO/DONT x, IAC SB … IAC SE, IAC x)."""
    out = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte != _IAC:
            out.append(byte)
            i += 1
            continue
        command = data[i + 1] if i + 1 < len(data) else None
        if command == _IAC:  # an escaped 0xFF data byte
            out.append(_IAC)
            i += 2
        elif command == _SB:
            end = data.find(bytes([_IAC, _SE]), i + 2)
            i = len(data) if end < 0 else end + 2
        elif command is not None and 0xFB <= command <= 0xFE:
            i += 3
        else:
            i += 2
    return bytes(out)


def clean(text: str) -> str:
    """Line ends kept as `\\n`, other controls dropped, surrounding blank space trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


_PROMPT = re.compile(rb"[:>#$%]\s*$")


def _complete(protocol: str, raw: bytes) -> bool:
    if b"\n" in raw:
        return True
    return protocol == "telnet" and bool(_PROMPT.search(raw))


async def _collect(reader: asyncio.StreamReader, until: bytes | None) -> bytes:
    """What arrives within GREETING_WAIT, then until the sender pauses (a prompt waits for
    input) or `until` is seen; bounded in size."""
    buf = bytearray()
    wait = GREETING_WAIT
    while len(buf) < GREETING_LIMIT:
        try:
            chunk = await asyncio.wait_for(reader.read(GREETING_LIMIT - len(buf)), wait)
        except TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
        if until is not None and until in buf:
            break
        wait = IDLE_AFTER_DATA
    return bytes(buf)


async def read_greeting(address: str, port: int, protocol: str, *,
                        timeout: float = ANSWER_TIMEOUT) -> Observations:
    """One service's greeting as a signal (`KINDS[protocol]`), or an error."""
    obs = Observations()
    where = f"{protocol} {address}:{port}"
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
        raw = await _collect(reader, until=None if protocol == "telnet" else b"\n")
        if protocol == "telnet":
            raw = strip_telnet_options(raw)
        text = clean(raw.decode("utf-8", "replace"))
        if not text:
            obs.errors.append(f"{where}: connected, but the service said nothing")
            return obs
        if not _complete(protocol, raw):
            # A greeting comes in one go and ends its line (or, in telnet, with a prompt); a
            # byte now and then is a stalling or hostile service, not a greeting.
            obs.errors.append(f"{where}: an incomplete greeting ({len(raw)} bytes, no line "
                              "end or prompt)")
            return obs
        obs.answered = True
        obs.signal(KINDS[protocol], text, protocol, f"port {port} greeting", limit=GREETING_LIMIT)
    except TimeoutError:
        obs.errors.append(f"{where}: no connection within {timeout:g}s")
    except OSError as exc:
        obs.errors.append(f"{where}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        if writer is not None:
            writer.close()
    return obs
