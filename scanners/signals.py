"""The one place where raw signals become `Evidence`.

Probes report what they saw (a signal kind, the value, which probe and field); this adapter
asks the signature engine (`scanners.signatures.engine.evaluate`) when it is present.  Until
it is, a small interim rule table stands in, so switching to the engine changes nothing here
but the import.  The interim rules cite the same public sources as the engine's data.
"""

from __future__ import annotations

import importlib
import re
import urllib.parse
from collections.abc import Callable
from functools import cache
from typing import Protocol

from scanners.errors import ScannerError
from scanners.inventory import Certainty, Evidence

Evaluate = Callable[..., list[Evidence]]

_SRC_RECOG = "rapid7/recog; nmap-service-probes (via shared/reference/device-signals.md)"
_SRC_FORMAT = "device-signals.md §7 formats that survive relabelling"

# (signal kind, pattern, maker, certainty, evidence kind, source) — interim only.
_INTERIM_RULES: list[tuple[str, re.Pattern[str], str, Certainty, str, str]] = [
    ("http_server", re.compile(r"^(Hikvision-Webs|DVRDVS-Webs|DNVRS-Webs|App-webs/?)", re.I),
     "Hikvision", Certainty.MEDIUM, "platform", _SRC_RECOG),
    ("http_realm", re.compile(r"^hikvision$", re.I), "Hikvision", Certainty.MEDIUM, "platform",
     _SRC_RECOG),
    ("http_realm", re.compile(r"^IP Camera\([0-9A-Za-z]+\)$"), "Hikvision", Certainty.MEDIUM,
     "platform", "device-signals.md §3 captures"),
    ("http_realm", re.compile(r"^Login to [0-9A-Za-z]+$"), "Dahua", Certainty.MEDIUM,
     "platform", _SRC_RECOG),
    ("rtsp_server", re.compile(r"^Dahua Rtsp Server", re.I), "Dahua", Certainty.MEDIUM,
     "platform", _SRC_RECOG),
    ("http_path", re.compile(r"^/(ISAPI/|doc/page/login\.asp|SDK/webLanguage)"), "Hikvision",
     Certainty.MEDIUM, "platform", "hikvision_next; nuclei-templates"),
    ("http_path", re.compile(r"^/(cgi-bin/magicBox\.cgi|RPC2)"), "Dahua", Certainty.MEDIUM,
     "platform", "rroller/dahua; python-amcrest"),
    ("tls_subject", re.compile(r"(^|,)O=HIKVISION(,|$)"), "Hikvision", Certainty.SOLID,
     "platform", "recog x509_subjects.xml"),
    ("favicon", re.compile(r"^89b932fcc47cf4ca3faadb0cfdef89cf$"), "Hikvision",
     Certainty.UNCERTAIN, "platform", "recog; nmap favicon-db"),
    ("onvif_scope", re.compile(r"/extension/unique_identifier/"), "Dahua", Certainty.MEDIUM,
     "platform", "device-signals.md §2"),
    ("onvif_scope", re.compile(r"/name/HIKVISION\b", re.I), "Hikvision", Certainty.MEDIUM,
     "label", "device-signals.md §2"),
    ("onvif_scope", re.compile(r"/name/Dahua\b", re.I), "Dahua", Certainty.MEDIUM, "label",
     "device-signals.md §2"),
    ("onvif_info", re.compile(r"^HIKVISION$", re.I), "Hikvision", Certainty.MEDIUM, "label",
     "device-signals.md §2"),
    ("onvif_info", re.compile(r"^Dahua$", re.I), "Dahua", Certainty.MEDIUM, "label",
     "device-signals.md §2"),
    ("firmware", re.compile(r"^V\d+\.\d+\.\d+ ?build \d{6}"), "Hikvision", Certainty.MEDIUM,
     "platform", _SRC_FORMAT),
    ("firmware", re.compile(r"^\d\.\d{3}\.[0-9A-Za-z]{7,9}\.\d+\.R\b"), "Dahua",
     Certainty.MEDIUM, "platform", _SRC_FORMAT),
    ("model", re.compile(r"^i?DS-[0-9A-Z]"), "Hikvision", Certainty.MEDIUM, "platform",
     _SRC_FORMAT),
    ("model", re.compile(r"^(DHI?-)?(IPC-(HFW|HDW|HDBW)|SD\d|TPC-|VTO|VTH|HAC-)"), "Dahua",
     Certainty.MEDIUM, "platform", _SRC_FORMAT),
    ("mdns", re.compile(r"^HIKVISION .*\._CGI\._tcp", re.I), "Hikvision", Certainty.MEDIUM, "label",
     "128keaton/hikvision-mdns"),
    ("sadp", re.compile(r"<ProbeMatch>"), "Hikvision", Certainty.SOLID, "platform",
     "Skylight Cyber 2023; MatrixEditor/hiktools"),
    ("dhip", re.compile(r'"client\.notifyDevInfo"'), "Dahua", Certainty.SOLID, "platform",
     "UniversalScanner Dahua2.cs; mcw0/DahuaConsole"),
]

