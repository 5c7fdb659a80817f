"""Scan documents (`entityscan.scan/1`, or a bare Inventory) back into the inventory model."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from entityscan.errors import InputError
from entityscan.scanners.inventory import Inventory

MAX_DEVICES = 50_000
# Keys the scan document adds to a device record (verdicts are recomputed on import).
RESULT_KEYS = ("id", "verdict", "score", "matches", "reasons", "decision")


def inventory_from_document(doc: Any, where: str = "scan document") -> Inventory:
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a JSON object (an entityscan.scan/1 document)")
    schema = doc.get("schema")
    if schema is not None and not str(schema).startswith("entityscan.scan/"):
        raise InputError(f"{where}: schema {schema!r} is not a scan document "
                         f"(expected entityscan.scan/1)")
    raw_devices = doc.get("devices")
    if not isinstance(raw_devices, list):
        raise InputError(f"{where}: `devices` must be a list")
    if len(raw_devices) > MAX_DEVICES:
        raise InputError(f"{where}: {len(raw_devices):,} devices, over the limit of "
                         f"{MAX_DEVICES:,} per document")
    devices = []
    for index, raw in enumerate(raw_devices):
        if not isinstance(raw, dict):
            raise InputError(f"{where}: devices[{index}] is not an object")
        record = {k: v for k, v in raw.items() if k not in RESULT_KEYS}
        if "attribution_reasons" in record:
            record["reasons"] = record.pop("attribution_reasons") or []
        devices.append(record)
    body = {k: doc[k] for k in ("kind", "targets", "started", "finished", "parameters",
                                "errors") if doc.get(k) is not None}
    try:
        return Inventory.model_validate({**body, "devices": devices})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{where}: field `{loc}`: {first['msg']}") from exc
