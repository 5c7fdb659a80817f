"""Evidence -> maker, confidence and reasons.  Pure: attribution never does I/O.

(First cut; the signature engine work refines weights.)  Protocol evidence (`kind=platform`:
SADP, DHIP, vendor web stacks, realms, firmware formats) outweighs registrant evidence (OUI, USB
VID), which outweighs labels (ONVIF Manufacturer, page titles).
"""

from __future__ import annotations

from collections import defaultdict

from scanners.inventory import Device

KIND_WEIGHT = {"platform": 1.0, "registrant": 0.6, "label": 0.35}


def attribute(device: Device) -> Device:
    """Return a copy of `device` with `maker`, `confidence` and `reasons` filled in."""
    support: dict[str, float] = defaultdict(float)
    reasons: dict[str, list[str]] = defaultdict(list)
    for ev in device.evidence:
        if not ev.indicates:
            continue
        weight = KIND_WEIGHT.get(ev.kind, 0.35) * ev.certainty.weight
        # Independent pieces combine as 1 - prod(1 - w): two medium hints beat one.
        support[ev.indicates] = 1 - (1 - support[ev.indicates]) * (1 - weight)
        reasons[ev.indicates].append(f"{ev.probe} {ev.field}={ev.value!r} -> {ev.indicates} "
                                     f"({ev.kind}, {ev.certainty.value})")
    if not support:
        return device.model_copy(update={"maker": device.maker, "confidence": 0.0})
    maker, confidence = max(support.items(), key=lambda kv: kv[1])
    return device.model_copy(update={"maker": maker, "confidence": round(confidence, 3),
                                     "reasons": reasons[maker]})
