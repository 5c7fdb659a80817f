"""Evidence over claims: a scan document from elsewhere is attributed again by this server.

A document posted to `/v1/inventory` or given to `entityscan store import` says what maker,
platform, confidence and verdict each device has, and which evidence points where.  None of
that is taken on trust.  Each piece of evidence is judged again from its raw value with this
server's own signature rules (the rule kind its `rule` names); a MAC's registrant is looked up
again from the MAC; a USB device is identified again from its ids and strings.  Then
attribution (`entityscan.scanners.attribution`) runs on what the server found, exactly as
after a scan.  What the document claimed is kept beside the device (`claimed`) and every
disagreement becomes a reason.

Evidence whose rule this server cannot re-check (a rule it does not have, a value that no
longer matches) is not dropped silently: if it pointed to a maker it still counts, but only
as `uncertain` (a lead named in the reasons; attribution's caps keep it from ever flagging).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from entityscan.scanners import signals
from entityscan.scanners.attribution import attribute
from entityscan.scanners.inventory import Certainty, Device, Evidence, Inventory
from entityscan.scanners.signals import RuleSet
from entityscan.scanners.usb import UsbRecord, UsbSignatures, VendorNames, identify

USB_PROBES = frozenset({"usb", "lsusb"})
#: What a document claims about a device that the server works out for itself.
CLAIMS = ("maker", "platform", "confidence", "attributed_maker", "verdict", "score")


@cache
def _usb_tables() -> tuple[UsbSignatures, VendorNames]:
    return UsbSignatures.load(), VendorNames.load()


def _rule_kind(ev: Evidence, rules: RuleSet) -> str | None:
    kind = (ev.rule or "").split("/", 1)[0] if ev.rule and "/" in ev.rule else None
    known = getattr(rules, "kinds", None)
    if kind is None or (callable(known) and kind not in known()):
        return None
    return kind


def _descriptive(ev: Evidence) -> Evidence:
    return ev.model_copy(update={"indicates": None})


#: Rule results already worked out for this document, by (rule kind, value, probe, field):
#: a site's devices are mostly a few models answering alike, so most evidence repeats.
RuleResults = dict[tuple[str, str, str, str], list[Evidence]]


def _evaluate(kind: str, ev: Evidence, rules: RuleSet, known: RuleResults) -> list[Evidence]:
    """`signals.evaluate` for the evidence's rule kind, once per distinct input (Evidence is
    frozen, so devices can share the results)."""
    key = (kind, ev.value, ev.probe, ev.field)
    found = known.get(key)
    if found is None:
        found = known[key] = signals.evaluate(kind, ev.value, probe=ev.probe, field=ev.field,
                                               rules=rules)
    return found


def _rejudge(ev: Evidence, rules: RuleSet, notes: list[str], known: RuleResults) -> list[Evidence]:
    """This server's evidence for one posted piece of evidence."""
    kind = _rule_kind(ev, rules)
    found = list(_evaluate(kind, ev, rules, known)) if kind else []
    if found:
        return found
    if not ev.indicates:
        return [ev]  # descriptive (a model, a title): nothing to re-check
    notes.append(f"evidence {ev.probe} {ev.field} for {ev.indicates} could not be re-checked "
                 f"with this server's rules ({ev.rule or 'no rule named'}): counted as "
                 f"uncertain")
    return [ev.model_copy(update={"certainty": Certainty.UNCERTAIN})]


def _network_evidence(device: Device, rules: RuleSet, notes: list[str], known: RuleResults
                      ) -> list[Evidence]:
    evidence: list[Evidence] = []
    for ev in device.evidence:
        if ev.kind == "registrant" or ev.probe == "oui":
            continue  # a registrant comes from the MAC itself, below
        evidence.extend(_rejudge(ev, rules, notes, known))
    if device.mac:
        evidence.extend(signals.evaluate("oui", device.mac, probe="oui", field="MAC",
                                         rules=rules))
    return evidence


def _field(device: Device, name: str) -> str | None:
    for ev in device.evidence:
        if ev.probe in USB_PROBES and ev.field == name and ev.value:
            return ev.value
    return None


def _usb_evidence(device: Device) -> list[Evidence]:
    """Identify a USB device again from its ids and strings, as `entityscan usb` does."""
    extra = device.model_extra or {}
    try:
        vid, pid = int(device.vid or "", 16), int(device.pid or "0", 16)
    except ValueError:
        return [_descriptive(ev) for ev in device.evidence]
    record = UsbRecord(vid=vid, pid=pid, host=device.host or "?",
                       source=str(extra.get("usb_source") or "libusb"),
                       manufacturer=_field(device, "iManufacturer"),
                       product=_field(device, "iProduct"),
                       serial=_field(device, "iSerial") or device.serial,
                       description=_field(device, "description"))
    usb_rules, names = _usb_tables()
    return identify(record, usb_rules, names).evidence


def _dedup(evidence: Iterable[Evidence]) -> list[Evidence]:
    seen: set[tuple[str, str, str, str | None, str | None]] = set()
    out = []
    for ev in evidence:
        key = (ev.probe, ev.field, ev.value, ev.rule, ev.indicates)
        if key not in seen:
            seen.add(key)
            out.append(ev)
    return out


def reattribute_device(device: Device, rules: RuleSet, claims: dict[str, Any],
                       known: RuleResults | None = None) -> Device:
    """`device` attributed again from its evidence; `claims` are the document's own values;
    `known`: rule results shared by the devices of one document."""
    notes: list[str] = []
    usb = device.vid is not None and any(ev.probe in USB_PROBES for ev in device.evidence)
    evidence = _usb_evidence(device) if usb else \
        _network_evidence(device, rules, notes, {} if known is None else known)
    extra = {k: v for k, v in (device.model_extra or {}).items() if k not in CLAIMS}
    if extra.get("hostile"):
        notes.append("the document marks this device hostile; a posted flag cannot withhold "
                     "attribution, so its evidence was judged like any other")
    fresh = Device.model_validate({
        **device.model_dump(exclude={"maker", "platform", "confidence", "reasons",
                                     "evidence", *CLAIMS}),
        **extra, "evidence": _dedup(evidence)})
    judged = attribute(fresh)
    reasons = list(judged.reasons)
    said = claims.get("attributed_maker", claims.get("maker"))
    if said is not None and str(said).casefold() != (judged.maker or "").casefold():
        reasons.append(f"the document said maker {str(said)[:80]!r}; its evidence says "
                       f"{judged.maker or 'no maker'} (the evidence wins)")
    said = claims.get("platform")
    if said is not None and str(said).casefold() != (judged.platform or "").casefold():
        reasons.append(f"the document said platform {str(said)[:80]!r}; its evidence says "
                       f"{judged.platform or 'none'} (the evidence wins)")
    kept = {k: claims[k] for k in CLAIMS if claims.get(k) is not None}
    return judged.model_copy(update={"reasons": reasons + notes,
                                     **({"claimed": kept} if kept else {})})


def reattribute(inventory: Inventory, rules: RuleSet | None, claims: list[dict[str, Any]]
                ) -> Inventory:
    """Every device of a posted inventory attributed again (see the module docstring);
    `claims[i]` holds what the document said about device i."""
    from entityscan.scanners.signatures import default_signatures

    ruleset: RuleSet = rules if rules is not None else default_signatures()
    known: RuleResults = {}
    devices = [reattribute_device(d, ruleset, c, known)
               for d, c in zip(inventory.devices, claims, strict=True)]
    return inventory.model_copy(update={"devices": devices})
