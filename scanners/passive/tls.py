"""The server's side of a TLS handshake as captured: its certificate, when it travels in clear
(TLS 1.2 and older; TLS 1.3 encrypts it), and the protocol version it chose; plus the server
name (SNI) clients asked for.  Bounded walks over records and handshake messages; any
malformed input ends the walk, never raises."""

from __future__ import annotations

from dataclasses import dataclass

HANDSHAKE = 0x16
SERVER_HELLO, CERTIFICATE, SERVER_HELLO_DONE, CLIENT_HELLO = 2, 11, 14, 1
SUPPORTED_VERSIONS, SERVER_NAME = 43, 0
TLS13 = 0x0304


@dataclass
class ServerHandshake:
    complete: bool = False
    version: int | None = None
    certificate: bytes | None = None  # the first (leaf) certificate, DER


def _messages(data: bytes) -> tuple[bytes, bool]:
    """The concatenated handshake-record payloads, and whether a non-handshake record
    (the end of the server's clear-text handshake) followed them."""
    out = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        if data[pos] != HANDSHAKE:
            return bytes(out), True
        length = (data[pos + 3] << 8) | data[pos + 4]
        out += data[pos + 5:pos + 5 + length]
        pos += 5 + length
    return bytes(out), False


def _extensions(body: bytes, pos: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    if pos + 2 > len(body):
        return found
    end = min(len(body), pos + 2 + ((body[pos] << 8) | body[pos + 1]))
    pos += 2
    while pos + 4 <= end and len(found) < 64:
        kind = (body[pos] << 8) | body[pos + 1]
        length = (body[pos + 2] << 8) | body[pos + 3]
        found[kind] = body[pos + 4:pos + 4 + length]
        pos += 4 + length
    return found


def server_handshake(data: bytes) -> ServerHandshake:
    """What the server's handshake bytes (from the start of its side of the flow) show."""
    result = ServerHandshake()
    messages, ended = _messages(data)
    pos = 0
    while pos + 4 <= len(messages):
        kind = messages[pos]
        length = int.from_bytes(messages[pos + 1:pos + 4], "big")
        body = messages[pos + 4:pos + 4 + length]
        if len(body) < length:
            break  # the rest has not arrived (or never will)
        if kind == SERVER_HELLO and len(body) >= 38:
            result.version = (body[0] << 8) | body[1]
            session_length = body[34]
            extensions = _extensions(body, 35 + session_length + 3)
            chosen = extensions.get(SUPPORTED_VERSIONS, b"")
            if len(chosen) == 2:
                result.version = (chosen[0] << 8) | chosen[1]
            if result.version == TLS13:
                result.complete = True  # everything after the ServerHello is encrypted
                return result
        elif kind == CERTIFICATE and len(body) >= 6:
            first = int.from_bytes(body[3:6], "big")
            if 0 < first <= len(body) - 6:
                result.certificate = body[6:6 + first]
            result.complete = True
            return result
        elif kind == SERVER_HELLO_DONE:
            result.complete = True
            return result
        pos += 4 + length
    result.complete = ended
    return result


def client_server_name(payload: bytes) -> str | None:
    """The SNI host name of a ClientHello that fits in one segment, else None."""
    messages, _ = _messages(payload)
    if len(messages) < 4 or messages[0] != CLIENT_HELLO:
        return None
    body = messages[4:4 + int.from_bytes(messages[1:4], "big")]
    try:
        pos = 34
        pos += 1 + body[pos]                               # session id
        pos += 2 + ((body[pos] << 8) | body[pos + 1])      # cipher suites
        pos += 1 + body[pos]                               # compression methods
    except IndexError:
        return None
    names = _extensions(body, pos).get(SERVER_NAME, b"")
    # server_name_list: u16 length, then (u8 type, u16 length, name)
    if len(names) >= 5 and names[2] == 0:
        length = (names[3] << 8) | names[4]
        name = names[5:5 + length].decode("ascii", "replace")
        return name[:253] or None
    return None
