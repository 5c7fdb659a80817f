"""The inventory: saved scans, their device snapshots and the device registry (first and
last seen, current finding), and what changed between two scans."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from entityscan.decisions import Outcome
from entityscan.model import Finding
from entityscan.scanners.inventory import Inventory
from entityscan.store import audit
from entityscan.store import schema as t
from entityscan.store.clock import aware, dated, now
from entityscan.store.diff import diff_snapshots
from entityscan.store.engine import StoreError, write
from entityscan.store.findings import insert_findings, result_rows
from entityscan.store.outbox import OutboxStore, finding_events


class InventoryStore:
    """Scans and devices (`store.inventory`)."""

    def __init__(self, engine: Engine, outbox: OutboxStore) -> None:
        self.engine = engine
        self.outbox = outbox

    def record_scan(self, inventory: Inventory, outcomes: Sequence[Outcome], *, actor: str,
                    lists_content_hash: str, source: str | None = None,
                    summary: Mapping[str, Any] | None = None) -> tuple[int, int]:
        """Save a screened scan: the scan, its device snapshot, the device registry (first and
        last seen), the findings and an audit entry.  Returns (scan id, audit id)."""
        received = now()
        # A device cannot have been seen after the scan reached us: a future date in a
        # document (clock skew, or a lie) must never freeze the device's record.
        seen = min(aware(inventory.finished or inventory.started or received), received)
        by_key: dict[str, tuple[dict[str, Any], Outcome]] = {}
        for device, outcome in zip(inventory.devices, outcomes, strict=True):
            key = device.key()
            record = device.model_dump(mode="json")
            previous = by_key.get(key)
            # the same device listed twice (two addresses): keep the stronger verdict
            if previous is None or outcome.finding.verdict.rank > previous[1].finding.verdict.rank:
                by_key[key] = (record, outcome)
        keys = sorted(by_key)  # a fixed order avoids deadlocks between concurrent upserts

        def work(conn: Connection) -> tuple[int, int, int]:
            scan_id = int(conn.execute(insert(t.scans).values(
                kind=inventory.kind, received_at=received, started=aware(inventory.started),
                finished=aware(inventory.finished) if inventory.finished else None,
                targets=list(inventory.targets), actor=actor, source=source,
                lists_content_hash=lists_content_hash, device_count=len(keys),
                summary=dict(summary or {}),
                errors=[e.model_dump(mode="json") for e in inventory.errors],
                parameters=inventory.parameters).returning(t.scans.c.id)).scalar_one())
            if keys:
                conn.execute(insert(t.scan_devices), [
                    {"scan_id": scan_id, "device_key": k,
                     "verdict": by_key[k][1].finding.verdict.value,
                     "maker": by_key[k][1].finding.maker,
                     "score": by_key[k][1].finding.score, "record": by_key[k][0]}
                    for k in keys])
                for key in keys:
                    _upsert_device(conn, key, by_key[key][0], by_key[key][1], scan_id,
                                   inventory.kind, seen, lists_content_hash)
            audit_id = audit.append(conn, actor=actor, action="inventory",
                                    lists_content_hash=lists_content_hash, scan_id=scan_id,
                                    inputs={"source": source, "kind": inventory.kind,
                                            "targets": list(inventory.targets),
                                            "devices": [by_key[k][0] for k in keys]},
                                    result={"results": result_rows(
                                        [by_key[k][1] for k in keys])})
            insert_findings(conn, audit_id, [by_key[k][1] for k in keys], scan_id)
            queued = self._queue_scan_events(conn, inventory.kind, scan_id, audit_id, by_key,
                                             actor, lists_content_hash)
            return scan_id, audit_id, queued

        scan_id, audit_id, queued = write(self.engine, work)
        self.outbox.committed(queued)
        return scan_id, audit_id

    def _queue_scan_events(self, conn: Connection, kind: str, scan_id: int, audit_id: int,
                           by_key: Mapping[str, tuple[dict[str, Any], Outcome]], actor: str,
                           lists_hash: str) -> int:
        """The webhook events a saved scan raises, in its own transaction: newly flagged
        devices against the previous scan of its kind, then its findings."""
        if not self.outbox.enabled:
            return 0
        previous = conn.execute(select(func.max(t.scans.c.id)).where(
            and_(t.scans.c.kind == kind, t.scans.c.id < scan_id))).scalar()
        before = {} if previous is None else {
            r["device_key"]: dict(r) for r in conn.execute(select(t.scan_devices).where(
                t.scan_devices.c.scan_id == previous)).mappings().all()}
        after = {k: {"verdict": o.finding.verdict.value, "maker": o.finding.maker,
                     "score": o.finding.score, "record": record}
                 for k, (record, o) in by_key.items()}
        diff = diff_snapshots(before, after, scan_a=previous, scan_b=scan_id)
        queued = 0
        if diff["newly_flagged"]:
            queued += self.outbox.add(conn, "inventory_changed",
                                      {"event": "inventory_changed", "diff": diff}, audit_id)
        events = finding_events([o for _, o in by_key.values()], audit_id)
        if events:
            queued += self.outbox.add(conn, "findings", {
                "event": "findings",
                "context": {"source": "inventory", "actor": actor, "audit_id": audit_id,
                            "scan_id": scan_id, "lists_content_hash": lists_hash},
                "findings": events}, audit_id)
        return queued

    def scans(self, limit: int = 50, offset: int = 0, kind: str | None = None
              ) -> list[dict[str, Any]]:
        """Saved scans, newest first."""
        q = select(t.scans).order_by(t.scans.c.id.desc()).limit(limit).offset(offset)
        if kind:
            q = q.where(t.scans.c.kind == kind)
        with self.engine.connect() as conn:
            return [dated(r) for r in conn.execute(q).mappings().all()]

    def scan(self, scan_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.scans).where(t.scans.c.id == scan_id)).mappings().first()
        return None if row is None else dated(row)

    def previous_scan_id(self, scan_id: int) -> int | None:
        """The scan of the same kind saved just before `scan_id`."""
        with self.engine.connect() as conn:
            kind = conn.execute(select(t.scans.c.kind).where(t.scans.c.id == scan_id)).scalar()
            if kind is None:
                return None
            return conn.execute(select(func.max(t.scans.c.id)).where(
                and_(t.scans.c.kind == kind, t.scans.c.id < scan_id))).scalar()

    def snapshot(self, scan_id: int) -> dict[str, dict[str, Any]]:
        """The devices a scan saw, by device key."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.scan_devices).where(
                t.scan_devices.c.scan_id == scan_id)).mappings().all()
        return {r["device_key"]: dict(r) for r in rows}

    def diff(self, scan_a: int | None, scan_b: int) -> dict[str, Any]:
        """Devices new, gone, changed and newly flagged from scan_a to scan_b (scan_a None:
        the previous scan of the same kind, or an empty inventory)."""
        if self.scan(scan_b) is None:
            raise StoreError(f"no saved scan with id {scan_b}")
        if scan_a is None:
            scan_a = self.previous_scan_id(scan_b)
        elif self.scan(scan_a) is None:
            raise StoreError(f"no saved scan with id {scan_a}")
        before = self.snapshot(scan_a) if scan_a is not None else {}
        return diff_snapshots(before, self.snapshot(scan_b), scan_a=scan_a, scan_b=scan_b)

    def devices(self, verdict: str | None = None, limit: int = 100, offset: int = 0
                ) -> list[dict[str, Any]]:
        """The device registry, by key: first and last seen, the current finding."""
        q = select(t.devices).order_by(t.devices.c.key).limit(limit).offset(offset)
        if verdict:
            q = q.where(t.devices.c.verdict == verdict)
        with self.engine.connect() as conn:
            return [dated(r) for r in conn.execute(q).mappings().all()]

    def update_findings(self, changes: Sequence[tuple[str, Finding]], *, actor: str,
                        lists_content_hash: str, report: Any,
                        outcomes: Sequence[Outcome]) -> int:
        """Rescreen result: new current findings for devices plus one audit entry."""

        def work(conn: Connection) -> tuple[int, int]:
            for key, finding in changes:
                conn.execute(update(t.devices).where(t.devices.c.key == key).values(
                    verdict=finding.verdict.value, maker=finding.maker, score=finding.score,
                    finding=finding.model_dump(mode="json"), screened_at=now(),
                    lists_content_hash=lists_content_hash))
            audit_id = audit.append(conn, actor=actor, action="rescreen",
                                    lists_content_hash=lists_content_hash,
                                    inputs={"devices": len(outcomes)}, result=report)
            changed = [o for o in outcomes if o.finding.subject in {k for k, _ in changes}]
            insert_findings(conn, audit_id, changed)
            return audit_id, self._queue_rescreen_events(conn, audit_id, report, changed,
                                                         actor, lists_content_hash)

        audit_id, queued = write(self.engine, work)
        self.outbox.committed(queued)
        return audit_id

    def _queue_rescreen_events(self, conn: Connection, audit_id: int, report: Any,
                               changed: Sequence[Outcome], actor: str, lists_hash: str) -> int:
        """A rescreen's webhook events: devices it newly flagged, then the changed findings."""
        changes = (report or {}).get("changed", [])
        flagged = [{"key": c["key"], "verdict": "flagged", "maker": c["maker"]}
                   for c in changes if c["after"] == "flagged" and c["before"] != "flagged"]
        queued = 0
        if flagged:  # the same diff `entityscan_inventory_changed` hooks receive
            queued += self.outbox.add(conn, "inventory_changed", {
                "event": "inventory_changed",
                "diff": {"reason": "rescreen", "scan_a": None, "scan_b": None, "new": [],
                         "gone": [], "newly_flagged": flagged, "lists_content_hash": lists_hash,
                         "changed": [{"key": c["key"], "verdict": c["after"],
                                      "maker": c["maker"],
                                      "changes": {"verdict": [c["before"], c["after"]]}}
                                     for c in changes]}},
                audit_id)
        events = finding_events(changed, audit_id)
        if events:
            queued += self.outbox.add(conn, "findings", {
                "event": "findings",
                "context": {"source": "rescreen", "actor": actor, "audit_id": audit_id,
                            "lists_content_hash": lists_hash},
                "findings": events}, audit_id)
        return queued


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO UPDATE."""
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def _upsert_device(conn: Connection, key: str, record: dict[str, Any], outcome: Outcome,
                   scan_id: int, kind: str, seen: datetime, lists_hash: str) -> None:
    """Insert the device or update it: the latest sighting's fields win, first seen moves
    back when an older scan arrives late."""
    f = outcome.finding
    values = {"key": key, "first_seen": seen, "last_seen": seen, "first_scan_id": scan_id,
              "last_scan_id": scan_id, "kind": kind, "verdict": f.verdict.value,
              "maker": f.maker, "brand": record.get("brand"), "model": record.get("model"),
              "score": f.score, "record": record, "finding": f.model_dump(mode="json"),
              "screened_at": now(), "lists_content_hash": lists_hash}
    stmt = _insert(conn, t.devices).values(**values)
    new = stmt.excluded
    d = t.devices.c
    newer = new.last_seen >= d.last_seen
    latest = {col: case((newer, getattr(new, col)), else_=getattr(d, col))
              for col in ("last_scan_id", "kind", "verdict", "maker", "brand", "model",
                          "score", "record", "finding", "screened_at",
                          "lists_content_hash")}
    stmt = stmt.on_conflict_do_update(index_elements=[d.key], set_={
        **latest,
        "last_seen": case((newer, new.last_seen), else_=d.last_seen),
        "first_seen": case((new.first_seen < d.first_seen, new.first_seen),
                           else_=d.first_seen),
        "first_scan_id": case((new.first_seen < d.first_seen, new.first_scan_id),
                              else_=d.first_scan_id),
    })
    conn.execute(stmt)