_OUI_REGISTRANTS = {
    "hangzhou hikvision digital technology co.,ltd.": "Hikvision",
    "zhejiang dahua technology co., ltd.": "Dahua",
}


@cache
def _engine() -> Evaluate | None:
    try:
        from scanners.signatures import evaluate
    except ImportError:
        return None
    return evaluate


@cache
def _oui_lookup() -> Evaluate | None:
    """`scanners.oui.oui_evidence(mac, probe=, field=)` (registry lookup through the
    signature engine) when present."""
    try:
        oui = importlib.import_module("scanners.oui")
    except ImportError:
        return None
    function = getattr(oui, "oui_evidence", None)
    return function if callable(function) else None


def _interim(kind: str, value: str, probe: str, field: str) -> list[Evidence]:
    out = []
    for rule_kind, pattern, maker, certainty, ev_kind, source in _INTERIM_RULES:
        if rule_kind == kind and pattern.search(value) and (kind not in ("sadp", "dhip")
                                                            or field == "reply"):
            shown = f"{kind} reply" if field == "reply" else value[:200]
            out.append(Evidence(probe=probe, field=field, value=shown, indicates=maker,
                                certainty=certainty, source=source, kind=ev_kind,
                                rule=f"interim:{kind}:{pattern.pattern[:40]}"))
            break
    return out


def _interim_oui(mac: str, probe: str, field: str) -> list[Evidence]:
    try:
        import netaddr

        org = netaddr.EUI(mac).oui.registration().org
    except Exception:  # unregistered or malformed: no evidence
        return []
    maker = _OUI_REGISTRANTS.get(str(org).strip().lower())
    return [Evidence(probe=probe, field=field, value=f"{mac} ({org})", indicates=maker,
                     certainty=Certainty.MEDIUM if maker else Certainty.UNCERTAIN,
                     source="IEEE MA-L registry (netaddr)", kind="registrant",
                     rule="interim:oui")]


class RuleSet(Protocol):
    """What a scan needs of a signature set (`scanners.signatures.Signatures`)."""

    def evaluate(self, kind: str, value: str, *, probe: str, field: str) -> list[Evidence]: ...


def _oui_with(rules: RuleSet, mac: str, probe: str, field: str) -> list[Evidence]:
    """Registrant evidence judged by a caller's rule set (plugins may add `oui` rules)."""
    oui = importlib.import_module("scanners.oui")
    name, norm = oui.registrant(mac), oui.normalise_mac(mac)
    if name is None or norm is None:
        return []
    about = {"mac": norm, "registrant": name[:128]}
    try:
        found = rules.evaluate("oui", name, probe=probe, field=field)
    except ScannerError:
        found = []
    if found:
        return [ev.model_copy(update={"fields": {**about, **ev.fields}}) for ev in found]
    return [Evidence(probe=probe, field=field, value=name[:200], indicates=None,
                     kind="registrant", source="Wireshark manuf / IEEE MA-L via netaddr",
                     fields=about)]


def evaluate(kind: str, value: str, *, probe: str, field: str,
             rules: RuleSet | None = None) -> list[Evidence]:
    """Evidence for one signal; descriptive signals with no rule yield nothing.

    `rules`: a signature set to use instead of the bundled one (the front end builds it with
    the plugins' rule directories)."""
    value = value.strip()
    if not value:
        return []
    if kind == "oui":
        if rules is not None and _oui_lookup() is not None:
            return _oui_with(rules, value, probe, field)
        lookup = _oui_lookup()
        if lookup is not None:
            return list(lookup(value, probe=probe, field=field))
        return _interim_oui(value, probe, field)
    if rules is not None:
        try:
            return list(rules.evaluate(kind, value, probe=probe, field=field))
        except ScannerError:
            return []
    engine = _engine()
    if engine is not None:
        try:
            return list(engine(kind, value, probe=probe, field=field))
        except ScannerError:  # a kind without a rule file: no evidence, not a failure
            return []
    return _interim(kind, urllib.parse.unquote(value) if kind == "onvif_scope" else value,
                    probe, field)
