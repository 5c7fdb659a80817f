"""HTTP/RTSP digest and basic authentication (RFC 7616/2617, MD5) as devices check it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from entityscan.scanners.lab.device import SimDevice
from entityscan.scanners.lab.profiles import AuthSpec

_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def challenge(device: SimDevice, auth: AuthSpec) -> str:
    """The WWW-Authenticate value for a 401."""
    realm = device.render(auth.realm)
    if auth.scheme == "basic":
        return f'Basic realm="{realm}"'
    parts = [f'Digest realm="{realm}"']
    if auth.qop:
        parts.append(f'qop="{auth.qop}"')
    parts.append(f'nonce="{device.new_nonce()}"')
    if auth.algorithm:
        parts.append(f'algorithm="{auth.algorithm}"')
    if auth.stale_param:
        parts.append('stale="FALSE"')
    return ", ".join(parts)


def parse_params(value: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM_RE.finditer(value)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324  (the protocol's hash)


def verify(device: SimDevice, auth: AuthSpec, header: str | None, method: str) -> bool:
    """True when `header` (Authorization) carries the profile's credentials."""
    if not header:
        return False
    creds = device.profile.credentials
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "basic" and auth.scheme == "basic":
        try:
            user, _, password = base64.b64decode(rest.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (hmac.compare_digest(user, creds.username)
                and hmac.compare_digest(password, creds.password))
    if scheme.lower() != "digest" or auth.scheme != "digest":
        return False
    params = parse_params(rest)
    realm = device.render(auth.realm)
    needed = ("username", "realm", "nonce", "uri", "response")
    if any(k not in params for k in needed) or params["realm"] != realm:
        return False
    if params["username"] != creds.username or not device.knows_nonce(params["nonce"]):
        return False
    ha1 = _md5(f"{creds.username}:{realm}:{creds.password}")
    ha2 = _md5(f"{method}:{params['uri']}")
    if params.get("qop"):
        expected = _md5(f"{ha1}:{params['nonce']}:{params.get('nc', '')}:"
                        f"{params.get('cnonce', '')}:{params['qop']}:{ha2}")
    else:
        expected = _md5(f"{ha1}:{params['nonce']}:{ha2}")
    return hmac.compare_digest(expected, params["response"].lower())
