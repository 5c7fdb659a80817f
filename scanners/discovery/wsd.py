"""ONVIF WS-Discovery prober: typed Probe messages by multicast and by unicast to port 3702.

Our own prober rather than a library: one odd reply must not cost every later device, and
probes go only where the scan's targets are.  Two probes are sent, typed
`dn:NetworkVideoTransmitter` and `tds:Device`, since devices answer one, the other or both.
"""

from __future__ import annotations

import uuid
from urllib.parse import unquote, urlsplit

from entityscan.scanners.discovery.base import DiscoveryReply, UdpDiscovery
from entityscan.scanners.discovery.xmlsafe import find_all, find_text, local, parse_xml
from entityscan.scanners.probes import Observations

PORT = 3702
GROUP = "239.255.255.250"

PROBE_TYPES = (
    ("dn", "http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter"),
    ("tds", "http://www.onvif.org/ver10/device/wsdl", "Device"),
)

_PROBE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:{prefix}="{ns}">'
    "<s:Header>"
    '<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe'
    "</a:Action>"
    "<a:MessageID>{message_id}</a:MessageID>"
    "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    "</a:Address></a:ReplyTo>"
    '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
    "</s:Header>"
    "<s:Body><d:Probe><d:Types>{prefix}:{type}</d:Types></d:Probe></s:Body>"
    "</s:Envelope>"
)


def build_probes(message_ids: list[str] | None = None) -> list[bytes]:
    """One Probe per type; `message_ids` (`uuid:…`) fixes their MessageIDs."""
    ids = message_ids or [f"uuid:{uuid.uuid4()}" for _ in PROBE_TYPES]
    return [_PROBE.format(prefix=prefix, ns=ns, type=name, message_id=message_id).encode()
            for (prefix, ns, name), message_id in zip(PROBE_TYPES, ids, strict=True)]


def parse_scopes(text: str) -> dict[str, list[str]]:
    """`onvif://www.onvif.org/name/HIKVISION%20DS-2CD` -> {"name": ["HIKVISION DS-2CD"]}.

    Scope values are percent-encoded; the key is the first path segment after the authority,
    except `location/<sub>/...` and `extension/<sub>/...` which keep their sub-key.
    """
    scopes: dict[str, list[str]] = {}
    for raw in text.split()[:64]:
        parts = urlsplit(raw)
        segments = [unquote(seg) for seg in parts.path.strip("/").split("/") if seg]
        if not segments:
            continue
        key, rest = segments[0], segments[1:]
        if key.lower() in ("location", "extension") and len(rest) >= 2:
            key, rest = f"{key}/{rest[0]}", rest[1:]
        value = "/".join(rest)
        scopes.setdefault(key.lower(), []).append(value[:256])
    return scopes


def parse_reply(data: bytes, source: str, *, message_ids: frozenset[str] = frozenset()
                ) -> list[DiscoveryReply]:
    """ProbeMatch elements of a WS-Discovery reply; [] for other SOAP messages (probes we
    hear echoed, Hello/Bye); anything else raises ValueError (counted as garbage).  With
    `message_ids`, a ProbeMatches relating to another message is unsolicited: an error."""
    root = parse_xml(data)
    if local(root.tag) != "Envelope":
        raise ValueError(f"not a SOAP envelope (root element {local(root.tag)!r})")
    relates_to = find_text(root, "RelatesTo")
    if message_ids and relates_to and find_all(root, "ProbeMatches") \
            and relates_to not in message_ids:
        raise ValueError("unsolicited ProbeMatches (RelatesTo names none of our probes)")
    replies = []
    for match in find_all(root, "ProbeMatch")[:8]:
        fields: dict[str, object] = {}
        endpoint = find_text(match, "EndpointReference", "Address")
        if endpoint:
            fields["endpoint"] = endpoint[:256]
        for name, key in (("Types", "types"), ("XAddrs", "xaddrs"),
                          ("MetadataVersion", "metadata_version")):
            value = find_text(match, name)
            if value:
                fields[key] = value[:2048]
        scopes_text = find_text(match, "Scopes")
        if scopes_text:
            fields["scopes_raw"] = scopes_text[:4096]
            fields["scopes"] = parse_scopes(scopes_text)
            fields["scope_uris"] = scopes_text.split()[:64]
        if fields.get("xaddrs") or fields.get("scopes") or fields.get("endpoint"):
            replies.append(DiscoveryReply("wsd", source, fields))
    return replies


def observe(reply: DiscoveryReply) -> Observations:
    """A ProbeMatch as signals and facts: every scope URI goes to the `onvif_scope` rules;
    the `hardware` scope is the model, `name` the shown name, `mac`/`macaddress` the MAC, and
    the first XAddr the ONVIF service address."""
    obs = Observations()
    scopes = reply.fields.get("scopes") or {}
    for uri in reply.fields.get("scope_uris") or []:
        obs.signal("onvif_scope", uri, "wsd", "scope")
    for fact, key in (("model", "hardware"), ("wsd_name", "name"), ("mac", "mac"),
                      ("mac", "macaddress")):
        if scopes.get(key):
            obs.fact(fact, scopes[key][0])
    obs.fact("onvif", str(reply.fields.get("xaddrs") or "").split(" ")[0] or None)
    return obs


def xaddr_for(reply: DiscoveryReply, address: str) -> tuple[str, int, str] | None:
    """(scheme, port, path) of the device-service XAddr, preferring one naming `address`."""
    candidates = []
    for xaddr in str(reply.fields.get("xaddrs", "")).split():
        parts = urlsplit(xaddr)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        candidates.append((parts.hostname == address, parts.scheme, port,
                           parts.path or "/onvif/device_service"))
    if not candidates:
        return None
    candidates.sort(key=lambda c: not c[0])
    _, scheme, port, path = candidates[0]
    return scheme, port, path


def discovery(port: int = PORT) -> UdpDiscovery:
    # One pair of MessageIDs per scan: replies must relate to them (a per-target ID would
    # cost memory on a /16), and a device that heard both multicast and unicast may answer once.
    ids = [f"uuid:{uuid.uuid4()}" for _ in PROBE_TYPES]
    known = frozenset(ids)
    return UdpDiscovery("wsd", port, GROUP,
                        lambda data, source: parse_reply(data, source, message_ids=known),
                        lambda: build_probes(ids), per_source=4)
