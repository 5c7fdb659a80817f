"""The webhook events a saved scan or a rescreen raises, written in the transaction that
records it (`entityscan.store.outbox`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from entityscan.decisions import Outcome
from entityscan.store.diff import diff_snapshots
from entityscan.store.outbox import OutboxStore, finding_events


def queue_scan_events(outbox: OutboxStore, conn: Connection, *, scan_id: int, audit_id: int,
                      previous: int | None, before: Mapping[str, Mapping[str, Any]],
                      by_key: Mapping[str, tuple[dict[str, Any], Outcome]], actor: str,
                      lists_hash: str, site: str) -> int:
    """Newly flagged devices against the previous scan of the site and kind, then the scan's
    findings."""
    if not outbox.enabled:
        return 0
    after = {k: {"verdict": o.finding.verdict.value, "maker": o.finding.maker,
                 "score": o.finding.score, "record": record}
             for k, (record, o) in by_key.items()}
    diff = diff_snapshots(before, after, scan_a=previous, scan_b=scan_id)
    diff["site"] = site
    queued = 0
    if diff["newly_flagged"]:
        queued += outbox.add(conn, "inventory_changed",
                             {"event": "inventory_changed", "diff": diff}, audit_id)
    events = finding_events([o for _, o in by_key.values()], audit_id)
    if events:
        queued += outbox.add(conn, "findings", {
            "event": "findings",
            "context": {"source": "inventory", "actor": actor, "audit_id": audit_id,
                        "scan_id": scan_id, "site": site, "lists_content_hash": lists_hash},
            "findings": events}, audit_id)
    return queued


def queue_rescreen_events(outbox: OutboxStore, conn: Connection, audit_id: int, report: Any,
                          changed: Sequence[Outcome], actor: str, lists_hash: str) -> int:
    """A rescreen's webhook events: devices it newly flagged, then the changed findings."""
    changes = (report or {}).get("changed", [])
    flagged = [{"key": c["key"], "site": c.get("site"), "verdict": "flagged",
                "maker": c["maker"]}
               for c in changes if c["after"] == "flagged" and c["before"] != "flagged"]
    queued = 0
    if flagged:  # the same diff `entityscan_inventory_changed` hooks receive
        queued += outbox.add(conn, "inventory_changed", {
            "event": "inventory_changed",
            "diff": {"reason": "rescreen", "scan_a": None, "scan_b": None, "new": [],
                     "gone": [], "newly_flagged": flagged, "lists_content_hash": lists_hash,
                     "changed": [{"key": c["key"], "site": c.get("site"),
                                  "verdict": c["after"], "maker": c["maker"],
                                  "changes": {"verdict": [c["before"], c["after"]]}}
                                 for c in changes]}},
            audit_id)
    events = finding_events(changed, audit_id)
    if events:
        queued += outbox.add(conn, "findings", {
            "event": "findings",
            "context": {"source": "rescreen", "actor": actor, "audit_id": audit_id,
                        "lists_content_hash": lists_hash},
            "findings": events}, audit_id)
    return queued
