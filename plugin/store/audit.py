"""The append-only audit log: the row writer each concern calls inside the transaction of
the change it records, and the readers.  No API changes or deletes a row; triggers refuse
UPDATE and DELETE (`schema`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from entityscan.store import schema as t
from entityscan.store.clock import aware, now


def append(conn: Connection, *, actor: str, action: str, lists_content_hash: str,
           inputs: Any, result: Any, scan_id: int | None = None) -> int:
    """Write one audit entry on `conn` (the caller's transaction); returns its id."""
    return int(conn.execute(insert(t.audit_log).values(
        at=now(), actor=actor, action=action, lists_content_hash=lists_content_hash,
        inputs=inputs, result=result, scan_id=scan_id).returning(t.audit_log.c.id)
    ).scalar_one())


class AuditStore:
    """Reading the audit log (`store.audit`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entries(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.audit_log).order_by(t.audit_log.c.id.desc())
                                .limit(limit).offset(offset)).mappings().all()
        return [{**row, "at": aware(row["at"])} for row in rows]

    def entry(self, audit_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.audit_log).where(t.audit_log.c.id == audit_id)
                               ).mappings().first()
        return None if row is None else {**row, "at": aware(row["at"])}
