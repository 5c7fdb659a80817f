"""RTSP OPTIONS and DESCRIBE: the `Server` header and the authentication realm.

Reads are capped in size and time; nothing but these two read-only methods is sent.
"""

from __future__ import annotations

import asyncio

from entityscan.scanners.netutil import header_fields, read_bounded
from entityscan.scanners.probes import ANSWER_TIMEOUT, Observations, host_for_url
from entityscan.scanners.probes.http import realm_of

RESPONSE_LIMIT = 8192


def parse_response(raw: bytes) -> tuple[int, dict[str, str]] | None:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.splitlines()
    if not lines or not lines[0].startswith("RTSP/"):
        return None
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None
    headers = header_fields(lines[1:64])
    return status, headers


async def probe_rtsp(address: str, port: int, *,
                     timeout: float = ANSWER_TIMEOUT) -> Observations:
    obs = Observations()
    url = f"rtsp://{host_for_url(address)}:{port}/"
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
            for cseq, method in enumerate(("OPTIONS", "DESCRIBE"), start=1):
                extra = "Accept: application/sdp\r\n" if method == "DESCRIBE" else ""
                writer.write(f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}"
                             "User-Agent: entityscan/0.1\r\n\r\n".encode())
                await writer.drain()
                raw = await read_bounded(reader, RESPONSE_LIMIT, until=b"\r\n\r\n")
                parsed = parse_response(raw)
                if parsed is None:
                    if not obs.answered:
                        obs.errors.append(f"rtsp {address}:{port}: not an RTSP answer")
                    break
                obs.answered = True
                _status, headers = parsed
                obs.signal("rtsp_server", headers.get("server"), "rtsp", f"port {port} Server")
                if method == "OPTIONS" and "server" not in headers:
                    # An answer with little more than its method list: the list's order is
                    # the implementation's signature.
                    obs.signal("rtsp_public", headers.get("public"), "rtsp",
                               f"port {port} Public")
                obs.signal("http_realm", realm_of(headers.get("www-authenticate")), "rtsp",
                           f"port {port} WWW-Authenticate realm")
                length = headers.get("content-length", "0")
                if length.isdigit() and int(length) > 0:
                    break  # a DESCRIBE body we do not need; stop rather than read it
    except TimeoutError:
        obs.errors.append(f"rtsp {address}:{port}: no answer within {timeout:g}s")
    except OSError as exc:
        obs.errors.append(f"rtsp {address}:{port}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        if writer is not None:
            writer.close()
    return obs
