"""Background jobs taken in turn through the database (`store.leases`).

The service may run as many worker processes, on as many hosts, as it likes; some work must
still happen once, not once per worker: publishing a downloaded list copy and rescreening
after it, pruning the delivered webhook events, retention.  A job is a row of
`entityscan_jobs`; a worker runs it only after taking its lease, with one conditional UPDATE
(the job is due and nobody holds an unexpired lease), which the database applies to one
worker only, on SQLite and PostgreSQL alike.  A worker that dies holding a lease loses it
when the lease runs out, and another takes the job.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from entityscan.store import schema as t
from entityscan.store.clock import dated, now
from entityscan.store.engine import write

RESULT_MAX = 500


class LeaseStore:
    """Job leases (`store.leases`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(self, name: str, holder: str, lease: timedelta) -> bool:
        """Take the lease on job `name` when it is due and free; True when this caller now
        holds it (and must call `done` or `failed`)."""
        j = t.jobs.c

        def work(conn: Connection) -> bool:
            moment = now()
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(insert(t.jobs).values(name=name, next_due=moment)
                         .on_conflict_do_nothing(index_elements=[j.name]))
            taken = conn.execute(update(t.jobs).where(and_(
                j.name == name, j.next_due <= moment,
                or_(j.lease_until.is_(None), j.lease_until < moment)))
                .values(holder=holder, lease_until=moment + lease))
            return bool(taken.rowcount)

        return write(self.engine, work)

    def done(self, name: str, holder: str, next_in: timedelta, result: str = "ok") -> None:
        """Finish the job: free the lease, next due after `next_in`."""
        self._finish(name, holder, next_in, result)

    def failed(self, name: str, holder: str, retry_in: timedelta, error: str) -> None:
        """The job failed: free the lease, try again after `retry_in`."""
        self._finish(name, holder, retry_in, f"failed: {error}")

    def _finish(self, name: str, holder: str, after: timedelta, result: str) -> None:
        j = t.jobs.c

        def work(conn: Connection) -> None:
            moment = now()
            conn.execute(update(t.jobs).where(and_(j.name == name, j.holder == holder))
                         .values(holder=None, lease_until=None, next_due=moment + after,
                                 last_done=moment, last_result=result[:RESULT_MAX]))

        write(self.engine, work)

    def due_now(self, name: str) -> None:
        """Make job `name` due at once (e.g. a rescreen after new lists were published)."""
        j = t.jobs.c

        def work(conn: Connection) -> None:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(insert(t.jobs).values(name=name, next_due=now())
                         .on_conflict_do_update(index_elements=[j.name],
                                                set_={"next_due": now()}))

        write(self.engine, work)

    def jobs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dated(r) for r in conn.execute(select(t.jobs).order_by(t.jobs.c.name))
                    .mappings().all()]
