"""The ingest queue (`store.queue`): scan documents accepted from site agents, screened and
saved later by whichever worker is free.

An agent's push is acknowledged once its document is a row here (committed, so it survives
any worker's death); a burst of a thousand sites scanning at 02:00 then costs each of them
one insert, not a wait behind the others' screenings.  Workers claim rows oldest first (a site's
in the order they came, one at a time, so each is diffed against the scan before it) with
a lease (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write transaction
serialises claims), screen and save the scan exactly as `POST /v1/inventory` does without
the queue, and delete the row.  A worker that dies mid-way loses its lease and another takes
the row; saving is idempotent by document id, so the scan is stored once.  A document that
cannot be read (e.g. its evidence fails to parse) is kept as `failed` with the reason.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from entityscan.store import schema as t
from entityscan.store.clock import now
from entityscan.store.engine import write
from entityscan.store.inventory import DocumentConflict

PENDING, FAILED = "pending", "failed"
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Queued:
    id: int
    document_id: str
    document_hash: str
    site: str
    actor: str
    attempts: int
    document: dict[str, Any]


class QueueStore:
    """The ingest queue (`store.queue`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, document: dict[str, Any] | bytes, *, document_id: str, document_hash: str,
            site: str, actor: str) -> bool:
        """Queue a document (or its JSON text); False when this id is queued already with
        the same content (DocumentConflict when with other content)."""
        text = document if isinstance(document, bytes) else json.dumps(
            document, separators=(",", ":")).encode()
        body = gzip.compress(text, 1)

        def work(conn: Connection) -> None:
            conn.execute(insert(t.ingest_queue).values(
                document_id=document_id, document_hash=document_hash, site=site, actor=actor,
                received_at=now(), body=body, status=PENDING, attempts=0))

        try:
            write(self.engine, work)
        except IntegrityError:
            with self.engine.connect() as conn:
                stored = conn.execute(select(t.ingest_queue.c.document_hash).where(
                    t.ingest_queue.c.document_id == document_id)).scalar()
            if stored is None:
                raise
            if stored != document_hash:
                raise DocumentConflict(f"document id {document_id!r} is already queued with "
                                       f"different content; a new scan needs a new document "
                                       f"id") from None
            return False
        return True

    def claim(self, worker: str, lease: timedelta) -> Queued | None:
        """The oldest pending document nobody holds, leased to `worker`."""
        q = t.ingest_queue.c

        earlier = t.ingest_queue.alias("earlier")

        def work(conn: Connection) -> Any:
            moment = now()
            # a site's documents in the order they came (its diffs are against the scan
            # before), one at a time; other sites' in parallel
            first_of_site = ~exists().where(and_(earlier.c.site == q.site,
                                                 earlier.c.id < q.id,
                                                 earlier.c.status == PENDING))
            due = (select(q.id).where(and_(
                q.status == PENDING, or_(q.claimed_until.is_(None), q.claimed_until < moment),
                first_of_site))
                .order_by(q.id).limit(1).with_for_update(skip_locked=True))
            return conn.execute(update(t.ingest_queue).where(q.id.in_(due.scalar_subquery()))
                                .values(claimed_by=worker, claimed_until=moment + lease,
                                        attempts=q.attempts + 1)
                                .returning(q.id, q.document_id, q.document_hash, q.site,
                                           q.actor, q.attempts, q.body)).first()

        row = write(self.engine, work)
        if row is None:
            return None
        return Queued(int(row.id), row.document_id, row.document_hash, row.site, row.actor,
                      int(row.attempts), json.loads(gzip.decompress(row.body)))

    def done(self, queued: Queued) -> None:
        write(self.engine, lambda conn: conn.execute(
            delete(t.ingest_queue).where(t.ingest_queue.c.id == queued.id)))

    def failed(self, queued: Queued, worker: str, error: str, *, final: bool) -> None:
        """A try failed: free the row for another try, or (`final`) keep it as failed."""
        q = t.ingest_queue.c
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None,
                                  "last_error": error[:500]}
        if final or queued.attempts >= MAX_ATTEMPTS:
            values["status"] = FAILED
        write(self.engine, lambda conn: conn.execute(
            update(t.ingest_queue).where(and_(q.id == queued.id, q.claimed_by == worker))
            .values(**values)))

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.ingest_queue.c.status, func.count())
                                .group_by(t.ingest_queue.c.status)).all()
        found = {str(s): int(n) for s, n in rows}
        return {PENDING: found.get(PENDING, 0), FAILED: found.get(FAILED, 0)}

