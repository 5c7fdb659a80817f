"""Evidence -> maker, platform, confidence and reasons.  Pure: attribution never does I/O.

Weighing (kind x certainty):
- `platform` evidence (vendor discovery answers, web stacks, realms, firmware formats, ISAPI,
  magicBox) weighs 1.0, `registrant` (MAC OUI, USB VID) 0.6, `label` (ONVIF Manufacturer,
  titles, DHIP Vendor) 0.35; certainty weighs solid 1.0, medium 0.6, uncertain 0.25.
- Pieces pointing to one maker combine as 1 - prod(1 - w) within a kind, then across kinds.
  The maker is the best-supported one among those with platform or registrant evidence; labels
  only reinforce, and name the maker only when nothing else points anywhere.
  The same rule seen twice (a realm over HTTP and RTSP) counts once.
- Other makers' firm platform evidence lowers the confidence (a conflict, said in the
  reasons; uncertain tells for another maker are only noted); a
  different registrant lowers it a little (OEM units carry their own OUI, Wi-Fi models the
  module maker's); a different label does not (relabels are the norm) but is explained.
- Caps: only uncertain evidence -> at most UNCERTAIN_ONLY_CAP (review downstream); registrant
  without platform evidence -> REGISTRANT_ONLY_CAP (an OUI is a hint, never proof); labels only
  -> LABEL_ONLY_CAP.

Confidence reads: >= 0.75 established by firm protocol evidence (the matcher's default flag
threshold); 0.3-0.75 probable or contested (review); below, a lead.  The caps sit inside the
review band on purpose, so an OUI, a label or an uncertain tell alone never flags a device.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from entityscan.scanners.inventory import Certainty, Device, Evidence
from entityscan.scanners.oui import normalise_mac

KIND_WEIGHT = {"platform": 1.0, "registrant": 0.6, "label": 0.35}
KIND_ORDER = ("platform", "registrant", "label")
UNCERTAIN_ONLY_CAP = 0.35
REGISTRANT_ONLY_CAP = 0.5
LABEL_ONLY_CAP = 0.35
PLATFORM_CONFLICT_PENALTY = 0.65
REGISTRANT_CONFLICT_PENALTY = 0.2
# Fields copied from evidence onto the device when the device has none.
_FILL = {"model": "model", "firmware": "firmware", "serial": "serial",
         "device_class": "device_class"}


def _noisy_or(weights: Iterable[float]) -> float:
    rest = 1.0
    for w in weights:
        rest *= 1.0 - w
    return 1.0 - rest


_JUDGED_AS = {"model", "firmware", "serial", "label"}


def _phrase(ev: Evidence) -> str:
    """A short readable description: `sadp reply`, `http Server 'Hikvision-Webs'`,
    `onvif Model -> model 'DS-2CD2143G2-I'`."""
    value = ev.value.strip()
    where = f"{ev.probe} {ev.field}"
    judged = (ev.rule or "").split("/", 1)[0]
    if judged in _JUDGED_AS and judged != ev.field.lower():
        where += f" -> {judged}"
    if ev.kind != "registrant" and ("\n" in value or value.startswith(("<", "{", "\ufeff"))):
        return where  # a document: the probe and field say enough
    if len(value) > 48:
        value = value[:47] + "…"
    return f"{where} {value!r}"


def _phrases(evidence: list[Evidence], limit: int = 4) -> str:
    """The strongest few phrases, solid first."""
    ranked = sorted(evidence, key=lambda e: -e.certainty.weight)
    shown = "; ".join(_phrase(e) for e in ranked[:limit])
    return shown + (f"; +{len(ranked) - limit} more" if len(ranked) > limit else "")


def _dedup(evidence: Iterable[Evidence]) -> list[Evidence]:
    seen: set[tuple[str | None, str, str]] = set()
    out: list[Evidence] = []
    for ev in evidence:
        if not ev.indicates:
            continue
        key = (ev.indicates, ev.kind, ev.rule or f"{ev.probe}:{ev.field}:{ev.value}")
        if key not in seen:
            seen.add(key)
            out.append(ev)
    return out


def attribute(device: Device) -> Device:
    """Return a copy of `device` with maker, platform, brand, confidence and reasons set from its
    evidence, and model/firmware/serial/device_class/mac filled from extracted fields when the
    device has none."""
    fills = _fills(device)
    pointing = _dedup(device.evidence)
    if not pointing:
        return device.model_copy(update={
            **fills, "confidence": 0.0 if device.maker is None else device.confidence,
            "reasons": device.reasons or ["no evidence points to a maker"]})

    by_maker: dict[str, dict[str, list[Evidence]]] = defaultdict(lambda: defaultdict(list))
    for ev in pointing:
        by_maker[ev.indicates or ""][ev.kind if ev.kind in KIND_WEIGHT else "label"].append(ev)

    support: dict[str, dict[str, float]] = {
        maker: {kind: _noisy_or(e.certainty.weight for e in kinds.get(kind, []))
                for kind in KIND_ORDER}
        for maker, kinds in by_maker.items()
    }
    score = {maker: _noisy_or(KIND_WEIGHT[k] * s[k] for k in KIND_ORDER)
             for maker, s in support.items()}
    # A label is not the maker: labels only reinforce, and choose only when nothing else points.
    candidates = [m for m, s in support.items() if s["platform"] or s["registrant"]] or list(score)
    # Scores saturate at 1.0, so ties go to the maker with more (kind-weighted) evidence.
    mass = {m: sum(KIND_WEIGHT[k] * e.certainty.weight for k, evs in kinds.items() for e in evs)
            for m, kinds in by_maker.items()}
    maker = max(candidates, key=lambda m: (round(score[m], 6), support[m]["platform"],
                                           mass[m], support[m]["registrant"]))
    mine = by_maker[maker]
    reasons: list[str] = []

    confidence = score[maker]
    # Only firm (solid/medium) platform evidence for another maker is a conflict; an uncertain
    # tell for another maker (a 15-character serial, a generic HardwareId) is only noted.
    firm_platform = {
        m: _noisy_or(e.certainty.weight for e in kinds.get("platform", [])
                     if e.certainty is not Certainty.UNCERTAIN)
        for m, kinds in by_maker.items() if m != maker}
    rivals_platform = {m: s for m, s in firm_platform.items() if s > 0}
    hinted = sorted(m for m in firm_platform
                    if m not in rivals_platform and support[m]["platform"] > 0)
    if hinted:
        reasons.append("weak hints for " + "; ".join(
            f"{m} ({_phrases(by_maker[m]['platform'])})" for m in hinted) + " (uncertain, "
            "not counted as a conflict)")
    rivals_registrant = {m: s["registrant"] for m, s in support.items()
                         if m != maker and s["registrant"] > 0}
    if rivals_platform:
        worst = max(rivals_platform.values())
        confidence *= 1 - PLATFORM_CONFLICT_PENALTY * worst
        others = "; ".join(f"{m} ({_phrases(by_maker[m]['platform'])})"
                           for m in sorted(rivals_platform,
                                           key=lambda m: -rivals_platform[m]))
        reasons.append(f"conflicting platform evidence: {others}; confidence lowered")
    if rivals_registrant and support[maker]["platform"] > 0:
        # An OEM's own block (Lorex, Amcrest) on a platform it relabels is expected.
        clashing = [s for m, s in rivals_registrant.items()
                    if any(e.fields.get("registrant_role") != "oem"
                           for e in by_maker[m]["registrant"])]
        if clashing:
            confidence *= 1 - REGISTRANT_CONFLICT_PENALTY * max(clashing)
        for m in rivals_registrant:
            names = _phrases(by_maker[m]["registrant"])
            reasons.append(f"registrant {m} ({names}) differs from platform {maker}: OEM units "
                           f"may carry their own OUI, Wi-Fi models the module maker's")

    # Uncertain evidence is a lead: it never lifts a maker above what its firmer evidence allows.
    firm = {kind: [e for e in mine.get(kind, []) if e.certainty is not Certainty.UNCERTAIN]
            for kind in KIND_ORDER}
    if not any(firm.values()):
        if confidence > UNCERTAIN_ONLY_CAP:
            confidence = UNCERTAIN_ONLY_CAP
        reasons.append(f"only uncertain evidence for {maker}: confidence capped at "
                       f"{UNCERTAIN_ONLY_CAP} (review)")
    elif not firm["platform"]:
        cap, why = ((REGISTRANT_ONLY_CAP, "registrant without firm protocol evidence (a MAC "
                                          "OUI is a hint, never proof)")
                    if firm["registrant"] else
                    (LABEL_ONLY_CAP, "only labels, which relabelled devices change"))
        if confidence > cap:
            confidence = cap
        reasons.append(f"{why}: confidence capped at {cap}")

    # The platform is named only on firm protocol evidence; an uncertain tell is not enough.
    platform = maker if firm["platform"] else device.platform
    brand = device.brand or _brand(by_maker, support, maker, device.evidence)
    summary = " | ".join(f"{kind}: {_phrases(mine[kind])}" for kind in KIND_ORDER
                         if mine.get(kind))
    reasons.insert(0, f"maker {maker} (confidence {confidence:.2f}) — {summary}")
    if brand and brand != maker and firm["platform"]:
        reasons.insert(1, f"label {brand}, platform {maker} ({_phrases(firm['platform'], 3)})")
    platform_model = _first_field(device.evidence, "platform_model")
    if platform_model and platform_model != (fills.get("model") or device.model):
        reasons.append(f"underlying platform model {platform_model}")

    return device.model_copy(update={
        **fills, "maker": maker, "platform": platform, "brand": brand,
        "confidence": round(max(0.0, min(1.0, confidence)), 3), "reasons": reasons})


def _brand(by_maker: dict[str, dict[str, list[Evidence]]], support: dict[str, dict[str, float]],
           maker: str, evidence: list[Evidence]) -> str | None:
    labels = {m: s["label"] for m, s in support.items() if s["label"] > 0}
    if labels:
        # The strongest label; the maker's own name only if nothing else is shown.
        return max(labels, key=lambda m: (labels[m], m != maker))
    for ev in evidence:
        if ev.indicates == maker and ev.kind == "registrant" and ev.fields.get("registrant_brand"):
            return ev.fields["registrant_brand"]
    return None


def _first_field(evidence: Iterable[Evidence], name: str) -> str | None:
    for ev in evidence:
        value = ev.fields.get(name)
        if value:
            return value
    return None


def _fills(device: Device) -> dict[str, str]:
    fills: dict[str, str] = {}
    # Solid and medium evidence first: an uncertain rule's extraction is the last resort.
    ordered = sorted(device.evidence, key=lambda e: e.certainty is Certainty.UNCERTAIN)
    for attr, name in _FILL.items():
        if getattr(device, attr) is None:
            value = _first_field(ordered, name)
            if value:
                fills[attr] = value
    if device.mac is None:
        for ev in ordered:
            mac = normalise_mac(ev.fields["mac"]) if "mac" in ev.fields else None
            if mac:
                fills["mac"] = mac
                break
    return fills


# --- merging ---------------------------------------------------------------------------------

def _identities(device: Device) -> set[str]:
    ids: set[str] = set()
    mac = normalise_mac(device.mac or "")
    if mac:
        ids.add(f"mac:{mac}")
    if device.serial and device.serial.strip():
        ids.add(f"serial:{device.serial.strip().upper()}")
    for ev in device.evidence:
        if ev.fields.get("mac") and ev.probe != "oui":
            found = normalise_mac(ev.fields["mac"])
            if found:
                ids.add(f"mac:{found}")
        if ev.fields.get("serial") and ev.certainty is not Certainty.UNCERTAIN:
            ids.add(f"serial:{ev.fields['serial'].strip().upper()}")
    return ids


def merge_devices(devices: Iterable[Device]) -> list[Device]:
    """Merge records of the same device (`merge_records`) and attribute each merged one."""
    return [attribute(device) for device in merge_records(devices)]


def merge_records(devices: Iterable[Device]) -> list[Device]:
    """Merge records of the same device (same MAC or serial, transitively); no attribution.

    Never merges by IP address: uninitialised Dahua units share 192.168.1.108, so records with
    no MAC and no serial stay separate.  Addresses, evidence and errors are unioned in order;
    other fields take the first value seen, extra fields the first non-empty one (so a flag
    such as the scanner's `hostile` survives whichever record raised it).
    """
    items = list(devices)
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, device in enumerate(items):
        for ident in _identities(device):
            if ident in owner:
                parent[find(i)] = find(owner[ident])
            else:
                owner[ident] = i

    groups: dict[int, list[Device]] = defaultdict(list)
    for i, device in enumerate(items):
        groups[find(i)].append(device)
    return [_merge(group) for _, group in sorted(groups.items())]


def _merge(group: list[Device]) -> Device:
    if len(group) == 1:
        return group[0]
    first = group[0]
    update: dict[str, object] = {}
    for name in type(first).model_fields:
        if name in ("addresses", "errors", "evidence", "reasons", "readable", "confidence"):
            continue
        if getattr(first, name) is None:
            for other in group[1:]:
                if getattr(other, name) is not None:
                    update[name] = getattr(other, name)
                    break
    for d in group:
        for name, value in (d.model_extra or {}).items():
            if value and not (first.model_extra or {}).get(name) and name not in update:
                update[name] = value
    update["addresses"] = list(dict.fromkeys(a for d in group for a in d.addresses))
    update["errors"] = list(dict.fromkeys(e for d in group for e in d.errors))
    seen: set[tuple[str, str, str, str | None]] = set()
    evidence: list[Evidence] = []
    for d in group:
        for ev in d.evidence:
            key = (ev.probe, ev.field, ev.value, ev.rule)
            if key not in seen:
                seen.add(key)
                evidence.append(ev)
    update["evidence"] = evidence
    update["readable"] = any(d.readable for d in group)
    update["reasons"] = []
    return first.model_copy(update=update)
