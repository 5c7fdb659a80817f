"""ONVIF: the device service over SOAP 1.2 and WS-Discovery ProbeMatch messages."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from entityscan.scanners.lab import auth, hostile
from entityscan.scanners.lab.device import SimDevice

SERVICE_PATH = "/onvif/device_service"
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = ("http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd")
WSU = ("http://docs.oasis-open.org/wss/2004/01/"
       "oasis-200401-wss-wssecurity-utility-1.0.xsd")
TDS = "http://www.onvif.org/ver10/device/wsdl"
TT = "http://www.onvif.org/ver10/schema"
DN = "http://www.onvif.org/ver10/network/wsdl"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSD_2009 = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"
KNOWN_PREFIXES = {"dn": DN, "tds": TDS}
# Operations ONVIF allows before authentication (access class PRE_AUTH).
PRE_AUTH = {"GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetWsdlUrl",
            "GetServiceCapabilities", "GetEndpointReference"}
MAX_XML_BYTES = 256 * 1024


class XmlRejected(Exception):
    pass


def parse_xml(data: bytes) -> tuple[Element, dict[str, str]]:
    """Parse hostile XML safely: (root, prefix -> namespace seen in the document)."""
    if len(data) > MAX_XML_BYTES:
        raise XmlRejected("XML too large")
    prefixes: dict[str, str] = {}
    root: Element | None = None
    try:
        for event, item in SafeET.iterparse(io.BytesIO(data), events=("start-ns", "end"),
                                            forbid_dtd=True):
            if event == "start-ns":
                prefix, uri = item
                prefixes.setdefault(prefix, uri)
            else:
                root = item
    except (SafeET.ParseError, DefusedXmlException, UnicodeError, ValueError) as exc:
        raise XmlRejected(str(exc)) from exc
    if root is None:
        raise XmlRejected("empty document")
    return root, prefixes


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(element: Element, name: str) -> Element | None:
    for child in element.iter():
        if local(child.tag) == name:
            return child
    return None


# -- SOAP envelope ---------------------------------------------------------------------
def envelope(body: str, header: str = "") -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<env:Envelope xmlns:env="{SOAP_ENV}" xmlns:tds="{TDS}" xmlns:tt="{TT}" '
            f'xmlns:ter="http://www.onvif.org/ver10/error">'
            f"<env:Header>{header}</env:Header><env:Body>{body}</env:Body></env:Envelope>"
            ).encode()


def fault(code: str, subcode: str, reason: str) -> bytes:
    return envelope(
        f"<env:Fault><env:Code><env:Value>env:{code}</env:Value><env:Subcode>"
        f"<env:Value>{subcode}</env:Value></env:Subcode></env:Code><env:Reason>"
        f'<env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason></env:Fault>')


def _soap_reply(status: int, payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", 'application/soap+xml; charset=utf-8')], payload


def _device_now(device: SimDevice) -> datetime:
    assert device.profile.onvif is not None
    return datetime.now(UTC) + timedelta(seconds=device.profile.onvif.clock_offset_s)


def _parse_created(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_username_token(device: SimDevice, root: Element) -> bool:
    """WS-Security UsernameToken: digest = base64(sha1(nonce + created + password))."""
    spec = device.profile.onvif
    assert spec is not None
    token = next((e for e in root.iter(f"{{{WSSE}}}UsernameToken")), None)
    if token is None:
        return False
    username = token.findtext(f"{{{WSSE}}}Username") or ""
    password_el = token.find(f"{{{WSSE}}}Password")
    nonce_text = token.findtext(f"{{{WSSE}}}Nonce") or ""
    created = token.findtext(f"{{{WSU}}}Created") or ""
    creds = device.profile.credentials
    if password_el is None or not hmac.compare_digest(username, creds.username):
        return False
    supplied = (password_el.text or "").strip()
    if password_el.get("Type", "").endswith("#PasswordText"):
        return hmac.compare_digest(supplied, creds.password)
    if spec.reject_offset_created and created.strip().endswith("+00:00"):
        return False
    if spec.max_clock_skew_s is not None:
        when = _parse_created(created)
        if when is None or abs((when - _device_now(device)).total_seconds()) > \
                spec.max_clock_skew_s:
            return False
    try:
        nonce = base64.b64decode(nonce_text, validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = base64.b64encode(hashlib.sha1(  # noqa: S324  (the protocol's hash)
        nonce + created.encode() + creds.password.encode()).digest()).decode()
    return hmac.compare_digest(digest, supplied)


def handle_soap(device: SimDevice, headers: Mapping[str, str],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Answer a POST to /onvif/device_service."""
    profile = device.profile
    spec = profile.onvif
    assert spec is not None
    if profile.hostile is not None and profile.hostile.onvif == "xml-bomb":
        return _soap_reply(200, hostile.soap_bomb())
    try:
        root, _ = parse_xml(body)
    except XmlRejected as exc:
        return _soap_reply(400, fault("Sender", "ter:WellFormed", f"bad XML: {exc}"))
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    if body_el is None or len(body_el) == 0:
        return _soap_reply(400, fault("Sender", "ter:WellFormed", "no SOAP 1.2 Body"))
    operation = local(body_el[0].tag)
    if operation not in PRE_AUTH:
        http_ok = (spec.http_digest and profile.http is not None
                   and profile.http.auth is not None
                   and auth.verify(device, profile.http.auth, headers.get("authorization"),
                                   "POST"))
        if not (http_ok or check_username_token(device, root)):
            return _soap_reply(400, fault("Sender", "ter:NotAuthorized",
                                          "Sender not Authorized"))
    builder = _OPERATIONS.get(operation)
    if builder is None:
        return _soap_reply(400, fault("Receiver", "ter:ActionNotSupported",
                                      f"{operation} is not supported"))
    return _soap_reply(200, envelope(builder(device)))


