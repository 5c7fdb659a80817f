"""Dahua DHIP discovery: `DHDiscover.search` only (UDP 37810, group 239.255.255.251).

Frame: a 32-byte little-endian header (`0x20`, `DHIP`, zeros, body length twice) then a JSON
body.  `DHDiscover.setConfig`, `DevInit.*` and `PasswdFind.*` change devices and are never
built here.
"""

from __future__ import annotations

import json
import struct

from entityscan.scanners.discovery.base import DiscoveryReply, UdpDiscovery, read_fields
from entityscan.scanners.probes import Observations

PORT = 37810
GROUP = "239.255.255.251"
HEADER = struct.Struct("<I4sIIIIII")
MAX_BODY = 8192

SEARCH_BODY = b'{"method":"DHDiscover.search","params":{"mac":"","uni":1}}'

#: What a deviceInfo field means: (signal kind or fact, field).  Vendor, Manufacturer and
#: DeviceClass go to the `dhip` rules; model, firmware and serial to their own rules.
SIGNALS = (("dhip", "Vendor"), ("dhip", "Manufacturer"), ("dhip", "DeviceClass"),
           ("model", "DeviceType"), ("firmware", "Version"), ("serial", "SerialNo"))
FACTS = (("model", "DeviceType"), ("serial", "SerialNo"), ("mac", "MAC"), ("mac", "mac"),
         ("firmware", "Version"), ("device_class", "DeviceClass"))
#: `Vendor` values that name no brand (relabelled units report these instead of a label).
GENERIC_VENDORS = frozenset({"general", "private", "oem"})


def frame(body: bytes) -> bytes:
    return HEADER.pack(0x20, b"DHIP", 0, 0, len(body), 0, len(body), 0) + body


def build_probes() -> list[bytes]:
    return [frame(SEARCH_BODY)]


def _text(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("IPAddress") or value.get("Address") or "")[:128]
    return str(value)[:256]


def parse_reply(data: bytes, source: str) -> list[DiscoveryReply]:
    """A `client.notifyDevInfo` reply -> one DiscoveryReply; search requests (ours, echoed)
    -> []; anything else raises ValueError (counted as garbage from that source)."""
    if len(data) < HEADER.size or data[4:8] != b"DHIP":
        raise ValueError("not a DHIP frame (bad magic or short header)")
    body = data[HEADER.size:HEADER.size + MAX_BODY].rstrip(b"\x00\r\n ")
    message = json.loads(body.decode("utf-8", "replace"))
    if not isinstance(message, dict):
        raise ValueError("DHIP body is not a JSON object")
    if message.get("method") == "DHDiscover.search":
        return []
    params = message.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        raise ValueError("DHIP reply without a deviceInfo object")
    fields = {str(key)[:64]: _text(value) for key, value in list(info.items())[:64]
              if isinstance(value, str | int | float | dict)}
    if message.get("mac") and "MAC" not in fields:
        fields["MAC"] = str(message["mac"])[:64]
    fields["raw"] = body.decode("utf-8", "replace")
    return [DiscoveryReply("dhip", source, fields)]


def observe(reply: DiscoveryReply) -> Observations:
    """A notifyDevInfo reply as signals and facts; `Vendor` is the brand unless generic."""
    obs = Observations()
    obs.signal("dhip", str(reply.fields.get("raw") or ""), "dhip", "reply", limit=MAX_BODY)
    vendor = str(reply.fields.get("Vendor") or "")
    if vendor and vendor.lower() not in GENERIC_VENDORS:
        obs.fact("brand", vendor)
    obs.extend(read_fields(reply, signals=SIGNALS, facts=FACTS))
    return obs


def discovery(port: int = PORT) -> UdpDiscovery:
    return UdpDiscovery("dhip", port, GROUP, parse_reply, build_probes, listen_on_group=True)
