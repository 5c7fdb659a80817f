"""A user's own rapid7/recog checkout as a second rule source, behind entityscan's rules.

Nothing of recog is bundled: `entityscan scan --recog-dir PATH` reads the fingerprint XML
files of a checkout the user keeps (BSD-2-Clause, Rapid7) at run time.  Each signal kind is
judged by entityscan's rules first; recog's fingerprints for the same kind are tried only when
those pointed to no maker.  A fingerprint yields a claim only when its vendor parameter maps to
a canonical maker or brand through the caller's `vendor_map` (the brands data); every other
fingerprint yields descriptive evidence (no maker), so a generic match never becomes a
Hikvision or Dahua claim.  recog's certainty parameters cap the certainty (never `solid`).

Ruby regexes are translated for Python (`(?<name>`, `\\z`, `\\h`); a pattern that does not
compile, or nests unbounded repeats (backtracking risk on hostile values), is skipped and
counted in `skipped`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import defusedxml.ElementTree as SafeET

from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Certainty, Evidence
from entityscan.scanners.signatures.engine import _has_nested_unbounded_repeat

#: recog file -> (entityscan signal kind, probe field the kind is scoped to, or None).
FILES = {
    "http_servers.xml": ("http_server", None), "http_wwwauth.xml": ("http_realm", None),
    "rtsp_servers.xml": ("rtsp_server", None), "x509_subjects.xml": ("tls_subject", None),
    "favicons.xml": ("favicon", None), "html_title.xml": ("http_title", None),
    "ftp_banners.xml": ("ftp_banner", None), "ssh_banners.xml": ("ssh_banner", None),
    "telnet_banners.xml": ("telnet_banner", None),
    "snmp_sysdescr.xml": ("snmp", "sysdescr"), "snmp_sysobjid.xml": ("snmp", "sysobjectid"),
    "mdns_device-info_txt.xml": ("mdns_txt", "_device-info._tcp.local."),
    "http_cookies.xml": ("http_cookie", None), "http_xpoweredby.xml": ("http_powered_by", None),
}
VENDOR_PARAMS = ("hw.vendor", "os.vendor", "service.vendor")
MAX_VALUE = 2048
MAX_FILE_BYTES = 16 * 1024 * 1024
SOURCE = "rapid7/recog (BSD-2-Clause), read from the user's checkout"

#: Maps a recog vendor string to (canonical name, evidence kind) or None.
VendorMap = Callable[[str], tuple[str, str] | None]


class RecogError(ScannerError):
    """The recog directory cannot be used."""


@dataclass(frozen=True)
class Fingerprint:
    regex: re.Pattern[str]
    description: str
    where: str
    vendor: str | None
    certainty: Certainty


@dataclass
class RecogRules:
    """recog fingerprints by entityscan kind (see `load_recog`)."""

    by_kind: dict[str, list[tuple[str | None, Fingerprint]]] = field(default_factory=dict)
    vendor_map: VendorMap = field(default=lambda _vendor: None)
    loaded: int = 0
    skipped: int = 0

    def evaluate(self, kind: str, value: str, *, probe: str, field: str) -> list[Evidence]:
        out: list[Evidence] = []
        for scope, print_ in self.by_kind.get(kind, ()):
            if scope is not None and field.lower() != scope:
                continue
            if not any(print_.regex.search(v) for v in _forms(kind, value[:MAX_VALUE])):
                continue
            mapped = self.vendor_map(print_.vendor) if print_.vendor else None
            out.append(Evidence(
                probe=probe, field=field, value=value[:200],
                indicates=mapped[0] if mapped else None,
                kind=mapped[1] if mapped else "platform", certainty=print_.certainty,
                source=f"{SOURCE}: {print_.where}", rule=f"recog/{print_.where}",
                fields={"recog": print_.description[:128],
                        **({"recog_vendor": print_.vendor[:64]} if print_.vendor else {})}))
            break  # recog's first match wins, as in recog itself
        return out


def _forms(kind: str, value: str) -> list[str]:
    """The value as recog's fingerprints for `kind` expect it."""
    if kind == "http_realm" and "realm" not in value.lower():
        return [value, f'Basic realm="{value}"', f'Digest realm="{value}"']
    if kind == "tls_subject":
        parts = [p.strip() for p in re.split(r"(?<!\\),", value.lstrip("/").replace("/", ","))]
        return [value, ",".join(parts), ",".join(reversed(parts))]
    if kind == "ftp_banner":
        return [re.sub(r"\A220[ -]", "", value)]
    if kind == "ssh_banner":
        return [re.sub(r"\ASSH-[0-9.]+-", "", value)]
    return [value]


def _python_pattern(pattern: str) -> str:
    pattern = pattern.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    return pattern.replace(r"\z", r"\Z").replace(r"\h", "[0-9A-Fa-f]")