def _xaddr(device: SimDevice) -> str:
    return f"http://{device.address}:{device.ports.get('http', 80)}{SERVICE_PATH}"


def _date_time(device: SimDevice) -> str:
    now = _device_now(device)
    return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false"
            "</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime><tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}"
            f"</tt:Minute><tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>"
            f"{now.year}</tt:Year><tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day>"
            "</tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
            "</tds:GetSystemDateAndTimeResponse>")


def _device_information(device: SimDevice) -> str:
    spec = device.profile.onvif
    assert spec is not None
    fields = [("Manufacturer", spec.manufacturer), ("Model", spec.model),
              ("FirmwareVersion", spec.firmware), ("SerialNumber", spec.serial),
              ("HardwareId", spec.hardware_id)]
    inner = "".join(f"<tds:{k}>{escape(device.render(v))}</tds:{k}>" for k, v in fields)
    return f"<tds:GetDeviceInformationResponse>{inner}</tds:GetDeviceInformationResponse>"


def _network_interfaces(device: SimDevice) -> str:
    return ("<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token=\"eth0\">"
            "<tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name>"
            f"<tt:HwAddress>{device.mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
            "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual>"
            f"<tt:Address>{device.address}</tt:Address><tt:PrefixLength>24</tt:PrefixLength>"
            "</tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
            "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>")


def _capabilities(device: SimDevice) -> str:
    return ("<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device>"
            f"<tt:XAddr>{_xaddr(device)}</tt:XAddr></tt:Device></tds:Capabilities>"
            "</tds:GetCapabilitiesResponse>")


def _services(device: SimDevice) -> str:
    return ("<tds:GetServicesResponse><tds:Service>"
            f"<tds:Namespace>{TDS}</tds:Namespace><tds:XAddr>{_xaddr(device)}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
            "</tds:Service></tds:GetServicesResponse>")


def _scopes(device: SimDevice) -> str:
    assert device.profile.onvif is not None
    items = "".join(f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>"
                    f"{escape(device.render(s))}</tt:ScopeItem></tds:Scopes>"
                    for s in device.profile.onvif.scopes)
    return f"<tds:GetScopesResponse>{items}</tds:GetScopesResponse>"


def _hostname(device: SimDevice) -> str:
    assert device.profile.onvif is not None
    name = escape(device.render(device.profile.onvif.hostname))
    return ("<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false"
            f"</tt:FromDHCP><tt:Name>{name}</tt:Name></tds:HostnameInformation>"
            "</tds:GetHostnameResponse>")


_OPERATIONS = {
    "GetSystemDateAndTime": _date_time,
    "GetDeviceInformation": _device_information,
    "GetNetworkInterfaces": _network_interfaces,
    "GetCapabilities": _capabilities,
    "GetServices": _services,
    "GetScopes": _scopes,
    "GetHostname": _hostname,
}


# -- WS-Discovery ----------------------------------------------------------------------
class Probe:
    """A parsed WS-Discovery Probe."""

    def __init__(self, message_id: str, types: list[tuple[str | None, str]],
                 scopes: list[str]) -> None:
        self.message_id = message_id
        self.types = types
        self.scopes = scopes


