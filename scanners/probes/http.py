"""HTTP fingerprinting: GET `/`, the favicon and known vendor paths (read-only).

Every response is read as a bounded stream (size cap) inside a time cap, so a 50 MB body or a
server dripping one byte a second costs at most the caps.  Redirects are followed by hand, only
on the same host and port.  Credentials, when the user supplied them for this device, go only
to the vendor device-information paths, by HTTP digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import zlib
from dataclasses import dataclass
from functools import cache
from urllib.parse import urljoin, urlsplit

import httpx

from entityscan.scanners.discovery.xmlsafe import UnsafeXML, children_text, local, parse_xml
from entityscan.scanners.probes import ANSWER_TIMEOUT, Observations, host_for_url

#: Bytes kept from one response body.
BODY_LIMIT = 256 * 1024
#: Seconds one request may take, all reads included.
REQUEST_TIMEOUT = ANSWER_TIMEOUT

#: Read-only GETs of vendor web stacks: (path, what a meaningful answer looks like).
VENDOR_PATHS = (
    "/ISAPI/System/deviceInfo",
    "/cgi-bin/magicBox.cgi?action=getSystemInfo",
    "/doc/page/login.asp",
    "/SDK/webLanguage",
)

_TITLE = re.compile(rb"<title[^>]*>(.{0,300}?)</title", re.I | re.S)
_REALM = re.compile(r'realm\s*=\s*"([^"]{0,200})"|realm\s*=\s*([^\s,]{1,200})', re.I)


@dataclass
class Fetched:
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    url: str
    version: str = "HTTP/1.1"


@cache
def insecure_context() -> ssl.SSLContext:
    """Device certificates are self-signed: read them, never trust them.  Old firmware needs
    old protocol versions and ciphers.  No trust store is loaded (nothing is verified; loading
    the system's costs tens of milliseconds each time), and one context serves the scan."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def make_client(concurrency: int, context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """A client for one device (a small pool: httpcore scans its whole pool per request)."""
    return httpx.AsyncClient(
        verify=context or insecure_context(),
        trust_env=False,  # never route device probes through an environment proxy
        follow_redirects=False,
        timeout=httpx.Timeout(REQUEST_TIMEOUT),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency,
                            keepalive_expiry=2.0),
        headers={"User-Agent": "entityscan/0.1 (inventory scan)", "Accept-Encoding": "identity",
                 "Connection": "keep-alive"},
    )


def _decode(body: bytes, encoding: str | None) -> bytes:
    """Undo gzip/deflate a device sent anyway, never expanding past BODY_LIMIT."""
    if encoding and encoding.lower() in ("gzip", "deflate"):
        wbits = 31 if encoding.lower() == "gzip" else 15
        try:
            return zlib.decompressobj(wbits).decompress(body, BODY_LIMIT)
        except zlib.error:
            return b""
    return body


async def fetch(client: httpx.AsyncClient, url: str, *, auth: httpx.Auth | None = None,
                limit: int = BODY_LIMIT, timeout: float = REQUEST_TIMEOUT) -> Fetched:
    """GET `url`, following at most two same-origin redirects; bounded in size and time."""
    origin = urlsplit(url)[:2]
    async with asyncio.timeout(timeout):
        for _ in range(3):
            async with client.stream("GET", url, auth=auth) as response:
                if response.is_redirect and "location" in response.headers:
                    target = urljoin(url, response.headers["location"])
                    if urlsplit(target)[:2] == origin and target != url:
                        url = target
                        continue
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    # Announced larger than we read: refused before a byte of it arrives.
                    return Fetched(response.status_code, response.headers, b"", True, url,
                                   response.http_version)
                body = bytearray()
                truncated = False
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= limit:
                        truncated = True
                        del body[limit:]
                        break
                return Fetched(response.status_code, response.headers,
                               _decode(bytes(body), response.headers.get("content-encoding")),
                               truncated, url, response.http_version)
    raise httpx.TooManyRedirects(f"redirect loop at {url}")


def realm_of(header: str | None) -> str | None:
    if not header:
        return None
    match = _REALM.search(header)
    return (match.group(1) or match.group(2)) if match else None


def title_of(body: bytes) -> str | None:
    match = _TITLE.search(body[:65536])
    if not match:
        return None
    title = match.group(1).decode("utf-8", "replace")
    return re.sub(r"\s+", " ", title).strip() or None


def _record_headers(obs: Observations, fetched: Fetched, field_prefix: str) -> None:
    obs.signal("http_server", fetched.headers.get("server"), "http", f"{field_prefix}Server")
    realm = realm_of(fetched.headers.get("www-authenticate"))
    obs.signal("http_realm", realm, "http", f"{field_prefix}WWW-Authenticate realm")


SHAPE_BODY_CHARS = 64


def response_shape(fetched: Fetched) -> str:
    """The response's shape as the `http_shape` rules read it: status line version and code,
    header names in the order and case they came, the Server value, cookie names,
    X-Powered-By, and the first characters of the body (a BOM kept as U+FEFF)."""
    names = [name.decode("latin-1") for name, _ in fetched.headers.raw][:64]
    cookies = [value.split("=", 1)[0].strip()[:64]
               for value in fetched.headers.get_list("set-cookie")[:16]]
    head = fetched.body[:SHAPE_BODY_CHARS * 4].decode("utf-8", "replace")[:SHAPE_BODY_CHARS]
    head = re.sub(r"[\x00-\x1f\x7f]+", " ", head).rstrip()
    lines = [f"status: {fetched.version} {fetched.status}", f"headers: {', '.join(names)}"]
    if fetched.headers.get("server") is not None:
        lines.append(f"server: {fetched.headers['server'][:128]}")
    if cookies:
        lines.append(f"cookies: {', '.join(cookies)}")
    if fetched.headers.get("x-powered-by"):
        lines.append(f"powered-by: {fetched.headers['x-powered-by'][:128]}")
    lines.append(f"body: {head}")
    return "\n".join(lines)


