"""nmap XML (`nmap -oX`): addresses and MACs, open ports, the raw responses kept in service
fingerprints (`servicefp`), and script output: `http-server-header`, `http-title`,
`http-headers`, `ssl-cert` (its PEM, so the subject reads exactly as our own TLS probe reads
it), `rtsp-methods`.  nmap's own service names (`product`) are nmap's conclusions, not the
device's words: they are shown as descriptive evidence and judged by the `nmap_service` rules,
which only speak for names nmap can have reached solely from a vendor protocol's own answer
(the XML keeps raw answers only for services nmap could not name).

The file is streamed host by host (defusedxml's iterparse: entities and external references
refused; nmap's own DOCTYPE allowed), so a large scan never sits in memory whole.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from entityscan.scanners.importers.common import Imported, raw_response
from entityscan.scanners.passive.hosts import Host
from entityscan.scanners.passive.responses import field_prefix
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.http import realm_of
from entityscan.scanners.probes.tls import subject_and_issuer

#: One response inside a service fingerprint: r(ProbeName,hexlength,"escaped bytes").
_RESPONSE = re.compile(r'r\(([A-Za-z0-9_-]{1,40}),([0-9A-Fa-f]{1,8}),"((?:[^"\\]|\\.){0,20000})"\)')
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|.)", re.S)
_SIMPLE = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\x00", b'"': b'"', b"\\": b"\\"}


def _unescape(text: str) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x" and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return _SIMPLE.get(code, code)

    return _ESCAPE.sub(one, text.encode("latin-1", "replace"))


def fingerprint_responses(servicefp: str) -> list[bytes]:
    """The raw responses of an nmap service fingerprint (`SF-Port80-TCP:V=…%r(GetRequest,…)`).
    Lines of a fingerprint may be joined with or without `SF:` continuation prefixes."""
    joined = re.sub(r"(?:^|\n)SF:", "", servicefp.replace("\r", ""))
    return [_unescape(m.group(3)) for m in _RESPONSE.finditer(joined[:200000])][:16]


def read_nmap(path: Path, imported: Imported) -> None:
    try:
        with open(path, "rb") as stream:
            for event, element in iterparse(stream, events=("end",), forbid_dtd=False,
                                            forbid_entities=True, forbid_external=True):
                if element.tag == "host" and event == "end":
                    _host(element, imported)
                    element.clear()
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        imported.error(path, line, f"malformed nmap XML ({str(exc)[:120]}); the hosts before "
                                   "this point were read")
    except DefusedXmlException as exc:
        imported.error(path, None, f"refused: {type(exc).__name__} (entities or external "
                                   "references are not accepted in nmap XML)")


def _host(element: Element, imported: Imported) -> None:
    address = mac = None
    for item in element.findall("address"):
        kind = item.get("addrtype")
        if kind in ("ipv4", "ipv6") and address is None:
            address = item.get("addr")
        elif kind == "mac":
            mac = item.get("addr")
    if address is None:
        return
    open_ports = [port for port in element.iter("port") if _is_open(port)]
    if not open_ports and mac is None:
        return
    host = imported.host(address, mac=mac)
    if host is None:
        return
    for when in ("starttime", "endtime"):
        value = element.get(when, "")
        imported.seen(address, float(value) if value.isdigit() else None)
    for port in open_ports[:64]:
        try:
            number = int(port.get("portid", ""))
        except ValueError:
            continue
        if port.get("protocol") == "tcp":
            host.candidate.open_ports.add(number)
        _port(port, number, host)


def _is_open(port: Element) -> bool:
    state = port.find("state")
    return state is not None and state.get("state") == "open"


def _port(port: Element, number: int, host: Host) -> None:
    record = host.add
    service = port.find("service")
    if service is not None:
        named = " ".join(v for v in (service.get("product"), service.get("version"),
                                     service.get("extrainfo")) if v)
        if named:
            obs = Observations()
            obs.fact("nmap_service", f"port {number}: {named}"[:200])
            obs.signal("nmap_service", service.get("product"), "nmap",
                       f"port {number} service product", limit=256)
            record("nmap", obs)
        for response in fingerprint_responses(service.get("servicefp", "")):
            found = raw_response(response, number)
            if found is not None:
                record("rtsp" if response.startswith(b"RTSP/") else "http", found)
    for script in port.findall("script"):
        said = _script(script, number)
        if said is not None:
            record("nmap", said)


def _script(script: Element, port: int) -> Observations | None:
    name = script.get("id", "")
    output = script.get("output", "")
    prefix = field_prefix(port)
    obs = Observations()
    obs.answered = True
    if name == "http-server-header":
        values = [e.text for e in script.findall("elem") if e.text] or [output.strip()]
        for value in values[:4]:
            obs.signal("http_server", value, "http", f"{prefix}Server")
    elif name == "http-title":
        title = next((e.text for e in script.findall("elem") if e.get("key") == "title"), None)
        obs.signal("http_title", title, "http", f"{prefix}title")
        obs.fact("title", title)
    elif name == "http-headers":
        for line in output.splitlines()[:64]:
            key, sep, value = line.strip().partition(":")
            if sep and key.strip().lower() == "server":
                obs.signal("http_server", value.strip(), "http", f"{prefix}Server")
            elif sep and key.strip().lower() == "www-authenticate":
                obs.signal("http_realm", realm_of(value.strip()), "http",
                           f"{prefix}WWW-Authenticate realm")
    elif name == "ssl-cert":
        subject, issuer = _certificate(script)
        obs.signal("tls_subject", subject, "tls", f"port {port} certificate subject")
        if issuer and issuer != subject:
            obs.signal("tls_subject", issuer, "tls", f"port {port} certificate issuer")
    elif name == "rtsp-methods":
        obs.fact("rtsp_methods", output.strip()[:200])
    else:
        return None
    return obs


_NMAP_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
               "countryName": "C", "stateOrProvinceName": "ST", "localityName": "L",
               "serialNumber": "serialNumber", "emailAddress": "emailAddress"}


def _certificate(script: Element) -> tuple[str | None, str | None]:
    pem = next((e.text for e in script.iter("elem") if e.get("key") == "pem" and e.text), None)
    if pem:
        body = "".join(line for line in pem.strip().splitlines() if "-----" not in line)
        try:
            return subject_and_issuer(base64.b64decode(body, validate=False)[:65536])
        except (ValueError, IndexError):
            pass
    names = []
    for key in ("subject", "issuer"):
        table = next((t for t in script.findall("table") if t.get("key") == key), None)
        parts = [f"{_NMAP_NAMES.get(e.get('key', ''), e.get('key'))}={e.text}"
                 for e in (table.findall("elem") if table is not None else []) if e.text]
        names.append(",".join(parts) or None)
    return names[0], names[1]
