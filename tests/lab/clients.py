"""Minimal protocol clients for testing the simulator (independent of the scanner code)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
import uuid
from datetime import UTC, datetime, timedelta

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PW_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
             "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")


def wsd_probe(types: str | None = "dn:NetworkVideoTransmitter", message_id: str | None = None,
              scopes: str | None = None) -> tuple[str, bytes]:
    message_id = message_id or f"urn:uuid:{uuid.uuid4()}"
    types_el = f"<d:Types>{types}</d:Types>" if types is not None else ""
    scopes_el = f"<d:Scopes>{scopes}</d:Scopes>" if scopes is not None else ""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<e:Envelope xmlns:e="{SOAP_ENV}" '
        'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        f"<e:Header><w:MessageID>{message_id}</w:MessageID>"
        '<w:To e:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
        '<w:Action e:mustUnderstand="true">'
        "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>"
        f"<e:Body><d:Probe>{types_el}{scopes_el}</d:Probe></e:Body></e:Envelope>")
    return message_id, xml.encode()


def sadp_inquiry(probe_uuid: str | None = None, verb: str = "inquiry") -> tuple[str, bytes]:
    probe_uuid = probe_uuid or str(uuid.uuid4()).upper()
    return probe_uuid, (f'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>{probe_uuid}</Uuid>'
                        f"<Types>{verb}</Types></Probe>").encode()


def dhip_frame(body: bytes) -> bytes:
    return struct.pack("<I4sIIIIII", 0x20, b"DHIP", 0, 0, len(body), 0, len(body), 0) + body


DHIP_SEARCH = dhip_frame(b'{"method":"DHDiscover.search","params":{"mac":"","uni":1}}')


def udp_exchange(source: str, dest: tuple[str, int], payload: bytes, wait: float = 0.2,
                 max_replies: int = 10_000) -> list[tuple[bytes, tuple[str, int]]]:
    """Send one datagram from `source`, collect replies until `wait` s of silence."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(wait)
    replies = []
    try:
        sock.sendto(payload, dest)
        deadline = time.monotonic() + 10
        while len(replies) < max_replies and time.monotonic() < deadline:
            try:
                replies.append(sock.recvfrom(65535))
            except TimeoutError:
                break
    finally:
        sock.close()
    return replies


def soap(operation: str, username: str | None = None, password: str | None = None, *,
         created: str | None = None, nonce: bytes | None = None, text: bool = False,
         clock_offset: timedelta = timedelta()) -> bytes:
    header = ""
    if username is not None and password is not None:
        nonce = nonce if nonce is not None else os.urandom(16)
        created = created or (datetime.now(UTC) + clock_offset).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z")
        if text:
            pw_type, pw = PW_DIGEST.replace("#PasswordDigest", "#PasswordText"), password
        else:
            pw_type = PW_DIGEST
            pw = base64.b64encode(hashlib.sha1(nonce + created.encode()
                                               + password.encode()).digest()).decode()
        header = (f'<s:Header><Security xmlns="{WSSE}" s:mustUnderstand="1"><UsernameToken>'
                  f"<Username>{username}</Username><Password Type=\"{pw_type}\">{pw}</Password>"
                  f"<Nonce EncodingType=\"http://docs.oasis-open.org/wss/2004/01/"
                  f"oasis-200401-wss-soap-message-security-1.0#Base64Binary\">"
                  f"{base64.b64encode(nonce).decode()}</Nonce>"
                  f'<Created xmlns="{WSU}">{created}</Created></UsernameToken></Security>'
                  "</s:Header>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_ENV}">{header}'
            f'<s:Body><{operation} xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body>'
            "</s:Envelope>").encode()


def rtsp_exchange(address: str, port: int, request: str, timeout: float = 3.0) -> str:
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                need = int(line.split(b":")[1])
                while len(rest) < need:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    rest += chunk
        return (head + b"\r\n\r\n" + rest).decode("latin-1")


def header_map(response: str) -> dict[str, str]:
    out = {}
    for line in response.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out[name.strip().lower()] = value.strip()
    return out