def _record_shape(obs: Observations, fetched: Fetched, prefix: str) -> None:
    obs.signal("http_shape", response_shape(fetched), "http", f"{prefix}response shape",
               limit=2048)
    for value in fetched.headers.get_list("set-cookie")[:16]:
        obs.signal("http_cookie", value, "http", f"{prefix}Set-Cookie")
    obs.signal("http_powered_by", fetched.headers.get("x-powered-by"), "http",
               f"{prefix}X-Powered-By")


def _parse_isapi(obs: Observations, body: bytes) -> bool:
    try:
        root = parse_xml(body)
    except UnsafeXML:
        return False
    if local(root.tag) != "DeviceInfo":
        return False
    info = {k.lower(): v for k, v in children_text(root).items()}
    obs.fact("model", info.get("model"))
    obs.fact("serial", info.get("serialnumber"))
    obs.fact("mac", info.get("macaddress"))
    firmware = info.get("firmwareversion")
    if firmware and info.get("firmwarereleaseddate"):
        firmware = f"{firmware} {info['firmwarereleaseddate']}"
    obs.fact("firmware", firmware)
    obs.fact("device_class", info.get("devicetype"))
    obs.signal("model", info.get("model"), "http", "ISAPI deviceInfo model")
    obs.signal("firmware", firmware, "http", "ISAPI deviceInfo firmwareVersion")
    obs.signal("serial", info.get("serialnumber"), "http", "ISAPI deviceInfo serialNumber")
    return True


def _parse_magicbox(obs: Observations, body: bytes) -> bool:
    text = body[:16384].decode("utf-8", "replace")
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and len(values) < 32:
            values[key.strip()] = value.strip()
    if "deviceType" not in values and "serialNumber" not in values:
        return False
    # On OEM units `updateSerial` names the underlying Dahua model.
    obs.fact("model", values.get("deviceType"))
    obs.fact("serial", values.get("serialNumber"))
    obs.signal("model", values.get("deviceType"), "http", "magicBox deviceType")
    obs.signal("model", values.get("updateSerial"), "http", "magicBox updateSerial")
    obs.signal("serial", values.get("serialNumber"), "http", "magicBox serialNumber")
    return True


async def probe_http(client: httpx.AsyncClient, address: str, port: int, *, tls: bool,
                     credentials: tuple[str, str] | None = None,
                     budget: float = 10.0) -> Observations:
    """Fingerprint one HTTP(S) port within `budget` seconds."""
    obs = Observations()
    base = f"{'https' if tls else 'http'}://{host_for_url(address)}:{port}"
    where = f"{base}"
    prefix = "" if port in (80, 443) else f"port {port} "
    try:
        async with asyncio.timeout(budget):
            root = await fetch(client, base + "/")
            if root.truncated:
                obs.hostile = True
                obs.errors.append(f"http {where}: answer larger than {BODY_LIMIT // 1024} KiB; "
                                  "refused (not a device web interface, or hostile)")
                return obs
            obs.answered = True
            _record_headers(obs, root, prefix)
            _record_shape(obs, root, prefix)
            obs.signal("http_title", title_of(root.body), "http", f"{prefix}title")
            if root.body:
                head = root.body[:4096].decode("utf-8", "replace")
                obs.signal("http_body", head, "http", f"{prefix}body")
            obs.fact("title", title_of(root.body))
            favicon = await fetch(client, base + "/favicon.ico", limit=BODY_LIMIT)
            if favicon.status == 200 and favicon.body and not favicon.truncated:
                obs.signal("favicon", hashlib.md5(favicon.body).hexdigest(),  # noqa: S324
                           "http", f"{prefix}favicon MD5")
            auth = httpx.DigestAuth(*credentials) if credentials else None
            for path in VENDOR_PATHS:
                fetched = await fetch(client, base + path,
                                      auth=auth if "deviceInfo" in path or "magicBox" in path
                                      else None)
                meaningful = fetched.status == 401 and bool(fetched.headers.get(
                    "www-authenticate"))
                if fetched.status == 200:
                    if "ISAPI" in path:
                        meaningful = _parse_isapi(obs, fetched.body)
                    elif "magicBox" in path:
                        meaningful = _parse_magicbox(obs, fetched.body)
                    else:
                        # A vendor page exists only if / did not already answer the same thing
                        # (single-page servers answer every path with the same body).
                        meaningful = fetched.body != root.body and bool(fetched.body)
                if meaningful:
                    obs.signal("http_path", path, "http", f"{prefix}path")
                    _record_headers(obs, fetched, f"{prefix}{path} ")
    except TimeoutError:
        obs.errors.append(f"http {where}: no complete answer in time"
                          if not obs.answered else
                          f"http {where}: stopped after {budget:g}s (slow device)")
    except httpx.HTTPError as exc:
        obs.errors.append(f"http {where}: {type(exc).__name__}: {str(exc)[:120]}")
    except Exception as exc:  # h11 protocol errors and the like: the device is odd, not us
        obs.errors.append(f"http {where}: {type(exc).__name__}: {str(exc)[:120]}")
    return obs
