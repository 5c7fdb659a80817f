"""Recorded decisions (allow, review, block): adding and revoking one is itself audited,
because decisions change later answers.  What a decision means: `entityscan.decisions`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from entityscan.decisions import Decision, DecisionIn
from entityscan.store import audit
from entityscan.store import schema as t
from entityscan.store.clock import aware, now
from entityscan.store.engine import write


class DecisionStore:
    """Decisions (`store.decisions`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, decision: DecisionIn, recorded_by: str) -> Decision:
        created = now()
        values = {**decision.model_dump(), "until": aware(decision.until),
                  "decision": decision.decision.value, "kind": decision.kind.value,
                  "created_at": created, "recorded_by": recorded_by}

        def work(conn: Connection) -> int:
            decision_id = int(conn.execute(insert(t.decisions).values(**values)
                                           .returning(t.decisions.c.id)).scalar_one())
            # decisions change later answers, so recording one is itself audited
            audit.append(conn, actor=recorded_by, action="decision", lists_content_hash="",
                         inputs=decision.model_dump(mode="json"), result={"id": decision_id})
            return decision_id

        decision_id = write(self.engine, work)
        return Decision(**{**values, "id": decision_id})

    def revoke(self, decision_id: int, by: str) -> bool:
        """Revoke an active decision; False when there is none with that id."""

        def work(conn: Connection) -> bool:
            done = conn.execute(update(t.decisions).where(and_(
                t.decisions.c.id == decision_id, t.decisions.c.revoked_at.is_(None)))
                .values(revoked_at=now(), revoked_by=by))
            if done.rowcount:
                audit.append(conn, actor=by, action="revoke-decision", lists_content_hash="",
                             inputs={"id": decision_id}, result={"revoked": True})
            return bool(done.rowcount)

        return write(self.engine, work)

    def get(self, decision_id: int) -> Decision | None:
        """One decision by id (revoked or not), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.decisions).where(t.decisions.c.id == decision_id)
                               ).mappings().first()
        return None if row is None else _decision(row)

    def list(self, *, active_at: datetime | None = None) -> list[Decision]:
        """Every decision in the order recorded, or those in force at `active_at`."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.decisions).order_by(t.decisions.c.id)).mappings().all()
        out = [_decision(r) for r in rows]
        return out if active_at is None else [d for d in out if d.active(active_at)]


def _decision(row: Any) -> Decision:
    return Decision(**{**row, "created_at": aware(row["created_at"]),
                       "until": aware(row["until"]), "revoked_at": aware(row["revoked_at"])})
