"""The application layer: the operations every face (CLI, HTTP service, schedule) calls.

    done = screen_line_items(items, ctx, store, actor="token:erp", source="service")
    done = screen_line_item_stream(LineItemFile(path).chunks(), ctx, store, actor="cli:ana",
                                   source="screen", input_name=str(path),
                                   sink=open_sink("ndjson", out), jobs=4)   # any size
    done = screen_scan(inventory, ctx, store, actor="cli:ana", source="entityscan scan")
    done.notify()                       # reaction hooks, after the caller showed the result
    report = rescreen(store, ctx, actor="cli:ana")
    diff = diff_scans(store, None, None)                 # the last two saved scans

Each screening operation screens ONCE (the matcher and the plugins' amendments), applies the
recorded decisions when there is a store, records the same outcomes in the store with an audit
entry, and builds the one document that is printed, written, stored and handed to the hooks:
what an operator sees is what the audit trail holds.  Reaction hooks (`entityscan_findings`,
`entityscan_scan_completed`, `entityscan_inventory_changed`) fire from `notify()`, so a face
can show or send its answer first (the service replies, then notifies in the background).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from entityscan.decisions import Decision, Outcome, decide
from entityscan.errors import InputError
from entityscan.hooks import notify_findings, notify_inventory_changed, notify_scan_completed
from entityscan.hooktypes import FindingEvent
from entityscan.itemchunks import chunk_outcomes
from entityscan.itemstream import StreamedScreening, screen_line_item_stream
from entityscan.model import Finding, LineItem, Verdict
from entityscan.output import scan_document
from entityscan.redaction import redact
from entityscan.scanners.inventory import Device, Inventory
from entityscan.screening import ScreeningContext, screen_inventory
from entityscan.streamout import DocumentSink

if TYPE_CHECKING:  # SQLAlchemy loads only in runs that open a store
    from entityscan.store import Store


def _outcomes(findings: Sequence[Finding], subject_of: Callable[[int], dict[str, Any]],
              decisions: Sequence[Decision]) -> list[Outcome]:
    """Each finding with its decision.  Only findings at `review` or above carry their subject
    record: nothing records or reports a clear one (and an ERP file is mostly clear)."""
    at = datetime.now(UTC)
    out = []
    for index, finding in enumerate(findings):
        decision, applied = decide(finding, decisions, at)
        subject = subject_of(index) if finding.verdict is not Verdict.CLEAR else {}
        out.append(Outcome(finding, decision, applied, subject))
    return out


def _events(outcomes: Sequence[Outcome], audit_id: int | None) -> list[FindingEvent]:
    return [FindingEvent(finding=o.finding, decision=o.decision, subject=dict(o.subject),
                         audit_id=audit_id)
            for o in outcomes if o.finding.verdict is not Verdict.CLEAR]


def _with_decisions(records: list[dict[str, Any]], outcomes: Sequence[Outcome]) -> None:
    for record, outcome in zip(records, outcomes, strict=True):
        record["decision"] = outcome.decision
        record["applied_decision"] = outcome.applied


def _no_reactions() -> list[str]:
    return []


@dataclass
class ItemScreening:
    """Line items screened in memory: their outcomes and the `entityscan.screen/1` document."""

    outcomes: list[Outcome]
    document: dict[str, Any]
    audit_id: int | None
    lists_content_hash: str
    notify: Callable[[], list[str]] = field(repr=False, default=_no_reactions)

    @property
    def findings(self) -> list[Finding]:
        return [o.finding for o in self.outcomes]


def screen_line_items(items: Sequence[LineItem], ctx: ScreeningContext, store: Store | None,
                      *, actor: str, source: str, input_name: str | None = None
                      ) -> ItemScreening:
    """Screen a batch of line items in memory (the service's `POST /v1/screen`, at most
    1,000): the streamed operation with one chunk, one audit entry, every result with every
    field.  Files of any size go through `screen_line_item_stream`."""
    rows = [(i.id, i.supplier, i.manufacturer, i.brand, i.description, i.part_number,
             dict(i.extra)) for i in items]
    sink = DocumentSink()
    outcomes: list[Outcome] = []
    done = screen_line_item_stream(
        [rows] if rows else [], ctx, store, actor=actor, source=source, input_name=input_name,
        sink=sink, lean=False, audit_batch=max(len(rows), 1),
        on_chunk=lambda chunk, out: outcomes.extend(chunk_outcomes(chunk, out)))
    return ItemScreening(outcomes, sink.document, done.audit_ids[0] if done.audit_ids else None,
                         done.lists_content_hash, done.notify)


@dataclass
class ScanScreening:
    """A scan screened (and saved when there was a store): the one document for everyone."""

    outcomes: list[Outcome]
    document: dict[str, Any]
    scan_id: int | None
    audit_id: int | None
    diff: dict[str, Any] | None
    notify: Callable[[], list[str]] = field(repr=False, default=_no_reactions)
    #: the store already held this document (its id): nothing new was saved or notified
    duplicate: bool = False

    @property
    def findings(self) -> list[Finding]:
        return [o.finding for o in self.outcomes]


def screen_scan(inventory: Inventory, ctx: ScreeningContext, store: Store | None, *,
                actor: str, source: str, secrets: Sequence[str] = (),
                site: str | None = None, document_id: str | None = None,
                document_hash: str | None = None) -> ScanScreening:
    """Screen a scanned inventory; with a store, apply its decisions, save the scan and diff
    it against the previous scan of the same site and kind.  `secrets` (the user's
    passwords) and any other credentials are removed (`entityscan.redaction`) before anything
    is screened, stored, written or sent.  The document names its `site` (default: the
    run's, `entityscan.sites`) and carries a `document_id` (new unless given), by which a
    store recognises a repeat."""
    from entityscan.sites import resolve_site

    site = resolve_site(site)
    document_id = document_id or f"{site}:{uuid.uuid4().hex}"
    if secrets:  # a device may echo a password back: none reaches the output or the store
        inventory = Inventory.model_validate(redact(inventory.model_dump(mode="json"),
                                                    secrets))
    findings = screen_inventory(inventory, ctx)
    decisions = store.decisions.list() if store is not None else []
    outcomes = _outcomes(findings, lambda n: {**_device_subject(inventory.devices[n]),
                                              "site": site}, decisions)
    document = scan_document(inventory, findings, ctx.lists)
    document["site"], document["document_id"] = site, document_id
    _with_decisions(document["devices"], outcomes)
    scan_id = audit_id = None
    diff = None
    duplicate = False
    if store is not None:
        saved = store.inventory.record_scan(
            inventory, outcomes, actor=actor, lists_content_hash=ctx.lists.content_hash,
            source=source, summary=document["summary"], site=site, document_id=document_id,
            document_hash=document_hash)
        scan_id, audit_id, duplicate = saved.scan_id, saved.audit_id, saved.duplicate
        document["scan_id"] = scan_id
        document["audit_id"] = audit_id
        diff = store.inventory.diff(None, scan_id, saved.snapshot)
    document = redact(document, secrets)
    context = {"source": "inventory", "actor": actor, "audit_id": audit_id, "scan_id": scan_id,
               "lists_content_hash": ctx.lists.content_hash}

    def notify() -> list[str]:
        if duplicate:  # reported when it was first stored
            return []
        errors = notify_scan_completed(ctx.hooks, scan_id, document)
        if diff is not None and _changed(diff):
            errors += notify_inventory_changed(ctx.hooks, diff)
        return errors + notify_findings(ctx.hooks, _events(outcomes, audit_id), context)

    return ScanScreening(outcomes, document, scan_id, audit_id, diff, notify, duplicate)


def _changed(diff: dict[str, Any]) -> bool:
    return any(diff[what] for what in ("new", "gone", "changed", "newly_flagged"))


def _device_subject(device: Device) -> dict[str, Any]:
    return {"key": device.key(), "addresses": device.addresses, "mac": device.mac,
            "serial": device.serial, "brand": device.brand, "maker": device.maker,
            "model": device.model}


@dataclass
class RescreenReport:
    audit_id: int
    lists_content_hash: str
    screened: int
    changes: list[dict[str, Any]]
    notify: Callable[[], list[str]] = field(repr=False, default=_no_reactions)


def rescreen(store: Store, ctx: ScreeningContext, *, actor: str) -> RescreenReport:
    """Screen every stored device against the current lists; record and report changed
    verdicts (e.g. after `entityscan lists update`)."""
    rows: list[dict[str, Any]] = []
    while page := store.inventory.devices(limit=1000, offset=len(rows)):
        rows.extend(page)
        if len(page) < 1000:
            break
    inventory = Inventory(devices=[Device.model_validate(r["record"]) for r in rows])
    findings = screen_inventory(inventory, ctx)
    outcomes = _outcomes(findings, lambda n: {**_device_subject(inventory.devices[n]),
                                              "site": rows[n]["site"]},
                         store.decisions.list())
    changes = []
    changed_findings = []
    for row, outcome in zip(rows, outcomes, strict=True):
        finding = outcome.finding
        if finding.verdict.value != row["verdict"] or finding.maker != row["maker"]:
            changes.append({"key": row["key"], "site": row["site"], "before": row["verdict"],
                            "after": finding.verdict.value, "maker_before": row["maker"],
                            "maker": finding.maker, "decision": outcome.decision,
                            "reasons": finding.reasons[:3],
                            "lists_before": row["lists_content_hash"]})
            changed_findings.append((row["site"], row["key"], finding))
    audit_id = store.inventory.update_findings(
        changed_findings, actor=actor, report={"screened": len(rows), "changed": changes},
        lists_content_hash=ctx.lists.content_hash, outcomes=outcomes)
    changed_keys = {(c["site"], c["key"]) for c in changes}
    diff = {"reason": "rescreen", "scan_a": None, "scan_b": None, "new": [], "gone": [],
            "changed": [{"key": c["key"], "site": c["site"], "verdict": c["after"],
                         "maker": c["maker"],
                         "changes": {"verdict": [c["before"], c["after"]]}} for c in changes],
            "newly_flagged": [{"key": c["key"], "site": c["site"], "verdict": "flagged",
                               "maker": c["maker"]}
                              for c in changes
                              if c["after"] == "flagged" and c["before"] != "flagged"],
            "lists_content_hash": ctx.lists.content_hash}
    context = {"source": "rescreen", "actor": actor, "audit_id": audit_id,
               "lists_content_hash": ctx.lists.content_hash}

    def notify() -> list[str]:
        if not changes:
            return []
        return notify_inventory_changed(ctx.hooks, diff) + notify_findings(
            ctx.hooks, _events([o for o in outcomes
                                if (o.subject.get("site"), o.finding.subject) in changed_keys],
                               audit_id), context)

    return RescreenReport(audit_id, ctx.lists.content_hash, len(rows), changes, notify)


def diff_scans(store: Store, scan_a: int | None, scan_b: int | None,
               site: str | None = None) -> dict[str, Any]:
    """New, gone, changed and newly flagged devices from `scan_a` to `scan_b`.  Without
    `scan_b`, the latest saved scan (of `site`, when given); without `scan_a`, the scan
    before `scan_b` at its site."""
    if scan_b is None:
        latest = store.inventory.scans(limit=1, site=site)
        if not latest:
            raise InputError("no saved scans yet: save one with `entityscan scan ... --save` "
                             "or `entityscan store import FILE`")
        scan_b = int(latest[0]["id"])
    return store.inventory.diff(scan_a, scan_b)


__all__ = ["ItemScreening", "RescreenReport", "ScanScreening", "StreamedScreening",
           "diff_scans", "redact", "rescreen", "screen_line_item_stream", "screen_line_items",
           "screen_scan"]
