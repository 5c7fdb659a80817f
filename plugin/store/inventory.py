"""The inventory: saved scans, their device snapshots, the device registry (first and last
seen, current finding) per site, and what changed between two scans of a site.

A scan posted by a site's agent carries a document id; a repeat of it (the agent resending
after a lost answer, or its spool flushed twice) is recognised and never stored twice: the
id is unique in the database, so even two copies in flight at once leave one scan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from entityscan.decisions import Outcome
from entityscan.model import Finding
from entityscan.scanners.inventory import Inventory
from entityscan.store import audit
from entityscan.store import schema as t
from entityscan.store.clock import aware, dated, now
from entityscan.store.diff import diff_snapshots
from entityscan.store.engine import StoreError, write
from entityscan.store.findings import insert_findings, result_rows
from entityscan.store.outbox import OutboxStore
from entityscan.store.registry import upsert_devices
from entityscan.store.scan_events import queue_rescreen_events, queue_scan_events


@dataclass(frozen=True)
class SavedScan:
    """Where a scan was saved; `duplicate`: its document id was stored before (nothing new
    was written; the ids are the stored scan's)."""

    scan_id: int
    audit_id: int
    duplicate: bool = False
    #: the device snapshot just written (rows by device key, as `snapshot()` reads them back),
    #: so the diff after a save need not read it again; None for a duplicate
    snapshot: dict[str, dict[str, Any]] | None = field(default=None, compare=False, repr=False)


class DocumentConflict(StoreError):
    """A document id already stored with different content."""


def records_digest(records: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 over the device records as saved (sorted keys, compact JSON): what the audit
    entry of a scan records about the snapshot it references, when the scan came with no
    document hash."""
    text = json.dumps(records, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class InventoryStore:
    """Scans and devices (`store.inventory`)."""

    def __init__(self, engine: Engine, outbox: OutboxStore) -> None:
        self.engine = engine
        self.outbox = outbox

    def record_scan(self, inventory: Inventory, outcomes: Sequence[Outcome], *, actor: str,
                    lists_content_hash: str, source: str | None = None,
                    summary: Mapping[str, Any] | None = None, site: str = "default",
                    document_id: str | None = None, document_hash: str | None = None
                    ) -> SavedScan:
        """Save a screened scan: the scan, its device snapshot, the device registry of its
        site (first and last seen), the findings and an audit entry."""
        received = now()
        # A device cannot have been seen after the scan reached us: a future date in a
        # document (clock skew, or a lie) must never freeze the device's record.
        seen = min(aware(inventory.finished or inventory.started or received), received)
        by_key: dict[str, tuple[dict[str, Any], Outcome]] = {}
        for device, outcome in zip(inventory.devices, outcomes, strict=True):
            key = device.key()
            record = device.model_dump(mode="json", exclude_none=True)
            previous = by_key.get(key)
            # the same device listed twice (two addresses): keep the stronger verdict
            if previous is None or outcome.finding.verdict.rank > previous[1].finding.verdict.rank:
                by_key[key] = (record, outcome)
        keys = sorted(by_key)  # a fixed order avoids deadlocks between concurrent upserts
        snapshot: list[dict[str, Any]] = [
            {"scan_id": 0, "device_key": k, "verdict": by_key[k][1].finding.verdict.value,
             "maker": by_key[k][1].finding.maker, "score": by_key[k][1].finding.score,
             "record": by_key[k][0]} for k in keys]
        # what was screened, in the audit chain: the posted document's hash, else the records'
        digest = document_hash or records_digest([by_key[k][0] for k in keys])

        def work(conn: Connection) -> tuple[SavedScan, int]:
            if document_id is not None:
                stored = self._stored(conn, document_id, document_hash)
                if stored is not None:
                    return stored, 0
            previous = conn.execute(select(func.max(t.scans.c.id)).where(and_(
                t.scans.c.site == site, t.scans.c.kind == inventory.kind))).scalar()
            scan_id = int(conn.execute(insert(t.scans).values(
                kind=inventory.kind, site=site, document_id=document_id,
                document_hash=document_hash, received_at=received,
                started=aware(inventory.started),
                finished=aware(inventory.finished) if inventory.finished else None,
                targets=list(inventory.targets), actor=actor, source=source,
                lists_content_hash=lists_content_hash, device_count=len(keys),
                summary=dict(summary or {}),
                errors=[e.model_dump(mode="json") for e in inventory.errors],
                parameters=inventory.parameters).returning(t.scans.c.id)).scalar_one())
            rows = [{**row, "scan_id": scan_id} for row in snapshot]
            if rows:
                conn.execute(insert(t.scan_devices), rows)
            upsert_devices(conn, site, by_key, scan_id, inventory.kind, seen,
                           lists_content_hash)
            # The snapshot holds the device records; the audit entry references it by scan
            # id and digest (the chain covers the digest), and keeps every result.
            audit_id = audit.append(conn, actor=actor, action="inventory",
                                    lists_content_hash=lists_content_hash, scan_id=scan_id,
                                    inputs={"source": source, "kind": inventory.kind,
                                            "site": site, "document_id": document_id,
                                            "targets": list(inventory.targets),
                                            "devices": len(keys),
                                            ("document_sha256" if document_hash else
                                             "records_sha256"): digest},
                                    result={"results": result_rows(
                                        [by_key[k][1] for k in keys])})
            insert_findings(conn, audit_id, [by_key[k][1] for k in keys], scan_id, site=site)
            before = {} if previous is None or not self.outbox.enabled else \
                self._snapshot(conn, previous)
            queued = queue_scan_events(self.outbox, conn, scan_id=scan_id, audit_id=audit_id,
                                       previous=previous, before=before, by_key=by_key,
                                       actor=actor, lists_hash=lists_content_hash, site=site)
            return SavedScan(scan_id, audit_id,
                             snapshot={row["device_key"]: row for row in rows}), queued

        try:
            saved, queued = write(self.engine, work)
        except IntegrityError:
            # the same document committed by another request a moment ago
            if document_id is None:
                raise
            with self.engine.connect() as conn:
                found = self._stored(conn, document_id, document_hash)
            if found is None:
                raise
            return found
        self.outbox.committed(queued)
        return saved

    def _stored(self, conn: Connection, document_id: str, document_hash: str | None
                ) -> SavedScan | None:
        row = conn.execute(select(t.scans.c.id, t.scans.c.document_hash).where(
            t.scans.c.document_id == document_id)).first()
        if row is None:
            return None
        if document_hash is not None and row.document_hash not in (None, document_hash):
            raise DocumentConflict(f"document id {document_id!r} was already stored (scan "
                                   f"{row.id}) with different content; a new scan needs a "
                                   f"new document id")
        audit_id = conn.execute(select(func.min(t.audit_log.c.id)).where(and_(
            t.audit_log.c.scan_id == row.id, t.audit_log.c.action == "inventory"))).scalar()
        return SavedScan(int(row.id), int(audit_id or 0), duplicate=True)

    def by_document(self, document_id: str, document_hash: str | None = None
                    ) -> SavedScan | None:
        """The scan stored under this document id, if any (DocumentConflict when its content
        differs)."""
        with self.engine.connect() as conn:
            return self._stored(conn, document_id, document_hash)

    def scans(self, limit: int = 50, offset: int = 0, kind: str | None = None,
              site: str | None = None) -> list[dict[str, Any]]:
        """Saved scans, newest first."""
        q = select(t.scans).order_by(t.scans.c.id.desc()).limit(limit).offset(offset)
        if kind:
            q = q.where(t.scans.c.kind == kind)
        if site:
            q = q.where(t.scans.c.site == site)
        with self.engine.connect() as conn:
            return [dated(r) for r in conn.execute(q).mappings().all()]

    def scan(self, scan_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.scans).where(t.scans.c.id == scan_id)).mappings().first()
        return None if row is None else dated(row)

    def previous_scan_id(self, scan_id: int) -> int | None:
        """The scan of the same site and kind saved just before `scan_id`."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.scans.c.kind, t.scans.c.site).where(
                t.scans.c.id == scan_id)).first()
            if row is None:
                return None
            return conn.execute(select(func.max(t.scans.c.id)).where(and_(
                t.scans.c.kind == row.kind, t.scans.c.site == row.site,
                t.scans.c.id < scan_id))).scalar()

    @staticmethod
    def _snapshot(conn: Connection, scan_id: int) -> dict[str, dict[str, Any]]:
        rows = conn.execute(select(t.scan_devices).where(
            t.scan_devices.c.scan_id == scan_id)).mappings().all()
        return {r["device_key"]: dict(r) for r in rows}

    def snapshot(self, scan_id: int) -> dict[str, dict[str, Any]]:
        """The devices a scan saw, by device key."""
        with self.engine.connect() as conn:
            return self._snapshot(conn, scan_id)

    def diff(self, scan_a: int | None, scan_b: int,
             snapshot_b: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """Devices new, gone, changed and newly flagged from scan_a to scan_b (scan_a None:
        the previous scan of the same site and kind, or an empty inventory); `snapshot_b`:
        scan_b's snapshot when the caller has just written it (`SavedScan.snapshot`)."""
        after = self.scan(scan_b)
        if after is None:
            raise StoreError(f"no saved scan with id {scan_b}")
        earlier = None
        if scan_a is None:
            scan_a = self.previous_scan_id(scan_b)
            earlier = self.scan(scan_a) if scan_a is not None else None
        else:
            earlier = self.scan(scan_a)
            if earlier is None:
                raise StoreError(f"no saved scan with id {scan_a}")
        for scan in (earlier, after):
            if scan is not None and scan.get("pruned_at") is not None:
                raise StoreError(f"scan {scan['id']}'s device snapshot was removed by "
                                 f"retention (`store prune`) on "
                                 f"{scan['pruned_at'].isoformat(timespec='seconds')}; it "
                                 f"cannot be diffed")
        before = self.snapshot(scan_a) if scan_a is not None else {}
        after_rows = self.snapshot(scan_b) if snapshot_b is None else snapshot_b
        diff = diff_snapshots(before, after_rows, scan_a=scan_a, scan_b=scan_b)
        diff["site"] = after["site"]
        return diff

    def devices(self, verdict: str | None = None, limit: int = 100, offset: int = 0, *,
                site: str | None = None, maker: str | None = None, query: str | None = None
                ) -> list[dict[str, Any]]:
        """The device registry by site and key: first and last seen, the current finding;
        `query` matches the key, brand or model (case-insensitive substring)."""
        d = t.devices.c
        q = select(t.devices).order_by(d.site, d.key).limit(limit).offset(offset)
        if verdict:
            q = q.where(d.verdict == verdict)
        if site:
            q = q.where(d.site == site)
        if maker:
            q = q.where(d.maker == maker)
        if query:
            like = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            q = q.where(func.lower(d.key).like(like, escape="\\")
                        | func.lower(func.coalesce(d.brand, "")).like(like, escape="\\")
                        | func.lower(func.coalesce(d.model, "")).like(like, escape="\\"))
        with self.engine.connect() as conn:
            return [dated(r) for r in conn.execute(q).mappings().all()]

    def device(self, site: str, key: str) -> dict[str, Any] | None:
        """One device of a site, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.devices).where(and_(
                t.devices.c.site == site, t.devices.c.key == key))).mappings().first()
        return None if row is None else dated(row)

    def history(self, site: str, key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The scans of `site` that saw the device, newest first, with its verdict in each."""
        sd, s = t.scan_devices.c, t.scans.c
        q = (select(s.id.label("scan_id"), s.received_at, s.kind, sd.verdict, sd.maker,
                    sd.score, sd.record)
             .join(t.scans, s.id == sd.scan_id)
             .where(and_(s.site == site, sd.device_key == key))
             .order_by(s.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dated(r) for r in conn.execute(q).mappings().all()]

    def update_findings(self, changes: Sequence[tuple[str, str, Finding]], *, actor: str,
                        lists_content_hash: str, report: Any,
                        outcomes: Sequence[Outcome]) -> int:
        """Rescreen result: new current findings for (site, key) devices plus one audit
        entry."""
        changed_keys = {(site, key) for site, key, _ in changes}

        def work(conn: Connection) -> tuple[int, int]:
            d = t.devices.c
            for site, key, finding in changes:
                conn.execute(update(t.devices).where(and_(d.site == site, d.key == key)).values(
                    verdict=finding.verdict.value, maker=finding.maker, score=finding.score,
                    finding=finding.model_dump(mode="json", exclude_defaults=True),
                    screened_at=now(), lists_content_hash=lists_content_hash))
            audit_id = audit.append(conn, actor=actor, action="rescreen",
                                    lists_content_hash=lists_content_hash,
                                    inputs={"devices": len(outcomes)}, result=report)
            changed = [o for o in outcomes
                       if (o.subject.get("site"), o.finding.subject) in changed_keys]
            insert_findings(conn, audit_id, changed)
            return audit_id, queue_rescreen_events(self.outbox, conn, audit_id, report,
                                                   changed, actor, lists_content_hash)

        audit_id, queued = write(self.engine, work)
        self.outbox.committed(queued)
        return audit_id
