"""Hikvision SADP discovery, inquiry only (UDP 37020, group 239.255.255.250).

Devices answer a multicast inquiry to the group itself, so the scanner also binds 37020 and
joins the group; unicast inquiries are answered to the asking socket.  Only the `inquiry` verb
is ever sent: `update`, `getcode` and `reset` change devices and are never built here.
"""

from __future__ import annotations

import uuid

from entityscan.scanners.discovery.base import DiscoveryReply, UdpDiscovery, read_fields
from entityscan.scanners.discovery.xmlsafe import children_text, local, parse_xml
from entityscan.scanners.probes import Observations

PORT = 37020
#: The reply text kept for the signature engine (replies are a few kilobytes).
MAX_RAW = 16384
GROUP = "239.255.255.250"

#: Fields of a ProbeMatch worth keeping (others are ignored).
FIELDS = ("Uuid", "Types", "DeviceType", "DeviceDescription", "DeviceSN", "CommandPort",
          "HttpPort", "MAC", "IPv4Address", "IPv4SubnetMask", "IPv4Gateway", "IPv6Address",
          "DHCP", "AnalogChannelNum", "DigitalChannelNum", "SoftwareVersion", "DSPVersion",
          "BootTime", "OEMInfo", "Activated", "PasswordResetAbility", "DeviceLock")

#: What a ProbeMatch field means: (signal kind or fact, field).  The whole reply and its
#: DeviceType/OEMInfo go to the `sadp` rules; model, firmware and serial to their own rules.
SIGNALS = (("sadp", "DeviceType"), ("sadp", "OEMInfo"), ("model", "DeviceDescription"),
           ("firmware", "SoftwareVersion"), ("serial", "DeviceSN"))
FACTS = (("model", "DeviceDescription"), ("serial", "DeviceSN"), ("mac", "MAC"),
         ("firmware", "SoftwareVersion"))


def build_probes() -> list[bytes]:
    probe = ('<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>'
             f"{str(uuid.uuid4()).upper()}</Uuid><Types>inquiry</Types></Probe>")
    return [probe.encode()]


def parse_reply(data: bytes, source: str) -> list[DiscoveryReply]:
    """A `<ProbeMatch>` reply -> one DiscoveryReply; our own or others' `<Probe>` -> [];
    anything else raises ValueError (counted as garbage from that source)."""
    root = parse_xml(data)
    if local(root.tag) == "Probe":
        return []
    if local(root.tag) != "ProbeMatch":
        raise ValueError(f"not a SADP reply (root element {local(root.tag)!r})")
    values = children_text(root)
    fields = {key: values[key] for key in FIELDS if key in values}
    if not any(key in fields for key in ("DeviceSN", "DeviceDescription", "MAC")):
        return []
    fields["raw"] = data[:MAX_RAW].decode("utf-8", "replace")
    return [DiscoveryReply("sadp", source, fields)]


def observe(reply: DiscoveryReply) -> Observations:
    """A ProbeMatch as signals and facts.  Any ProbeMatch at all is a Hikvision-platform tell,
    so the reply itself is a signal even when it carries none of the known fields."""
    obs = Observations()
    obs.signal("sadp", str(reply.fields.get("raw") or "<ProbeMatch>"), "sadp", "reply",
               limit=MAX_RAW)
    obs.extend(read_fields(reply, signals=SIGNALS, facts=FACTS))
    return obs


def discovery(port: int = PORT) -> UdpDiscovery:
    return UdpDiscovery("sadp", port, GROUP, parse_reply, build_probes, listen_on_group=True)
