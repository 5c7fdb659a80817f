"""What one HTTP or RTSP response says about the server that sent it, as `Observations` for
the same signature rules the active probes feed (same signal kinds, same field names).

Shared by the passive scan (responses reassembled from a capture) and the importers (raw
responses kept by nmap's service fingerprints and masscan's banners).  The response may be a
reply to someone else's request: a path counts as vendor-path evidence only when it was
answered with a challenge (401 and `WWW-Authenticate`) or with the vendor's own document.
"""

from __future__ import annotations

from entityscan.scanners.discovery.xmlsafe import (
    MAX_XML_BYTES,
    UnsafeXML,
    children_text,
    find_all,
    find_text,
    local,
    parse_xml,
)
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.http import _parse_isapi, _parse_magicbox, realm_of, title_of

#: Bytes of a body handed to the `http_body` rules (as the active probe does).
BODY_SIGNAL = 4096


def field_prefix(port: int) -> str:
    """`port 8080 ` for ports other than 80/443 (the active probe's field names)."""
    return "" if port in (80, 443) else f"port {port} "


def observe_response(protocol: str, port: int, status: int, headers: dict[str, str],
                     body: bytes, request: tuple[str, str] | None = None) -> Observations:
    """Signals and facts from one response (`headers` with lower-case names)."""
    obs = Observations()
    obs.answered = True
    if protocol == "rtsp":
        obs.signal("rtsp_server", headers.get("server"), "rtsp", f"port {port} Server")
        obs.signal("http_realm", realm_of(headers.get("www-authenticate")), "rtsp",
                   f"port {port} WWW-Authenticate realm")
        return obs
    prefix = field_prefix(port)
    obs.signal("http_server", headers.get("server"), "http", f"{prefix}Server")
    realm = realm_of(headers.get("www-authenticate"))
    obs.signal("http_realm", realm, "http", f"{prefix}WWW-Authenticate realm")
    title = title_of(body) if body else None
    obs.signal("http_title", title, "http", f"{prefix}title")
    obs.fact("title", title)
    path = _request_path(request)
    documented = False
    if body and status == 200:
        documented = _documents(obs, body, headers.get("content-type", ""))
        # The body rules judge a device's front page or vendor documents (as the active probe
        # does), not every script and stylesheet a browser fetched from any web server.
        if documented or path is None or path.split("?", 1)[0] == "/":
            obs.signal("http_body", body[:BODY_SIGNAL].decode("utf-8", "replace"), "http",
                       f"{prefix}body")
    if path and ((status == 401 and realm) or documented):
        obs.signal("http_path", f"{path} {status}", "http", f"{prefix}path")
    return obs


def _request_path(request: tuple[str, str] | None) -> str | None:
    """The target a response answered (the `http_path` rules decide whether it is a vendor
    path); an absolute-form target (a proxy request) is cut to its path."""
    if request is None:
        return None
    target = request[1]
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target[:256] if target.startswith("/") and " " not in target else None


def _documents(obs: Observations, body: bytes, content_type: str) -> bool:
    """Vendor documents in a 200 body: ISAPI DeviceInfo, magicBox system info, ONVIF device
    information, network interfaces and scopes, a UPnP device description."""
    start = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not start.startswith(b"<"):
        return _parse_magicbox(obs, body)
    if "xml" not in content_type.lower() and not start.startswith(b"<?xml"):
        return False  # an HTML page (its <!DOCTYPE html> is not an XML document type)
    try:
        root = parse_xml(body)
    except UnsafeXML as exc:
        if exc.hostile and b"<!ENTITY" in body[:MAX_XML_BYTES]:
            obs.hostile = True
            obs.errors.append(f"http: hostile XML answer refused ({str(exc)[:80]})")
        return False
    if local(root.tag) == "DeviceInfo":
        return _parse_isapi(obs, body)
    if local(root.tag) == "Envelope":
        return _onvif(obs, root)
    if local(root.tag) == "root":
        return _upnp(obs, root)
    return False


def _onvif(obs: Observations, root: object) -> bool:
    from xml.etree.ElementTree import Element

    assert isinstance(root, Element)
    found = False
    for info in find_all(root, "GetDeviceInformationResponse")[:1]:
        values = children_text(info)
        for name in ("Manufacturer", "HardwareId"):
            obs.signal("onvif_info", values.get(name), "onvif", name)
        obs.fact("brand", values.get("Manufacturer"))
        for fact, name in (("model", "Model"), ("firmware", "FirmwareVersion"),
                           ("serial", "SerialNumber")):
            obs.fact(fact, values.get(name))
            obs.signal(fact, values.get(name), "onvif", name)
        found = True
    for interfaces in find_all(root, "GetNetworkInterfacesResponse")[:1]:
        obs.fact("mac", find_text(interfaces, "HwAddress"))
        found = True
    for scopes in find_all(root, "GetScopesResponse")[:1]:
        for item in find_all(scopes, "ScopeItem")[:64]:
            if item.text and item.text.strip():
                obs.signal("onvif_scope", item.text.strip(), "onvif", "scope")
        found = True
    return found


def _upnp(obs: Observations, root: object) -> bool:
    from xml.etree.ElementTree import Element

    assert isinstance(root, Element)
    device = next(iter(find_all(root, "device")), None)
    if device is None:
        return False
    values = children_text(device)
    obs.signal("label", values.get("manufacturer"), "upnp", "manufacturer")
    for fact, name in (("model", "modelName"), ("model", "modelNumber"),
                       ("serial", "serialNumber")):
        obs.signal(fact, values.get(name), "upnp", name)
        obs.fact(fact, values.get(name))
    return bool(values.get("manufacturer") or values.get("modelName"))
