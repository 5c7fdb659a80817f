"""TLS certificate subject and issuer, read without verification (devices self-sign).

A minimal DER walk (tbsCertificate -> issuer, subject) avoids a cryptography dependency; any
malformed certificate yields no subject rather than an exception.
"""

from __future__ import annotations

import asyncio
import ssl

from entityscan.scanners.probes import ANSWER_TIMEOUT, Observations
from entityscan.scanners.probes.http import insecure_context

OID_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "1.2.840.113549.1.9.1": "emailAddress",
}


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `pos`."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, pos, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    while start < end and len(out) < 64:
        tag, cstart, cend = _tlv(data, start)
        out.append((tag, cstart, cend))
        start = cend
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        return ""
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _name(data: bytes, start: int, end: int) -> str:
    parts = []
    for _, set_start, set_end in _children(data, start, end):
        for _, seq_start, seq_end in _children(data, set_start, set_end):
            items = _children(data, seq_start, seq_end)
            if len(items) != 2:
                continue
            oid = _oid(data[items[0][1]:items[0][2]])
            value = data[items[1][1]:items[1][2]]
            text = value.decode("utf-16-be" if items[1][0] == 0x1E else "utf-8", "replace")
            parts.append(f"{OID_NAMES.get(oid, oid)}={text}")
    return ",".join(parts)


def subject_and_issuer(der: bytes) -> tuple[str, str]:
    """Subject and issuer of a DER certificate as `CN=…,OU=…,O=…` strings."""
    _, cert_start, cert_end = _tlv(der, 0)
    _tbs_tag, tbs_start, tbs_end = _children(der, cert_start, cert_end)[0]
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject
    issuer = _name(der, fields[2][1], fields[2][2])
    subject = _name(der, fields[4][1], fields[4][2])
    return subject, issuer


async def probe_tls(address: str, port: int, *, timeout: float = ANSWER_TIMEOUT) -> Observations:
    obs = Observations()
    context = insecure_context()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port, ssl=context,
                                                      server_hostname=None)
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if der:
            obs.answered = True
            try:
                subject, issuer = subject_and_issuer(der[:65536])
            except (ValueError, IndexError):
                obs.errors.append(f"tls {address}:{port}: unreadable certificate")
            else:
                obs.signal("tls_subject", subject, "tls", f"port {port} certificate subject")
                if issuer and issuer != subject:
                    obs.signal("tls_subject", issuer, "tls", f"port {port} certificate issuer")
    except TimeoutError:
        obs.errors.append(f"tls {address}:{port}: no handshake within {timeout:g}s")
    except (OSError, ssl.SSLError) as exc:
        obs.errors.append(f"tls {address}:{port}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        if writer is not None:
            writer.close()
    return obs
