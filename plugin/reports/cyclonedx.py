"""A CycloneDX 1.6 JSON BOM of a scan or screen, for asset and procurement systems that import
BOMs.

Each device (or procurement line item) becomes a `device` component:
  manufacturer = the attributed true maker (the label it shows is `entityscan:label`),
  name = model, version = firmware, `cdx:device:serialNumber` and `cdx:device:macAddress`
  from the CycloneDX device property taxonomy, and everything entityscan concluded as
  `entityscan:`-namespaced properties (verdict, score, lists, citations, matches, reasons,
  evidence).  The BOM's metadata carries the lists' content hash and sources and the scan's
  parameters (never credentials).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.dependency import Dependable, Dependency
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6

from entityscan import __version__
from entityscan.reports import common

NS = "entityscan:"
# Property values are free text, but an importer's UI is not a place for a 50 kB banner.
MAX_VALUE = 2000


def _linear_bom(components: list[Component], **kwargs: Any) -> Bom:
    """A `Bom` whose output step does not grow quadratically with the number of components.

    Before writing, the library registers every component as a dependency and, for each one,
    scans all dependencies registered so far (11.x `Bom.validate`): some 12 million
    comparisons for a 5,000-device scan.  Here the dependency entries are created up front and
    re-registering a known component without dependencies is a no-op, so the output is the
    same and the cost linear.  (An instance attribute, not a subclass: the serializer only
    knows the library's own classes.)
    """
    bom = Bom(components=components, dependencies=[Dependency(ref=c.bom_ref) for c in components],
              **kwargs)
    registered = {c.bom_ref.value for c in components}
    library_register = bom.register_dependency

    def register_dependency(target: Dependable,
                            depends_on: Iterable[Dependable] | None = None) -> None:
        if not depends_on and target.bom_ref.value in registered:
            return
        library_register(target, depends_on)

    bom.register_dependency = register_dependency  # type: ignore[method-assign]
    return bom


def render_cyclonedx(doc: dict[str, Any]) -> str:
    """The document as a CycloneDX 1.6 JSON BOM (text)."""
    return JsonV1Dot6(build_bom(doc)).output_as_string(indent=2) + "\n"


def build_bom(doc: dict[str, Any]) -> Bom:
    scan = common.is_scan(doc)
    components = []
    seen_refs: set[str] = set()
    for index, subject in enumerate(common.subjects(doc), start=1):
        component = _device(subject) if scan else _line_item(subject)
        ref = str(component.bom_ref.value)
        if ref in seen_refs:  # bom-refs must be unique; keys normally are
            component.bom_ref.value = f"{ref}#{index}"
        seen_refs.add(str(component.bom_ref.value))
        components.append(component)
    tool = Component(type=ComponentType.APPLICATION, name="entityscan", version=__version__)
    metadata = BomMetaData(tools=ToolRepository(components=[tool]),
                           timestamp=_timestamp(doc.get("generated")),
                           properties=_properties(_metadata_pairs(doc)))
    return _linear_bom(components, metadata=metadata, serial_number=_serial(doc))


def _serial(doc: dict[str, Any]) -> uuid.UUID:
    """Stable for one document (re-rendering it gives the same BOM), unique across runs."""
    ids = "\n".join(str(s.get("id")) for s in common.subjects(doc))
    seed = f"{doc.get('schema')}\n{doc.get('generated')}\n{doc.get('lists_content_hash')}\n{ids}"
    return uuid.uuid5(uuid.NAMESPACE_URL, "urn:entityscan:bom:" + seed)


def _timestamp(text: Any) -> datetime:
    if isinstance(text, str):
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…"


def _properties(pairs: Iterable[tuple[str, Any]]) -> list[Property]:
    return [Property(name=name, value=_clip(value)) for name, value in pairs
            if value not in (None, "", [])]


def _metadata_pairs(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    summary = doc.get("summary") or {}
    pairs: list[tuple[str, Any]] = [
        (NS + "schema", doc.get("schema")),
        (NS + "kind", doc.get("kind") if common.is_scan(doc) else "screen"),
        (NS + "source", doc.get("source")),
        (NS + "started", doc.get("started")),
        (NS + "finished", doc.get("finished")),
        (NS + "lists-content-hash", doc.get("lists_content_hash")),
    ]
    pairs += [(NS + "target", str(t)) for t in doc.get("targets") or []]
    for key, value in common.safe_parameters(doc.get("parameters")).items():
        pairs.append((f"{NS}parameter:{key}", value))
    for verdict in (*common.VERDICTS, "total"):
        if verdict in summary:
            pairs.append((f"{NS}summary:{verdict}", str(summary[verdict])))
    for source in doc.get("lists") or []:
        per_list = ", ".join(f"{k} {v}" for k, v in (source.get("per_list") or {}).items())
        pairs.append((NS + "list-source", "; ".join(
            f"{label}={value}" for label, value in (
                ("name", source.get("name")), ("published", source.get("published")),
                ("loaded", source.get("loaded_at")), ("entries", source.get("count")),
                ("per-list", per_list), ("content-hash", source.get("content_hash")),
                ("location", source.get("location"))) if value not in (None, ""))))
    for error in doc.get("errors") or []:
        where = " ".join(str(error.get(k)) for k in ("target", "probe") if error.get(k))
        pairs.append((NS + "scan-error", f"{where}: {error.get('message')}" if where
                      else error.get("message")))
    return pairs


def _finding_pairs(subject: dict[str, Any]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        (NS + "verdict", subject.get("verdict")),
        (NS + "score", f"{float(subject.get('score') or 0):.1f}"),
    ]
    pairs += [(NS + "list", code) for code in common.list_codes(subject)]
    pairs += [(NS + "citation", c) for c in common.citations(subject)]
    for match in subject.get("matches") or []:
        how = match.get("via")
        if match.get("field"):
            how = f"{how} {match['field']}={match.get('value')!r}"
        dates = f"listed {match.get('listed') or '?'}"
        if match.get("removed"):
            dates += f", removed {match['removed']}"
        pairs.append((NS + "match", f"{match.get('list')} | {match.get('entity')} | "
                                    f"{match.get('citation') or 'no citation'} | {dates} | "
                                    f"{how} | score {match.get('score')}"))
    pairs += [(NS + "reason", r) for r in subject.get("reasons") or []]
    return pairs


def _device(device: dict[str, Any]) -> Component:
    maker = device.get("attributed_maker", device.get("maker"))
    pairs: list[tuple[str, Any]] = [
        ("cdx:device:serialNumber", device.get("serial")),
        ("cdx:device:macAddress", device.get("mac")),
        (NS + "label", device.get("brand")),
        (NS + "listed-maker", device.get("maker") if device.get("maker") != maker else None),
        (NS + "attribution-confidence", _number(device.get("confidence")) if maker else None),
        (NS + "platform", device.get("platform")),
        (NS + "device-class", device.get("device_class")),
        (NS + "usb-host", device.get("host")),
        (NS + "usb-id", f"{device['vid']}:{device.get('pid')}" if device.get("vid") else None),
        (NS + "readable", "false" if device.get("readable") is False else None),
        *((NS + "address", str(a)) for a in device.get("addresses") or []),
        *_finding_pairs(device),
        *((NS + "attribution-reason", r) for r in device.get("attribution_reasons") or []),
        *((NS + "evidence", _evidence_line(e)) for e in device.get("evidence") or []),
        *((NS + "read-error", e) for e in device.get("errors") or []),
    ]
    name = device.get("model") or device.get("brand") or device.get("device_class") or "device"
    where = device.get("host") or ", ".join(device.get("addresses") or []) or device.get("id")
    description = " ".join(part for part in (
        str(device.get("device_class") or "device"),
        f"labelled {device['brand']}" if device.get("brand") else "",
        f"at {where}" if where else "") if part)
    return Component(
        type=ComponentType.DEVICE, name=_clip(name), bom_ref=str(device.get("id") or where),
        version=_clip(device["firmware"]) if device.get("firmware") else None,
        manufacturer=OrganizationalEntity(name=_clip(maker)) if maker else None,
        description=_clip(description), properties=_properties(pairs))


def _line_item(result: dict[str, Any]) -> Component:
    item = result.get("item") or {}
    maker = result.get("maker") or item.get("manufacturer")
    pairs: list[tuple[str, Any]] = [
        ("cdx:device:sku", item.get("part_number")),
        (NS + "line-item", result.get("id")),
        (NS + "label", item.get("brand")),
        (NS + "stated-manufacturer", item.get("manufacturer")),
        *_finding_pairs(result),
        *((f"{NS}column:{k}", v) for k, v in (item.get("extra") or {}).items()),
    ]
    name = (item.get("part_number") or item.get("description") or item.get("brand")
            or str(result.get("id")))
    return Component(
        type=ComponentType.DEVICE, name=_clip(name), bom_ref=f"item:{result.get('id')}",
        description=_clip(item["description"]) if item.get("description") else None,
        manufacturer=OrganizationalEntity(name=_clip(maker)) if maker else None,
        supplier=OrganizationalEntity(name=_clip(item["supplier"]))
        if item.get("supplier") else None,
        properties=_properties(pairs))


def _evidence_line(evidence: dict[str, Any]) -> str:
    points = f" -> {evidence['indicates']}" if evidence.get("indicates") else ""
    rule = f" [{evidence['rule']}]" if evidence.get("rule") else ""
    return (f"{evidence.get('probe')} {evidence.get('field')}={evidence.get('value')!r}{points} "
            f"({evidence.get('kind') or 'platform'}, {evidence.get('certainty')}){rule}")


def _number(value: Any) -> str | None:
    return f"{value:.3f}" if isinstance(value, int | float) else None