def parse_probe(data: bytes) -> Probe | None:
    """A Probe, or None for anything else (ProbeMatches, Hello, garbage)."""
    try:
        root, prefixes = parse_xml(data)
    except XmlRejected:
        return None
    probe = next((e for e in root.iter() if e.tag in (f"{{{WSD}}}Probe",
                                                       f"{{{WSD_2009}}}Probe")), None)
    if probe is None:
        return None
    message_id_el = _find(root, "MessageID")
    message_id = (message_id_el.text or "") if message_id_el is not None else ""
    types: list[tuple[str | None, str]] = []
    types_el = _find(probe, "Types")
    for qname in (types_el.text or "").split() if types_el is not None else []:
        prefix, _, name = qname.rpartition(":")
        types.append((prefixes.get(prefix) if prefix else None, name))
    scopes_el = _find(probe, "Scopes")
    scopes = (scopes_el.text or "").split() if scopes_el is not None else []
    return Probe(message_id.strip(), types, scopes)


def _type_matches(wanted: tuple[str | None, str], offered: list[str]) -> bool:
    namespace, name = wanted
    for qname in offered:
        prefix, _, offered_name = qname.rpartition(":")
        if offered_name != name:
            continue
        if namespace is None or KNOWN_PREFIXES.get(prefix) in (None, namespace):
            return True
    return False


def _scope_matches(wanted: str, offered: list[str]) -> bool:
    # RFC 3986 prefix matching by path segments (the WS-Discovery default rule).
    wanted = wanted.rstrip("/")
    return any(o == wanted or o.startswith(wanted + "/") for o in offered)


_INSTANCE_ID = str(int(datetime.now(UTC).timestamp()))


def probe_matches(device: SimDevice, probe: Probe, message_number: int) -> bytes | None:
    """The ProbeMatches reply for `probe`, or None if this device does not match it."""
    spec = device.profile.onvif
    assert spec is not None
    if not probe.types and not spec.answer_untyped:
        return None
    if not all(_type_matches(t, spec.types) for t in probe.types):
        return None
    scopes = [device.render(s) for s in spec.scopes]
    if not all(_scope_matches(s, scopes) for s in probe.scopes):
        return None
    endpoint = f"urn:uuid:{device.profile.endpoint_uuid()}"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<env:Envelope xmlns:env="{SOAP_ENV}" xmlns:wsa="{WSA}" xmlns:wsd="{WSD}" '
            f'xmlns:dn="{DN}" xmlns:tds="{TDS}"><env:Header>'
            f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
            f"<wsa:RelatesTo>{escape(probe.message_id)}</wsa:RelatesTo>"
            f'<wsa:To env:mustUnderstand="true">{WSA}/role/anonymous</wsa:To>'
            f'<wsa:Action env:mustUnderstand="true">{WSD}/ProbeMatches</wsa:Action>'
            f'<wsd:AppSequence InstanceId="{_INSTANCE_ID}" MessageNumber="{message_number}"/>'
            "</env:Header><env:Body><wsd:ProbeMatches><wsd:ProbeMatch>"
            f"<wsa:EndpointReference><wsa:Address>{endpoint}</wsa:Address>"
            f"</wsa:EndpointReference><wsd:Types>{' '.join(spec.types)}</wsd:Types>"
            f"<wsd:Scopes>{escape(' '.join(scopes))}</wsd:Scopes>"
            f"<wsd:XAddrs>{_xaddr(device)}</wsd:XAddrs>"
            f"<wsd:MetadataVersion>{spec.metadata_version}</wsd:MetadataVersion>"
            "</wsd:ProbeMatch></wsd:ProbeMatches></env:Body></env:Envelope>").encode()


def probe_matches_bomb(probe: Probe) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'{hostile.billion_laughs_doctype("env:Envelope")}\n'
            f'<env:Envelope xmlns:env="{SOAP_ENV}" xmlns:wsa="{WSA}" xmlns:wsd="{WSD}">'
            f"<env:Header><wsa:RelatesTo>{escape(probe.message_id)}</wsa:RelatesTo>"
            "</env:Header><env:Body><wsd:ProbeMatches><wsd:ProbeMatch><wsd:Scopes>"
            "onvif://www.onvif.org/name/&lol9;</wsd:Scopes></wsd:ProbeMatch>"
            "</wsd:ProbeMatches></env:Body></env:Envelope>").encode()


