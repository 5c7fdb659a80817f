"""The one place where raw signals become `Evidence`.

Probes report what they saw (a signal kind, the value, which probe and field); this adapter
hands it to the signature engine (`entityscan.scanners.signatures`, rules as data) or to a rule
set the caller passes in (a front end adds its plugins' rule directories), and MAC addresses to
the OUI registry (`entityscan.scanners.oui`).  A kind without a rule file yields no evidence,
never an error.
"""

from __future__ import annotations

from typing import Protocol

from entityscan.scanners import oui, signatures
from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Evidence


class RuleSet(Protocol):
    """What a scan needs of a signature set (`entityscan.scanners.signatures.Signatures`)."""

    def evaluate(self, kind: str, value: str, *, probe: str, field: str) -> list[Evidence]: ...


def _oui_with(rules: RuleSet, mac: str, probe: str, field: str) -> list[Evidence]:
    """Registrant evidence judged by a caller's rule set (plugins may add `oui` rules);
    the same shape as `entityscan.scanners.oui.oui_evidence`."""
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
    """Evidence for one signal (`kind` `oui` takes a MAC address).

    `rules`: a signature set to use instead of the bundled one."""
    value = value.strip()
    if not value:
        return []
    if kind == "oui":
        if rules is not None:
            return _oui_with(rules, value, probe, field)
        return oui.oui_evidence(value, probe=probe, field=field)
    try:
        if rules is not None:
            return list(rules.evaluate(kind, value, probe=probe, field=field))
        return signatures.evaluate(kind, value, probe=probe, field=field)
    except ScannerError:  # a kind without a rule file: no evidence, not a failure
        return []
