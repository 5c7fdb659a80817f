"""The procurement operations the CLI, the service and the scheduler share.

    batch = screen_batch(items, ctx, store, actor="token:erp")    # audit id per batch
    saved = import_scan(document, ctx, store, actor="site-12")    # scan id, diff, findings
    report = rescreen(store, ctx, actor="cli")                    # changed verdicts

Each screens through `entityscan.screening` (plugin amendments included), applies the recorded
decisions (the positive list), records everything in the store with an audit entry, and then
fires the reaction hooks (`entityscan_findings`, `entityscan_scan_completed`,
`entityscan_inventory_changed`) unless `notify=False` (the service fires them after replying).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from entityscan.decisions import Decision, decide
from entityscan.hooks import notify_findings, notify_inventory_changed, notify_scan_completed
from entityscan.hooktypes import FindingEvent
from entityscan.model import Finding, LineItem, Verdict
from entityscan.output import scan_document
from entityscan.scanners.inventory import Device, Inventory
from entityscan.screening import ScreeningContext, screen_inventory, screen_items
from entityscan.store import Outcome, Store, inventory_from_document, is_empty


def outcomes_for(findings: Sequence[Finding], subjects: Sequence[dict[str, Any]],
                 decisions: Sequence[Decision], at: datetime | None = None) -> list[Outcome]:
    at = at or datetime.now(UTC)
    out = []
    for finding, subject in zip(findings, subjects, strict=True):
        decision, applied = decide(finding, decisions, at)
        out.append(Outcome(finding, decision, applied, subject))
    return out


def result_dict(outcome: Outcome, audit_id: int | None = None) -> dict[str, Any]:
    f = outcome.finding
    return {"id": f.subject, "verdict": f.verdict.value, "decision": outcome.decision,
            "applied_decision": outcome.applied, "maker": f.maker, "score": f.score,
            "matches": [m.model_dump(mode="json") for m in f.matches],
            "reasons": list(f.reasons), "audit_id": audit_id}


def events_for(outcomes: Sequence[Outcome], audit_id: int | None) -> list[FindingEvent]:
    return [FindingEvent(finding=o.finding, decision=o.decision, subject=dict(o.subject),
                         audit_id=audit_id)
            for o in outcomes if o.finding.verdict is not Verdict.CLEAR]


@dataclass
class BatchResult:
    audit_id: int | None
    outcomes: list[Outcome]
    lists_content_hash: str
    notify: Callable[[], list[str]] = field(repr=False, default=lambda: [])

    def results(self) -> list[dict[str, Any]]:
        return [result_dict(o, self.audit_id) for o in self.outcomes]


def screen_batch(items: Sequence[LineItem], ctx: ScreeningContext, store: Store | None, *,
                 actor: str, source: str = "service", notify: bool = True) -> BatchResult:
    findings = screen_items(items, ctx)
    decisions = store.decisions.list() if store is not None else []
    outcomes = outcomes_for(findings, [i.model_dump(mode="json") for i in items], decisions)
    audit_id = None
    if store is not None:
        audit_id = store.findings.record_screening(items, outcomes, actor=actor, source=source,
                                                   lists_content_hash=ctx.lists.content_hash)
    context = {"source": source, "actor": actor, "audit_id": audit_id,
               "lists_content_hash": ctx.lists.content_hash}

    def fire() -> list[str]:
        return notify_findings(ctx.hooks, events_for(outcomes, audit_id), context)

    result = BatchResult(audit_id, outcomes, ctx.lists.content_hash, fire)
    if notify:
        fire()
    return result


@dataclass
class ScanImport:
    scan_id: int
    audit_id: int
    document: dict[str, Any]
    diff: dict[str, Any]
    outcomes: list[Outcome]
    notify: Callable[[], list[str]] = field(repr=False, default=lambda: [])


def import_scan(source_doc: dict[str, Any] | Inventory, ctx: ScreeningContext, store: Store, *,
                actor: str, source: str | None = None, notify: bool = True) -> ScanImport:
    """Screen a scan document (or Inventory) afresh, save it, diff it against the last one."""
    inventory = (source_doc if isinstance(source_doc, Inventory)
                 else inventory_from_document(source_doc, source or "scan document"))
    findings = screen_inventory(inventory, ctx)
    outcomes = outcomes_for(findings, [_device_subject(d) for d in inventory.devices],
                            store.decisions.list())
    document = scan_document(inventory, findings, ctx.lists)
    for record, outcome in zip(document["devices"], outcomes, strict=True):
        record["decision"] = outcome.decision
        record["applied_decision"] = outcome.applied
    scan_id, audit_id = store.inventory.record_scan(inventory, outcomes, actor=actor,
                                                    lists_content_hash=ctx.lists.content_hash,
                                                    source=source, summary=document["summary"])
    document["scan_id"] = scan_id
    document["audit_id"] = audit_id
    diff = store.inventory.diff(None, scan_id)

    def fire() -> list[str]:
        errors = notify_scan_completed(ctx.hooks, scan_id, document)
        if not is_empty(diff):
            errors += notify_inventory_changed(ctx.hooks, diff)
        errors += notify_findings(ctx.hooks, events_for(outcomes, audit_id),
                                  {"source": "inventory", "actor": actor, "audit_id": audit_id,
                                   "scan_id": scan_id,
                                   "lists_content_hash": ctx.lists.content_hash})
        return errors

    result = ScanImport(scan_id, audit_id, document, diff, outcomes, fire)
    if notify:
        fire()
    return result


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


def rescreen(store: Store, ctx: ScreeningContext, *, actor: str,
             notify: bool = True) -> RescreenReport:
    """Screen every stored device against the current lists; record and report changed
    verdicts (e.g. after `entityscan lists update`)."""
    rows = []
    offset = 0
    while True:
        page = store.inventory.devices(limit=1000, offset=offset)
        rows.extend(page)
        offset += len(page)
        if len(page) < 1000:
            break
    inventory = Inventory(devices=[Device.model_validate(r["record"]) for r in rows])
    findings = screen_inventory(inventory, ctx)
    outcomes = outcomes_for(findings, [_device_subject(d) for d in inventory.devices],
                            store.decisions.list())
    changes = []
    changed_findings = []
    for row, outcome in zip(rows, outcomes, strict=True):
        finding = outcome.finding
        if finding.verdict.value != row["verdict"] or finding.maker != row["maker"]:
            changes.append({"key": row["key"], "before": row["verdict"],
                            "after": finding.verdict.value, "maker_before": row["maker"],
                            "maker": finding.maker, "decision": outcome.decision,
                            "reasons": finding.reasons[:3],
                            "lists_before": row["lists_content_hash"]})
            changed_findings.append((row["key"], finding))
    report = {"screened": len(rows), "changed": changes}
    audit_id = store.inventory.update_findings(changed_findings, actor=actor, report=report,
                                               lists_content_hash=ctx.lists.content_hash,
                                               outcomes=outcomes)
    result = RescreenReport(audit_id, ctx.lists.content_hash, len(rows), changes)
    if notify and changes:
        flagged = [c for c in changes if c["after"] == "flagged"]
        notify_inventory_changed(ctx.hooks, {
            "reason": "rescreen", "scan_a": None, "scan_b": None, "new": [], "gone": [],
            "changed": [{"key": c["key"], "verdict": c["after"], "maker": c["maker"],
                         "changes": {"verdict": [c["before"], c["after"]]}} for c in changes],
            "newly_flagged": [{"key": c["key"], "verdict": "flagged", "maker": c["maker"]}
                              for c in flagged if c["before"] != "flagged"],
            "lists_content_hash": ctx.lists.content_hash})
        changed_keys = {c["key"] for c in changes}
        notify_findings(ctx.hooks, events_for([o for o in outcomes
                                               if o.finding.subject in changed_keys], audit_id),
                        {"source": "rescreen", "actor": actor, "audit_id": audit_id,
                         "lists_content_hash": ctx.lists.content_hash})
    return result
