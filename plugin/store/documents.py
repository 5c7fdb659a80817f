"""Scan documents (`entityscan.scan/1`, or a bare Inventory) back into the inventory model.

A document comes from elsewhere (a site's scanner, a file), so nothing in it that the server
can work out for itself is believed: every device is attributed again from its evidence
(`entityscan.store.evidence`), verdicts are screened afresh, and its times must be plausible
(not in the future beyond a small clock skew, not before `EARLIEST`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from entityscan.errors import InputError
from entityscan.scanners.inventory import Inventory
from entityscan.store.evidence import CLAIMS, reattribute

if TYPE_CHECKING:
    from entityscan.scanners.signals import RuleSet

MAX_DEVICES = 50_000
# Keys the scan document adds to a device record (results are recomputed on import).
RESULT_KEYS = ("id", "verdict", "score", "matches", "reasons", "decision", "applied_decision",
               "attributed_maker", "claimed")
#: Clock skew tolerated between a site's scanner and this server.
MAX_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DOCUMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,99}$"
_DOCUMENT_ID = re.compile(DOCUMENT_ID_PATTERN)


@dataclass(frozen=True)
class DocumentIdentity:
    """Where a scan document belongs and how a repeat of it is recognised; `canonical` is
    the document as hashed (sorted keys, compact JSON)."""

    site: str | None
    document_id: str | None
    document_hash: str
    canonical: bytes = b""


def document_identity(doc: Any, where: str = "scan document") -> DocumentIdentity:
    """The document's `site` (checked) and `document_id`, and a hash of its whole content (a
    repeat with the same id and hash is the same document; the same id with other content
    is refused)."""
    from entityscan.sites import check_site

    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a JSON object (an entityscan.scan/1 document)")
    site = doc.get("site")
    if site is not None and not isinstance(site, str):
        raise InputError(f"{where}: field `site` must be a string")
    document_id = doc.get("document_id")
    if document_id is not None and (not isinstance(document_id, str)
                                    or not _DOCUMENT_ID.fullmatch(document_id)):
        raise InputError(f"{where}: field `document_id` must be 8 to 100 letters, digits, "
                         f"'.', '_', ':' or '-'")
    body = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode("utf-8", "surrogatepass")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    return DocumentIdentity(check_site(site, f"{where}: field `site`") if site else None,
                            document_id, digest, body)


def _checked_time(value: datetime | None, name: str, where: str, received: datetime
                  ) -> datetime | None:
    if value is None:
        return None
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InputError(f"{where}: field `{name}`: {value.isoformat()} is out of range") from exc
    if moment > received + MAX_SKEW:
        raise InputError(f"{where}: field `{name}`: {moment.isoformat()} is in the future "
                         f"(more than {MAX_SKEW.seconds // 60} minutes ahead of this server's "
                         f"clock {received.isoformat(timespec='seconds')})")
    if moment < EARLIEST:
        raise InputError(f"{where}: field `{name}`: {moment.isoformat()} is before "
                         f"{EARLIEST.date().isoformat()}; not a scan time")
    return moment


def check_times(inventory: Inventory, where: str = "scan document") -> Inventory:
    """The inventory with its times in UTC, or InputError when one is implausible."""
    received = datetime.now(UTC)
    started = _checked_time(inventory.started, "started", where, received)
    finished = _checked_time(inventory.finished, "finished", where, received)
    if started is not None and finished is not None and finished < started:
        raise InputError(f"{where}: field `finished`: {finished.isoformat()} is before "
                         f"`started` {started.isoformat()}")
    return inventory.model_copy(update={"started": started, "finished": finished})


def inventory_from_document(doc: Any, where: str = "scan document", *,
                            rules: RuleSet | None = None) -> Inventory:
    """Read a scan document: checked, its times plausible, every device attributed again
    with `rules` (default: the bundled signatures) and the document's claims set aside."""
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
    devices, claims = [], []
    for index, raw in enumerate(raw_devices):
        if not isinstance(raw, dict):
            raise InputError(f"{where}: devices[{index}] is not an object")
        claims.append({k: raw[k] for k in CLAIMS if raw.get(k) is not None})
        record = {k: v for k, v in raw.items() if k not in RESULT_KEYS}
        record.pop("attribution_reasons", None)  # attribution runs again
        devices.append(record)
    body = {k: doc[k] for k in ("kind", "targets", "started", "finished", "parameters",
                                "errors") if doc.get(k) is not None}
    try:
        inventory = Inventory.model_validate({**body, "devices": devices})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{where}: field `{loc}`: {first['msg']}") from exc
    return reattribute(check_times(inventory, where), rules, claims)
