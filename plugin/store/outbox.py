"""The webhook outbox: notifications written in the same transaction as what they report.

A screening, a saved scan or a rescreen that has something to say (findings at `review` or
above, newly flagged devices) writes its webhook event here, inside the transaction that
records the findings: an event exists exactly when its findings do, and it survives a
restart.  A worker (`entityscan.delivery`) delivers it later; no request waits for a
receiver.

Rows go `pending` -> `delivered`, or back to `pending` with a later `next_attempt_at` after a
failed attempt, or `dead` once attempts run out or the receiver refused the event (a 4xx other
than 408/425/429).  A worker claims due rows with a lease (`claimed_by`, `claimed_until`); on
PostgreSQL the claim is `SELECT … FOR UPDATE SKIP LOCKED`, so several service processes
sharing one database never claim the same event; on SQLite the write transaction is
`BEGIN IMMEDIATE`, which serialises claims.  A worker that dies mid-delivery loses its lease
and the event is claimed again (delivery is at least once; `X-Entityscan-Delivery` carries
the event id so a receiver can drop a repeat).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, update

from entityscan.decisions import Outcome
from entityscan.hooktypes import FindingEvent
from entityscan.model import Verdict
from entityscan.store import schema as t
from entityscan.store.clock import aware, now
from entityscan.store.engine import write

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
ERROR_MAX = 500


def finding_events(outcomes: Sequence[Outcome], audit_id: int) -> list[dict[str, Any]]:
    """The `findings` of a webhook event: every outcome at `review` or above."""
    return [FindingEvent(finding=o.finding, decision=o.decision, subject=dict(o.subject),
                         audit_id=audit_id).model_dump(mode="json")
            for o in outcomes if o.finding.verdict is not Verdict.CLEAR]


@dataclass(frozen=True)
class Claimed:
    """An event a worker holds the lease on."""

    id: int
    event: str
    payload: dict[str, Any]
    attempts: int


class OutboxStore:
    """The outbox (`store.outbox`).  `enabled` says whether writers record webhook events
    (a store whose process has no webhook configured records none)."""

    def __init__(self, engine: Engine, enabled: bool = False) -> None:
        self.engine = engine
        self.enabled = enabled
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.enqueued = 0  # events this process wrote (a CLI run delivers them before exit)

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call `listener` after a transaction that wrote events has committed."""
        with self._lock:
            self._listeners.append(listener)

    @property
    def watched(self) -> bool:
        """A worker of this process delivers the events (the service)."""
        with self._lock:
            return bool(self._listeners)

    def committed(self, count: int) -> None:
        """Writers call this after their transaction committed `count` events."""
        if not count:
            return
        with self._lock:
            self.enqueued += count
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def add(self, conn: Connection, event: str, payload: Mapping[str, Any],
            audit_id: int | None) -> int:
        """Write one event on `conn` (the caller's transaction); returns 1 (or 0 when the
        outbox is off), to add up for `committed`."""
        if not self.enabled:
            return 0
        at = now()
        conn.execute(insert(t.outbox).values(
            created_at=at, event=event, audit_id=audit_id, payload=dict(payload),
            status=PENDING, attempts=0, next_attempt_at=at))
        return 1

    def claim(self, worker: str, limit: int, lease: timedelta) -> list[Claimed]:
        """Take the lease on up to `limit` due events, oldest first."""
        o = t.outbox.c

        def work(conn: Connection) -> list[Claimed]:
            moment = now()
            due = (select(o.id).where(and_(
                o.status == PENDING, o.next_attempt_at <= moment,
                or_(o.claimed_until.is_(None), o.claimed_until < moment)))
                .order_by(o.id).limit(limit).with_for_update(skip_locked=True))
            rows = conn.execute(update(t.outbox).where(o.id.in_(due.scalar_subquery()))
                                .values(claimed_by=worker, claimed_until=moment + lease)
                                .returning(o.id, o.event, o.payload, o.attempts)).all()
            return sorted((Claimed(int(r.id), r.event, dict(r.payload), int(r.attempts))
                           for r in rows), key=lambda c: c.id)

        return write(self.engine, work)

    def settle(self, event_id: int, worker: str, *, delivered: bool,
               retry_at: datetime | None = None, error: str | None = None) -> None:
        """Record an attempt: delivered; failed with a retry at `retry_at`; or dead."""
        o = t.outbox.c
        at = now()
        if delivered:
            values: dict[str, Any] = {"status": DELIVERED, "finished_at": at}
        elif retry_at is not None:
            values = {"status": PENDING, "next_attempt_at": retry_at}
        else:
            values = {"status": DEAD, "finished_at": at}
        values.update(attempts=o.attempts + 1, claimed_by=None, claimed_until=None,
                      last_error=(error or "")[:ERROR_MAX] or None)

        def work(conn: Connection) -> None:
            conn.execute(update(t.outbox).where(and_(o.id == event_id, o.claimed_by == worker))
                         .values(**values))

        write(self.engine, work)

    def counts(self) -> dict[str, int]:
        """Events by status."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.outbox.c.status, func.count())
                                .group_by(t.outbox.c.status)).all()
        found = {str(status): int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in (PENDING, DELIVERED, DEAD)}

    def events(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Events newest first (without their payloads)."""
        o = t.outbox.c
        q = (select(o.id, o.created_at, o.event, o.audit_id, o.status, o.attempts,
                    o.next_attempt_at, o.last_error, o.finished_at)
             .order_by(o.id.desc()).limit(limit))
        if status:
            q = q.where(o.status == status)
        with self.engine.connect() as conn:
            return [{k: aware(v) if isinstance(v, datetime) else v for k, v in r.items()}
                    for r in conn.execute(q).mappings().all()]

    def retry_dead(self) -> int:
        """Give every dead event a fresh start; returns how many."""
        o = t.outbox.c

        def work(conn: Connection) -> int:
            return int(conn.execute(update(t.outbox).where(o.status == DEAD).values(
                status=PENDING, attempts=0, next_attempt_at=now(), finished_at=None,
                claimed_by=None, claimed_until=None)).rowcount)

        count = write(self.engine, work)
        self.committed(count)
        return count

    def prune(self, older_than: timedelta) -> int:
        """Forget delivered events finished before `older_than` ago (the audit log keeps what
        they reported)."""
        o = t.outbox.c

        def work(conn: Connection) -> int:
            return int(conn.execute(delete(t.outbox).where(and_(
                o.status == DELIVERED, o.finished_at < now() - older_than))).rowcount)

        return write(self.engine, work)
