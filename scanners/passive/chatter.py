"""What devices announce and answer on UDP, read from captured datagrams: WS-Discovery Hello
and ProbeMatches, Hikvision SADP, Dahua DHIP, mDNS answers, SSDP NOTIFY and search responses,
and DHCP client messages.

The vendor discovery replies are parsed by the active scan's own protocol modules
(`entityscan.scanners.discovery`), so a captured reply yields exactly the signals and facts
of a reply to our own probe.  Every reader is safe on hostile bytes: it returns nothing or
raises ValueError (counted as garbage from that source by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from entityscan.scanners.discovery import dhip, sadp, wsd
from entityscan.scanners.discovery.base import DiscoveryReply
from entityscan.scanners.discovery.xmlsafe import find_all, find_text, local, parse_xml
from entityscan.scanners.netutil import header_fields
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.neighbours import normalise_mac

MDNS_PORT, SSDP_PORT, DHCP_SERVER, DHCP_CLIENT = 5353, 1900, 67, 68
#: Discovery datagrams larger than this are not read (real ones are a few kilobytes).
MAX_DATAGRAM = 64 * 1024


@dataclass
class Heard:
    """What one datagram says: discovery replies for the protocol readers, or observations;
    DHCP messages are about `client_mac`, whose address may be `address`."""

    protocol: str
    replies: list[DiscoveryReply] = field(default_factory=list)
    observations: Observations | None = None
    client_mac: str | None = None
    address: str | None = None


def read_datagram(sport: int, dport: int, payload: bytes, source: str) -> Heard | None:
    """The reader for a datagram's ports, or None when no reader applies."""
    if len(payload) > MAX_DATAGRAM or not payload:
        return None
    if wsd.PORT in (sport, dport):
        return Heard("wsd", replies=wsd_messages(payload, source))
    if sadp.PORT in (sport, dport):
        return Heard("sadp", replies=sadp.parse_reply(payload, source))
    if dhip.PORT in (sport, dport):
        return Heard("dhip", replies=dhip.parse_reply(payload, source))
    if sport == MDNS_PORT:
        return Heard("mdns", replies=mdns_answers(payload, source))
    if SSDP_PORT in (sport, dport):
        obs = ssdp_message(payload)
        return Heard("ssdp", observations=obs) if obs is not None else None
    if sport == DHCP_CLIENT and dport == DHCP_SERVER:
        return dhcp_message(payload)
    return None


def wsd_messages(data: bytes, source: str) -> list[DiscoveryReply]:
    """ProbeMatch and Hello elements as WS-Discovery replies (the fields `wsd.observe` reads);
    Probe, Resolve and Bye messages give nothing."""
    root = parse_xml(data)
    if local(root.tag) != "Envelope":
        raise ValueError(f"not a SOAP envelope (root element {local(root.tag)!r})")
    replies = []
    for match in (find_all(root, "ProbeMatch") + find_all(root, "Hello"))[:8]:
        fields: dict[str, object] = {}
        endpoint = find_text(match, "EndpointReference", "Address")
        if endpoint:
            fields["endpoint"] = endpoint[:256]
        for name, key in (("Types", "types"), ("XAddrs", "xaddrs")):
            value = find_text(match, name)
            if value:
                fields[key] = value[:2048]
        scopes_text = find_text(match, "Scopes")
        if scopes_text:
            fields["scopes"] = wsd.parse_scopes(scopes_text)
            fields["scope_uris"] = scopes_text.split()[:64]
        if fields.get("scopes") or fields.get("xaddrs"):
            replies.append(DiscoveryReply("wsd", source, fields))
    return replies


