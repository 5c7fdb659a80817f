"""Credentials out of everything that leaves a run, without corrupting what is left.

The user's passwords (`secrets`) and credentials in general are removed where they can
appear, never by cutting a string out of the whole document (a one-character password would
otherwise eat every `2` of every timestamp and the document would no longer be valid):

- a value under a credential-named key (`password`, `token`, `authorization`, `cookie` …);
- the password part of a URL's user-info (`rtsp://admin:pw@cam/` -> `rtsp://admin:***@cam/`)
  and the credentials after `Authorization:` / `Basic` / `Bearer` in text a device echoed;
- a value that is, as a whole, one of the secrets (a device echoing the password back);
- a secret of `MIN_INSIDE` characters or more inside text a device sent (a page title that
  says `login admin/<password>`).  Shorter ones turn up by chance in ordinary text, so they
  are only removed as whole values.  Structural fields (times, addresses, ids, hashes, rule
  names) are never cut: a secret cannot appear in them, and cutting would corrupt them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

REDACTED = "***"
MIN_INSIDE = 6
_CREDENTIAL_KEY = re.compile(r"^(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|"
                             r"authorization|proxy[_-]authorization|cookie|set[_-]cookie|"
                             r"credentials?)$", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]{0,20}://[^/@:\s]{0,256}:)"
                           r"[^/@\s]{1,256}@")
_AUTH_TEXT = re.compile(r"(?P<head>\b(?:proxy-)?authorization\s*:\s*(?:(?:basic|bearer|digest"
                        r"|token)\s+)?|\b(?:basic|bearer)\s+)[A-Za-z0-9+/=._~-]{4,}",
                        re.IGNORECASE)
#: Keys whose values are structure, not text from a device: never cut inside them.
_STRUCTURAL = frozenset({
    "schema", "kind", "targets", "started", "finished", "generated", "at", "addresses", "mac",
    "vid", "pid", "host", "key", "id", "probe", "field", "rule", "source", "certainty",
    "indicates", "verdict", "decision", "entry_id", "list", "lists", "scan_id", "audit_id",
    "port_path", "usb_source", "bus", "device_number", "open_ports", "discovered_by",
})


def _structural(key: str | None) -> bool:
    return key is not None and (key in _STRUCTURAL or key.endswith(("_at", "_hash", "_id")))


def _text(value: str, secrets: Sequence[str], key: str | None) -> str:
    if _structural(key):
        return value
    if value.strip() in secrets:
        return REDACTED
    value = _URL_USERINFO.sub(lambda m: m["head"] + REDACTED + "@", value)
    value = _AUTH_TEXT.sub(lambda m: m["head"] + REDACTED, value)
    for secret in secrets:
        if len(secret) >= MIN_INSIDE:
            value = value.replace(secret, REDACTED)
    return value


def _walk(value: Any, secrets: Sequence[str], key: str | None) -> Any:
    if isinstance(value, str):
        if key is not None and _CREDENTIAL_KEY.match(key) and value:
            return REDACTED
        return _text(value, secrets, key)
    if isinstance(value, dict):
        return {k: _walk(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, secrets, key) for v in value]
    return value


def redact(value: Any, secrets: Sequence[str] = ()) -> Any:
    """`value` (JSON-like) with credentials removed as described in the module docstring;
    without secrets (no credentials were used) it is returned as it is."""
    if not secrets:
        return value
    cleaned = sorted({s.strip() for s in secrets if s and s.strip()}, key=len, reverse=True)
    return _walk(value, cleaned, None)
