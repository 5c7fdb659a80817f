"""Device assembly: one scan candidate's replies and probe observations -> a `Device` with its
evidence, then merging and attribution (once per merged device).

Pure apart from the rule set it is handed: no I/O.  What a discovery reply means is the
protocol module's business (`entityscan.scanners.discovery.observe`); what a signal points to
is the signature rules' (`entityscan.scanners.signals`); which maker that makes is
attribution's (`entityscan.scanners.attribution`).  This module only puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from entityscan.scanners import discovery, signals
from entityscan.scanners.attribution import merge_devices
from entityscan.scanners.discovery.base import DiscoveryReply
from entityscan.scanners.inventory import Certainty, Device, Evidence
from entityscan.scanners.probes import Observations, Signal
from entityscan.scanners.probes.neighbours import normalise_mac
from entityscan.scanners.signals import RuleSet

#: Facts that are also shown as (maker-neutral) evidence, so a reviewer sees them all.
DESCRIBED_FACTS = ("brand", "model", "firmware", "serial", "title", "wsd_name")
WITHHELD = ("attribution withheld: the device sent hostile or malformed data, so nothing it "
            "claims is trusted (its evidence is kept)")


@dataclass
class Candidate:
    """One address the scan found alive, with everything discovery and the probes saw."""

    address: str
    open_ports: set[int] = field(default_factory=set)
    replies: list[DiscoveryReply] = field(default_factory=list)
    observations: Observations = field(default_factory=Observations)
    unfinished: bool = False


def build_device(cand: Candidate, neighbour_mac: str | None, *,
                 rules: RuleSet | None = None) -> Device:
    """Fold one candidate's replies and observations into a Device with its evidence
    (not yet attributed: see `merge_and_attribute`)."""
    obs = Observations()
    for reply in cand.replies:
        obs.extend(discovery.observe(reply))
    obs.extend(cand.observations)
    mac = normalise_mac(obs.facts.get("mac")) or normalise_mac(neighbour_mac)
    if mac:
        obs.signal("oui", mac, "oui", "MAC")
    evidence = judge(obs.signals, rules, obs.errors)
    described = {ev.value for ev in evidence}
    for name in DESCRIBED_FACTS:
        value = obs.facts.get(name)
        if value and value not in described:
            evidence.append(Evidence(probe="scan", field=name, value=value, indicates=None,
                                     certainty=Certainty.MEDIUM, kind="label"))
    protocols = {reply.protocol for reply in cand.replies}
    answered = obs.answered or bool(protocols)
    errors = list(dict.fromkeys(obs.errors))
    hostile = obs.hostile
    if cand.unfinished:
        errors.append("the scan deadline came before this device was fully probed")
    if not answered and not errors:
        errors.append("open ports " + ",".join(map(str, sorted(cand.open_ports))) +
                      " but no recognisable answer on any of them")
    if hostile:
        errors.append(WITHHELD)
    return Device(
        addresses=[cand.address], mac=mac, serial=obs.facts.get("serial"),
        brand=obs.facts.get("brand") or _brand_from_name(obs.facts.get("wsd_name")),
        model=obs.facts.get("model"), firmware=obs.facts.get("firmware"),
        device_class=obs.facts.get("device_class"), readable=answered and not hostile,
        errors=errors, evidence=evidence, open_ports=sorted(cand.open_ports),
        discovered_by=sorted(protocols), hostile=hostile,
    )


def judge(seen: Iterable[Signal], rules: RuleSet | None, errors: list[str]) -> list[Evidence]:
    """Evidence for each distinct signal, without repeats.  A rule set that fails on a signal
    costs that signal's evidence only: the failure is appended to `errors` (the device's)."""
    evidence: list[Evidence] = []
    seen_evidence: set[tuple[str, str, str | None]] = set()
    seen_signals: set[tuple[str, str]] = set()
    for sig in seen:
        if (sig.kind, sig.value) in seen_signals:
            continue  # one header repeated on every path is one observation, not many
        seen_signals.add((sig.kind, sig.value))
        for ev in _evaluate(sig, rules, errors):
            key = (ev.probe + ev.field, ev.value, ev.indicates)
            if key not in seen_evidence and not any(
                    (k[1], k[2]) == (ev.value, ev.indicates) and ev.indicates
                    for k in seen_evidence):
                seen_evidence.add(key)
                evidence.append(ev)
    return evidence


def _evaluate(sig: Signal, rules: RuleSet | None, errors: list[str]) -> list[Evidence]:
    try:
        return signals.evaluate(sig.kind, sig.value, probe=sig.probe, field=sig.field,
                                rules=rules)
    except Exception as exc:  # a signature bug must not lose the device, nor go unseen
        errors.append(f"{sig.probe} {sig.field}: judging the {sig.kind} signal failed "
                      f"({type(exc).__name__}: {exc}); its evidence is missing")
        return []


def _brand_from_name(name: str | None) -> str | None:
    if not name:
        return None
    return name.split()[0][:64] or None


def is_hostile(device: Device) -> bool:
    return bool((device.model_extra or {}).get("hostile"))


def merge_and_attribute(devices: Iterable[Device]) -> list[Device]:
    """Merge records of one device (by MAC or serial, never by IP alone), then attribute each
    merged device once.  A device that sent bombs, floods or garbage may be impersonating
    anything: its evidence and descriptive fields stay for the reviewer, but it is given no
    maker, platform or confidence."""
    return [_withhold(device) if is_hostile(device) else device
            for device in merge_devices(devices)]


def _withhold(device: Device) -> Device:
    return device.model_copy(update={
        "maker": None, "platform": None, "confidence": 0.0,
        "reasons": ["attribution withheld: the device sent hostile or malformed data"]})
