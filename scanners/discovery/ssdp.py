"""SSDP (UPnP discovery): M-SEARCH by unicast to every target's UDP 1900 and, on local
segments, by multicast to 239.255.255.250:1900 (UPnP Device Architecture 1.1, section 1.3).

Devices answer to the asking socket with `HTTP/1.1 200 OK` and headers `LOCATION` (their
device-description URL), `SERVER`, `ST` and `USN`.  Only `upnp:rootdevice` is searched: one
answer per device, not one per embedded service.  The description itself is fetched by
`entityscan.scanners.probes.upnp`, from the answering host only.
"""

from __future__ import annotations

from entityscan.scanners.discovery.base import DiscoveryReply, UdpDiscovery
from entityscan.scanners.probes import Observations

PORT = 1900
GROUP = "239.255.255.250"
SEARCH_TARGET = "upnp:rootdevice"
#: Headers kept from an answer (others are ignored).
HEADERS = ("LOCATION", "SERVER", "ST", "USN")
MAX_ANSWER = 4096


def build_probes() -> list[bytes]:
    return [(f"M-SEARCH * HTTP/1.1\r\nHOST: {GROUP}:{PORT}\r\nMAN: \"ssdp:discover\"\r\n"
             f"MX: 1\r\nST: {SEARCH_TARGET}\r\nUSER-AGENT: entityscan/0.1 UPnP/1.1\r\n\r\n"
             ).encode()]


def parse_reply(data: bytes, source: str) -> list[DiscoveryReply]:
    """A search answer -> one DiscoveryReply; searches and NOTIFYs from others -> [];
    anything else raises ValueError (counted as garbage from that source)."""
    text = data[:MAX_ANSWER].decode("latin-1")
    lines = text.split("\r\n")
    first = lines[0].upper()
    if first.startswith(("M-SEARCH ", "NOTIFY ")):
        return []
    if not first.startswith("HTTP/1.") or " 200" not in first:
        raise ValueError(f"not an SSDP answer ({lines[0][:40]!r})")
    fields: dict[str, str] = {}
    for line in lines[1:64]:
        name, sep, value = line.partition(":")
        name = name.strip().upper()
        if sep and name in HEADERS and name not in fields:
            fields[name] = value.strip()[:512]
    if "LOCATION" not in fields and "USN" not in fields:
        raise ValueError("SSDP answer without LOCATION or USN")
    return [DiscoveryReply("ssdp", source, dict(fields))]


def observe(reply: DiscoveryReply) -> Observations:
    """The `SERVER` header for the `upnp` rules; the description URL as a fact for the probe
    that reads it."""
    obs = Observations()
    obs.answered = True
    obs.signal("upnp", str(reply.fields.get("SERVER") or ""), "ssdp", "SERVER")
    obs.fact("upnp_location", str(reply.fields.get("LOCATION") or ""))
    return obs


def discovery(port: int = PORT) -> UdpDiscovery:
    return UdpDiscovery("ssdp", port, GROUP, parse_reply, build_probes)