def _flags(text: str | None) -> int:
    flags = 0
    for name in (text or "").split(","):
        name = name.strip()
        if name == "REG_ICASE":
            flags |= re.IGNORECASE
        elif name in ("REG_MULTILINE", "REG_DOT_NEWLINE"):  # Ruby's multiline is dotall
            flags |= re.DOTALL
    return flags


def _certainty(params: dict[str, str]) -> Certainty:
    values = []
    for name in ("hw.certainty", "os.certainty", "service.certainty"):
        try:
            values.append(float(params[name]))
        except (KeyError, ValueError):
            continue
    if values and min(values) <= 0.5:
        return Certainty.UNCERTAIN
    return Certainty.MEDIUM  # a second-hand fingerprint is never solid here


def _load_file(path: Path, rules: RecogRules) -> None:
    kind, scope = FILES[path.name]
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RecogError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        root = SafeET.fromstring(path.read_bytes(), forbid_dtd=True)
    except Exception as exc:
        raise RecogError(f"{path}: not a recog fingerprint file ({type(exc).__name__})"
                         ) from None
    text = path.read_text(encoding="utf-8", errors="replace")
    for index, element in enumerate(root.iter("fingerprint")):
        raw = element.get("pattern") or ""
        params = {p.get("name") or "": p.get("value") or "" for p in element.iter("param")
                  if p.get("pos") == "0"}
        pattern = _python_pattern(raw)
        try:
            regex = re.compile(pattern, _flags(element.get("flags")))
        except (re.error, OverflowError):
            rules.skipped += 1
            continue
        if _has_nested_unbounded_repeat(pattern):
            rules.skipped += 1
            continue
        vendor = next((params[name] for name in VENDOR_PARAMS if params.get(name)), None)
        line = _line_of(text, raw, index)
        rules.by_kind.setdefault(kind, []).append((scope, Fingerprint(
            regex, (element.findtext("description") or "").strip(),
            f"xml/{path.name}:{line}", vendor, _certainty(params))))
        rules.loaded += 1


def _line_of(text: str, pattern: str, index: int) -> int:
    """The fingerprint's line in the file (its pattern attribute), for citing it."""
    escaped = (pattern.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
               .replace('"', "&quot;"))
    at = text.find(f'pattern="{escaped}"')
    return text.count("\n", 0, at) + 1 if at >= 0 else index + 1


def load_recog(directory: Path | str, vendor_map: VendorMap) -> RecogRules:
    """recog's fingerprint files under `directory` (a checkout, or its `xml/` folder)."""
    folder = Path(directory)
    if (folder / "xml").is_dir():
        folder = folder / "xml"
    if not folder.is_dir():
        raise RecogError(f"{directory}: not a directory (give a recog checkout or its xml/)")
    rules = RecogRules(vendor_map=vendor_map)
    found = [folder / name for name in FILES if (folder / name).is_file()]
    if not found:
        raise RecogError(f"{folder}: no recog fingerprint files ({', '.join(sorted(FILES))})")
    for path in found:
        _load_file(path, rules)
    return rules


class _Rules(Protocol):
    def evaluate(self, kind: str, value: str, *, probe: str, field: str) -> list[Evidence]: ...


class Layered:
    """entityscan's rules first; recog's only for signals they point nowhere with."""

    def __init__(self, primary: _Rules, secondary: RecogRules) -> None:
        self.primary = primary
        self.secondary = secondary

    def evaluate(self, kind: str, value: str, *, probe: str, field: str) -> list[Evidence]:
        found: list[Evidence] = []
        try:
            found = list(self.primary.evaluate(kind, value, probe=probe, field=field))
        except ScannerError:
            found = []  # a kind entityscan has no rule file for: recog may still know it
        if any(ev.indicates for ev in found):
            return found
        return found + self.secondary.evaluate(kind, value, probe=probe, field=field)


def _key(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def vendor_map(makers: Iterable[str], brands: Iterable[str]) -> VendorMap:
    """A `VendorMap` from the brands data: a maker's own name (or the first word of a longer
    vendor string, `Hikvision Digital Technology`) maps to the maker as platform evidence; a
    brand or OEM label maps to itself as label evidence; anything else to nothing."""
    table: dict[str, tuple[str, str]] = {}
    for brand in brands:
        table.setdefault(_key(brand), (brand, "label"))
    for maker in makers:
        table[_key(maker)] = (maker, "platform")

    def lookup(vendor: str) -> tuple[str, str] | None:
        found = table.get(_key(vendor))
        if found is None and vendor.split():
            first = table.get(_key(vendor.split()[0]))
            found = first if first and first[1] == "platform" else None
        return found

    return lookup
