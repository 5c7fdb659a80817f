"""Findings: the `review` and `flagged` results of screenings and scans, each recorded with
the audit entry of the screening that produced it (clear answers live in the audit entry)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from entityscan.decisions import Outcome
from entityscan.model import LineItem, Verdict
from entityscan.store import audit
from entityscan.store import schema as t
from entityscan.store.clock import aware, now
from entityscan.store.engine import write
from entityscan.store.outbox import OutboxStore, finding_events


def insert_findings(conn: Connection, audit_id: int, outcomes: Sequence[Outcome],
                    scan_id: int | None = None, *, site: str | None = None) -> None:
    """A findings row per outcome at `review` or above, on `conn` (the caller's transaction)."""
    # Only `review` and `flagged` are findings; clear answers live in the audit entry.
    outcomes = [o for o in outcomes if o.finding.verdict is not Verdict.CLEAR]
    if not outcomes:
        return
    at = now()
    conn.execute(insert(t.findings), [
        {"at": at, "audit_id": audit_id, "scan_id": scan_id, "subject": o.finding.subject,
         "subject_kind": o.finding.subject_kind, "verdict": o.finding.verdict.value,
         "maker": o.finding.maker, "score": o.finding.score,
         "finding": o.finding.model_dump(mode="json"), "subject_record": dict(o.subject),
         "site": site if site is not None else o.subject.get("site")}
        for o in outcomes])


def result_rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """The `results` an audit entry records, one per outcome (clear ones too).  Compact: a
    field that is empty (no maker, no entries, no applied decision, score 0) is left out, so
    a clear line costs its id, verdict and decision; the findings at `review` or above are
    in the findings table, referenced by the entry's id."""
    rows = []
    for o in outcomes:
        row: dict[str, Any] = {"subject": o.finding.subject, "verdict": o.finding.verdict.value,
                               "decision": o.decision}
        optional = {"applied_decision": o.applied, "maker": o.finding.maker,
                    "score": o.finding.score or None,
                    "entries": sorted({m.entry_id for m in o.finding.matches}) or None}
        row.update({k: v for k, v in optional.items() if v is not None})
        rows.append(row)
    return rows


def item_inputs(items: Sequence[LineItem]) -> list[dict[str, Any]]:
    """Line items as an audit entry keeps them: every field given, nothing empty."""
    out = []
    for item in items:
        record = item.model_dump(mode="json", exclude_none=True)
        if not record.get("extra"):
            record.pop("extra", None)
        out.append(record)
    return out


class FindingStore:
    """Screenings of line items and the findings recorded so far (`store.findings`)."""

    def __init__(self, engine: Engine, outbox: OutboxStore) -> None:
        self.engine = engine
        self.outbox = outbox

    def record_screening(self, items: Sequence[LineItem], outcomes: Sequence[Outcome], *,
                         actor: str, lists_content_hash: str, source: str = "service") -> int:
        """One audit entry (inputs, list hash, results, who) plus a findings row per item at
        `review` or above, and (outbox on) the webhook event reporting them."""
        inputs = {"source": source, "items": item_inputs(items)}

        def work(conn: Connection) -> tuple[int, int]:
            audit_id = audit.append(conn, actor=actor, action="screen",
                                    lists_content_hash=lists_content_hash, inputs=inputs,
                                    result={"results": result_rows(outcomes)})
            insert_findings(conn, audit_id, outcomes)
            events = finding_events(outcomes, audit_id)
            queued = self.outbox.add(conn, "findings", {
                "event": "findings",
                "context": {"source": source, "actor": actor, "audit_id": audit_id,
                            "lists_content_hash": lists_content_hash},
                "findings": events}, audit_id) if events else 0
            return audit_id, queued

        audit_id, queued = write(self.engine, work)
        self.outbox.committed(queued)
        return audit_id

    def list(self, *, min_verdict: str = "review", subject: str | None = None,
             scan_id: int | None = None, limit: int = 100, offset: int = 0,
             site: str | None = None) -> list[dict[str, Any]]:
        """Findings at `min_verdict` or above, newest first."""
        wanted = [v.value for v in Verdict if v.rank >= Verdict(min_verdict).rank]
        q = (select(t.findings).where(t.findings.c.verdict.in_(wanted))
             .order_by(t.findings.c.id.desc()).limit(limit).offset(offset))
        if subject:
            q = q.where(t.findings.c.subject == subject)
        if scan_id is not None:
            q = q.where(t.findings.c.scan_id == scan_id)
        if site:
            q = q.where(t.findings.c.site == site)
        with self.engine.connect() as conn:
            return [{**r, "at": aware(r["at"])} for r in conn.execute(q).mappings().all()]
