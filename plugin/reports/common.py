"""What every report needs from a document: its subjects, their site, safe parameters."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from typing import Any

SCAN_SCHEMA = "entityscan.scan/1"
SCREEN_SCHEMA = "entityscan.screen/1"
VERDICTS = ("flagged", "review", "clear")
VERDICT_RANK = {"clear": 0, "review": 1, "flagged": 2}
UNATTRIBUTED = "(no maker)"

# Scanners must never put credentials in a document; reports still refuse to show anything
# whose key looks like one, in case a parameter slips through.
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|secret|token|credential|api[_-]?key|auth|"
                         r"cookie|private", re.IGNORECASE)
REDACTED = "(not shown)"


def is_scan(doc: dict[str, Any]) -> bool:
    return doc.get("schema") == SCAN_SCHEMA


def subjects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The devices of a scan document or the results (line items) of a screen document."""
    return list(doc.get("devices" if is_scan(doc) else "results") or [])


def safe_parameters(parameters: Any) -> dict[str, str]:
    """The scan's parameters as display strings, credentials (or look-alikes) withheld."""
    if not isinstance(parameters, dict):
        return {}
    shown: dict[str, str] = {}
    for key, value in parameters.items():
        if _SECRET_KEY.search(str(key)):
            shown[str(key)] = REDACTED
        elif isinstance(value, str):
            shown[str(key)] = value
        else:
            shown[str(key)] = json.dumps(_redact_nested(value), ensure_ascii=False,
                                         sort_keys=True, default=str)
    return shown


def _redact_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else _redact_nested(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_nested(v) for v in value]
    return value


def first_ipv4(addresses: list[str]) -> ipaddress.IPv4Address | None:
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv4Address):
            return address
    return None


def site_of(subject: dict[str, Any], scan: bool) -> str:
    """Where a subject lives: a /24 for IPv4 devices, the host for USB, a /64 for IPv6-only
    devices; for line items, the supplier."""
    if not scan:
        item = subject.get("item") or {}
        return str(item.get("supplier") or "(no supplier)")
    if subject.get("host"):
        return f"host {subject['host']}"
    addresses = [str(a) for a in subject.get("addresses") or []]
    v4 = first_ipv4(addresses)
    if v4 is not None:
        return str(ipaddress.ip_network(f"{v4}/24", strict=False))
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if address.is_link_local:
            continue
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return "(no address)"


def address_sort_key(addresses: list[str]) -> str:
    """A string that sorts devices by address numerically (10.0.0.9 before 10.0.0.10)."""
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        return f"{address.version}:{int(address):039d}"
    return "9:" + (addresses[0] if addresses else "")


def count_by(doc: dict[str, Any], key: str) -> list[tuple[str, dict[str, int]]]:
    """Verdict counts per `maker` or per `site`, most flagged first."""
    scan = is_scan(doc)
    table: dict[str, dict[str, int]] = {}
    for subject in subjects(doc):
        group = (subject.get("maker") or UNATTRIBUTED) if key == "maker" else site_of(subject, scan)
        counts = table.setdefault(group, {v: 0 for v in VERDICTS} | {"total": 0})
        verdict = subject.get("verdict", "clear")
        counts[verdict] = counts.get(verdict, 0) + 1
        counts["total"] += 1
    return sorted(table.items(), key=lambda kv: (-kv[1]["flagged"], -kv[1]["review"],
                                                 -kv[1]["total"], kv[0]))


def list_codes(subject: dict[str, Any]) -> list[str]:
    return sorted({str(m.get("list")) for m in subject.get("matches") or [] if m.get("list")})


def citations(subject: dict[str, Any]) -> list[str]:
    return sorted({str(m["citation"]) for m in subject.get("matches") or []
                   if m.get("citation")})


def iter_text(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, for search indexes."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_text(v)
    elif isinstance(value, list):
        for v in value:
            yield from iter_text(v)
    elif value is not None:
        yield str(value)