def mdns_answers(data: bytes, source: str) -> list[DiscoveryReply]:
    """Service instances in an mDNS response, shaped as the browser's replies (`type`,
    `name`, `server`), for `entityscan.scanners.discovery.mdns.observe`."""
    from zeroconf import DNSIncoming, DNSPointer, DNSService

    message = DNSIncoming(data)
    if not message.valid:
        raise ValueError("malformed mDNS message")
    if not message.is_response():
        return []
    instances: dict[str, str] = {}  # full instance name -> SRV target
    for record in message.answers()[:64]:
        if isinstance(record, DNSService):
            instances[record.name] = str(record.server or "")
        elif isinstance(record, DNSPointer) and record.name.startswith("_") and \
                "._" in record.alias:
            instances.setdefault(record.alias, "")
    replies = []
    for full, server in list(instances.items())[:16]:
        name, service_type = _split_instance(full)
        if service_type:
            replies.append(DiscoveryReply("mdns", source, {
                "type": service_type, "name": name[:256],
                "server": server.removesuffix(".")[:256]}))
    return replies


def _split_instance(full: str) -> tuple[str, str | None]:
    """`HIKVISION X - 1._CGI._tcp.local.` -> (`HIKVISION X - 1`, `_CGI._tcp`)."""
    text = full.removesuffix(".").removesuffix(".local")
    name, sep, rest = text.partition("._")
    if not sep or not rest.lower().endswith(("._tcp", "._udp")):
        return text, None
    return name, "_" + rest


def ssdp_message(data: bytes) -> Observations | None:
    """An SSDP NOTIFY or search response: its `SERVER` header has the same grammar as an HTTP
    `Server` header, so the `http_server` rules judge it; M-SEARCH requests give nothing."""
    head = data.split(b"\r\n\r\n", 1)[0][:8192].decode("latin-1")
    lines = head.split("\r\n")
    if not lines or not (lines[0].startswith("NOTIFY ") or lines[0].startswith("HTTP/1.")):
        return None
    headers = header_fields(lines[1:64])
    if headers.get("nts", "").lower() == "ssdp:byebye":
        return None
    obs = Observations()
    obs.answered = True
    obs.signal("http_server", headers.get("server"), "ssdp", "SERVER")
    return obs


def dhcp_message(data: bytes) -> Heard | None:
    """A DHCP client message: the client's MAC, the address it has or asks for, and its
    host name, vendor class and parameter-request list.  A host name shaped like a model is
    judged by the `model` rules; the vendor class by the `label` rules; the parameter
    list is shown as descriptive evidence (no public rules for it are bundled)."""
    import dpkt

    try:
        message = dpkt.dhcp.DHCP(data)
    except (dpkt.UnpackError, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"malformed DHCP message ({type(exc).__name__})") from None
    if message.op != dpkt.dhcp.DHCP_OP_REQUEST or message.hln != 6:
        return None
    mac = normalise_mac(bytes(message.chaddr[:6]).hex())
    if mac is None:
        return None
    options = {code: bytes(value) for code, value in list(message.opts)[:64]}
    address = None
    if message.ciaddr:
        address = _ipv4(message.ciaddr.to_bytes(4, "big"))
    elif len(options.get(dpkt.dhcp.DHCP_OPT_REQ_IP, b"")) == 4:
        address = _ipv4(options[dpkt.dhcp.DHCP_OPT_REQ_IP])
    obs = Observations()
    obs.answered = True
    hostname = _text(options.get(dpkt.dhcp.DHCP_OPT_HOSTNAME))
    vendor = _text(options.get(dpkt.dhcp.DHCP_OPT_VENDOR_ID))
    obs.signal("model", hostname, "dhcp", "host name")
    obs.signal("label", vendor, "dhcp", "vendor class")
    obs.fact("dhcp_hostname", hostname)
    obs.fact("dhcp_vendor_class", vendor)
    params = options.get(dpkt.dhcp.DHCP_OPT_PARAM_REQ)
    if params:
        obs.fact("dhcp_parameters", ",".join(str(code) for code in params[:64]))
    return Heard("dhcp", observations=obs, client_mac=mac, address=address)


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    text = value.rstrip(b"\x00").decode("utf-8", "replace")
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:128] or None


def _ipv4(packed: bytes) -> str | None:
    import ipaddress

    address = ipaddress.IPv4Address(packed)
    return None if address.is_unspecified else str(address)
