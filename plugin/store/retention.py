"""Retention (`store.retention`): old scans' device snapshots go, the audit log stays.

A saved scan keeps a snapshot of every device it saw (`scan_devices`), so any two scans can be
diffed; that is most of a busy store.  `prune` drops the snapshots of a site's older scans,
keeping the newest `keep` scans of each site and kind (at least one: the next scan is diffed
against it) and, with `older_than`, any scan newer than that.  The scan row itself stays and
is marked (`pruned_at`), and so does everything that refers to it: its audit entry (whose
`records_sha256` still names what the snapshot held), its findings and the device registry.
A diff against a pruned scan says so instead of reporting every device as new.  Nothing here
writes to the audit log's rows or could: they are append-only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, update

from entityscan.errors import InputError
from entityscan.store import schema as t
from entityscan.store.clock import now
from entityscan.store.engine import write

BATCH = 500


class RetentionStore:
    """Snapshot retention (`store.retention`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def candidates(self, keep: int, older_than: timedelta | None = None) -> list[int]:
        """Ids of the scans whose snapshots `prune` would drop."""
        if keep < 1:
            raise InputError("--keep must be at least 1: the next scan of a site is diffed "
                             "against its latest")
        s = t.scans.c
        rank = func.row_number().over(partition_by=(s.site, s.kind), order_by=s.id.desc())
        ranked = select(s.id, s.received_at, rank.label("rank")).where(
            s.pruned_at.is_(None)).subquery()
        q = select(ranked.c.id).where(ranked.c.rank > keep)
        if older_than is not None:
            q = q.where(ranked.c.received_at < now() - older_than)
        with self.engine.connect() as conn:
            return sorted(int(r) for r in conn.execute(q).scalars().all())

    def prune(self, keep: int, older_than: timedelta | None = None) -> dict[str, Any]:
        """Drop the snapshots of the scans `candidates` names; returns how many scans and
        snapshot rows, in batches of short transactions (never a long lock)."""
        ids = self.candidates(keep, older_than)
        rows = 0
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]

            def work(conn: Connection, batch: list[int] = batch) -> int:
                gone = conn.execute(delete(t.scan_devices).where(
                    t.scan_devices.c.scan_id.in_(batch))).rowcount
                conn.execute(update(t.scans).where(and_(t.scans.c.id.in_(batch),
                                                        t.scans.c.pruned_at.is_(None)))
                             .values(pruned_at=now()))
                return int(gone)

            rows += write(self.engine, work)
        return {"scans": len(ids), "snapshot_rows": rows}
