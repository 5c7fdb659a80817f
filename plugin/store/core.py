"""The store: scans, devices, findings, decisions, API tokens and the append-only audit log.

Every write is one transaction run through `engine.write`, which retries the whole
transaction on SQLite lock or PostgreSQL serialization/deadlock conflicts, so concurrent
writers (two scans saving at once, the service under load) lose nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from entityscan.decisions import Decision, DecisionIn
from entityscan.model import Finding, LineItem, Verdict
from entityscan.scanners.inventory import Inventory
from entityscan.store import schema as t
from entityscan.store.diff import diff_snapshots
from entityscan.store.engine import StoreError, default_url, make_engine, redact, write

TOKEN_PREFIX = "es_"  # noqa: S105 - a marker, not a secret


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a fast hash is enough (no dictionary to guess).
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """A finding with its procurement decision, ready to record."""

    finding: Finding
    decision: str
    applied: Mapping[str, Any] | None
    subject: Mapping[str, Any]


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class Store:
    """Open (and create when missing) the database at `url`; default: SQLite in the data dir."""

    def __init__(self, url: str | None = None, *, data_dir: Path | None = None) -> None:
        self.url = url or default_url(data_dir)
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        try:
            write(self.engine, self._create)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store {redact(self.url)}: "
                             f"{getattr(exc, 'orig', None) or exc}") from exc

    def __repr__(self) -> str:
        return f"Store({redact(self.url)})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self, conn: Connection) -> None:
        if self.dialect == "postgresql":
            # Two processes creating the schema at once must not collide.
            conn.execute(text("SELECT pg_advisory_xact_lock(874201)"))
        t.metadata.create_all(conn, checkfirst=True)
        triggers = t.POSTGRES_TRIGGERS if self.dialect == "postgresql" else t.SQLITE_TRIGGERS
        for statement in triggers:
            conn.exec_driver_sql(statement)
        if conn.execute(select(t.meta.c.value).where(t.meta.c.key == "schema_version")
                        ).scalar() is None:
            conn.execute(insert(t.meta).values(key="schema_version",
                                               value=str(t.SCHEMA_VERSION)))

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert(table) if self.dialect == "postgresql"
                else sqlite.insert(table))

    # ----- audit -----
    @staticmethod
    def _audit(conn: Connection, *, actor: str, action: str, lists_content_hash: str,
               inputs: Any, result: Any, scan_id: int | None = None) -> int:
        return int(conn.execute(insert(t.audit_log).values(
            at=now(), actor=actor, action=action, lists_content_hash=lists_content_hash,
            inputs=inputs, result=result, scan_id=scan_id).returning(t.audit_log.c.id)
        ).scalar_one())

    @staticmethod
    def _findings(conn: Connection, audit_id: int, outcomes: Sequence[Outcome],
                  scan_id: int | None = None) -> None:
        # Only `review` and `flagged` are findings; clear answers live in the audit entry.
        outcomes = [o for o in outcomes if o.finding.verdict is not Verdict.CLEAR]
        if not outcomes:
            return
        at = now()
        conn.execute(insert(t.findings), [
            {"at": at, "audit_id": audit_id, "scan_id": scan_id, "subject": o.finding.subject,
             "subject_kind": o.finding.subject_kind, "verdict": o.finding.verdict.value,
             "maker": o.finding.maker, "score": o.finding.score,
             "finding": o.finding.model_dump(mode="json"), "subject_record": dict(o.subject)}
            for o in outcomes])

    @staticmethod
    def _result_rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
        return [{"subject": o.finding.subject, "verdict": o.finding.verdict.value,
                 "decision": o.decision, "applied_decision": o.applied,
                 "maker": o.finding.maker, "score": o.finding.score,
                 "entries": sorted({m.entry_id for m in o.finding.matches})}
                for o in outcomes]

    def record_screening(self, items: Sequence[LineItem], outcomes: Sequence[Outcome], *,
                         actor: str, lists_content_hash: str, source: str = "service") -> int:
        """One audit entry (inputs, list hash, results, who) plus a findings row per item at
        `review` or above."""
        inputs = {"source": source, "items": [i.model_dump(mode="json") for i in items]}

        def work(conn: Connection) -> int:
            audit_id = self._audit(conn, actor=actor, action="screen",
                                   lists_content_hash=lists_content_hash, inputs=inputs,
                                   result={"results": self._result_rows(outcomes)})
            self._findings(conn, audit_id, outcomes)
            return audit_id

        return write(self.engine, work)

    def audit_entries(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.audit_log).order_by(t.audit_log.c.id.desc())
                                .limit(limit).offset(offset)).mappings().all()
        return [{**row, "at": aware(row["at"])} for row in rows]

    def audit_entry(self, audit_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.audit_log).where(t.audit_log.c.id == audit_id)
                               ).mappings().first()
        return None if row is None else {**row, "at": aware(row["at"])}

    # ----- scans and devices -----
    def record_scan(self, inventory: Inventory, outcomes: Sequence[Outcome], *, actor: str,
                    lists_content_hash: str, source: str | None = None,
                    summary: Mapping[str, Any] | None = None) -> tuple[int, int]:
        """Save a screened scan: the scan, its device snapshot, the device registry (first and
        last seen), the findings and an audit entry.  Returns (scan id, audit id)."""
        received = now()
        seen = _utc(inventory.finished or inventory.started or received)
        by_key: dict[str, tuple[dict[str, Any], Outcome]] = {}
        for device, outcome in zip(inventory.devices, outcomes, strict=True):
            key = device.key()
            record = device.model_dump(mode="json")
            previous = by_key.get(key)
            # the same device listed twice (two addresses): keep the stronger verdict
            if previous is None or outcome.finding.verdict.rank > previous[1].finding.verdict.rank:
                by_key[key] = (record, outcome)
        keys = sorted(by_key)  # a fixed order avoids deadlocks between concurrent upserts

        def work(conn: Connection) -> tuple[int, int]:
            scan_id = int(conn.execute(insert(t.scans).values(
                kind=inventory.kind, received_at=received, started=_utc(inventory.started),
                finished=_utc(inventory.finished) if inventory.finished else None,
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
                    self._upsert_device(conn, key, by_key[key][0], by_key[key][1], scan_id,
                                        inventory.kind, seen, lists_content_hash)
            audit_id = self._audit(conn, actor=actor, action="inventory",
                                   lists_content_hash=lists_content_hash, scan_id=scan_id,
                                   inputs={"source": source, "kind": inventory.kind,
                                           "targets": list(inventory.targets),
                                           "devices": [by_key[k][0] for k in keys]},
                                   result={"results": self._result_rows(
                                       [by_key[k][1] for k in keys])})
            self._findings(conn, audit_id, [by_key[k][1] for k in keys], scan_id)
            return scan_id, audit_id

        return write(self.engine, work)

    def _upsert_device(self, conn: Connection, key: str, record: dict[str, Any],
                       outcome: Outcome, scan_id: int, kind: str, seen: datetime,
                       lists_hash: str) -> None:
        f = outcome.finding
        values = {"key": key, "first_seen": seen, "last_seen": seen, "first_scan_id": scan_id,
                  "last_scan_id": scan_id, "kind": kind, "verdict": f.verdict.value,
                  "maker": f.maker, "brand": record.get("brand"), "model": record.get("model"),
                  "score": f.score, "record": record, "finding": f.model_dump(mode="json"),
                  "screened_at": now(), "lists_content_hash": lists_hash}
        stmt = self._insert(t.devices).values(**values)
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

    def list_scans(self, limit: int = 50, offset: int = 0, kind: str | None = None
                   ) -> list[dict[str, Any]]:
        q = select(t.scans).order_by(t.scans.c.id.desc()).limit(limit).offset(offset)
        if kind:
            q = q.where(t.scans.c.kind == kind)
        with self.engine.connect() as conn:
            return [_dates(r) for r in conn.execute(q).mappings().all()]

    def get_scan(self, scan_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.scans).where(t.scans.c.id == scan_id)).mappings().first()
        return None if row is None else _dates(row)

    def previous_scan_id(self, scan_id: int) -> int | None:
        """The scan of the same kind saved just before `scan_id`."""
        with self.engine.connect() as conn:
            kind = conn.execute(select(t.scans.c.kind).where(t.scans.c.id == scan_id)).scalar()
            if kind is None:
                return None
            return conn.execute(select(func.max(t.scans.c.id)).where(
                and_(t.scans.c.kind == kind, t.scans.c.id < scan_id))).scalar()

    def snapshot(self, scan_id: int) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.scan_devices).where(
                t.scan_devices.c.scan_id == scan_id)).mappings().all()
        return {r["device_key"]: dict(r) for r in rows}

    def diff(self, scan_a: int | None, scan_b: int) -> dict[str, Any]:
        """Devices new, gone, changed and newly flagged from scan_a to scan_b (scan_a None:
        the previous scan of the same kind, or an empty inventory)."""
        if self.get_scan(scan_b) is None:
            raise StoreError(f"no saved scan with id {scan_b}")
        if scan_a is None:
            scan_a = self.previous_scan_id(scan_b)
        elif self.get_scan(scan_a) is None:
            raise StoreError(f"no saved scan with id {scan_a}")
        before = self.snapshot(scan_a) if scan_a is not None else {}
        return diff_snapshots(before, self.snapshot(scan_b), scan_a=scan_a, scan_b=scan_b)

    def list_devices(self, verdict: str | None = None, limit: int = 100, offset: int = 0
                     ) -> list[dict[str, Any]]:
        q = select(t.devices).order_by(t.devices.c.key).limit(limit).offset(offset)
        if verdict:
            q = q.where(t.devices.c.verdict == verdict)
        with self.engine.connect() as conn:
            return [_dates(r) for r in conn.execute(q).mappings().all()]

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(
                t.metadata.tables[table])).scalar_one())

    def update_device_findings(self, changes: Sequence[tuple[str, Finding]], *, actor: str,
                               lists_content_hash: str, report: Any,
                               outcomes: Sequence[Outcome]) -> int:
        """Rescreen result: new current findings for devices plus one audit entry."""

        def work(conn: Connection) -> int:
            for key, finding in changes:
                conn.execute(update(t.devices).where(t.devices.c.key == key).values(
                    verdict=finding.verdict.value, maker=finding.maker, score=finding.score,
                    finding=finding.model_dump(mode="json"), screened_at=now(),
                    lists_content_hash=lists_content_hash))
            audit_id = self._audit(conn, actor=actor, action="rescreen",
                                   lists_content_hash=lists_content_hash,
                                   inputs={"devices": len(outcomes)}, result=report)
            self._findings(conn, audit_id, [o for o in outcomes
                                            if o.finding.subject in {k for k, _ in changes}])
            return audit_id

        return write(self.engine, work)

    # ----- findings -----
    def list_findings(self, *, min_verdict: str = "review", subject: str | None = None,
                      scan_id: int | None = None, limit: int = 100, offset: int = 0
                      ) -> list[dict[str, Any]]:
        wanted = [v.value for v in Verdict if v.rank >= Verdict(min_verdict).rank]
        q = (select(t.findings).where(t.findings.c.verdict.in_(wanted))
             .order_by(t.findings.c.id.desc()).limit(limit).offset(offset))
        if subject:
            q = q.where(t.findings.c.subject == subject)
        if scan_id is not None:
            q = q.where(t.findings.c.scan_id == scan_id)
        with self.engine.connect() as conn:
            return [{**r, "at": aware(r["at"])} for r in conn.execute(q).mappings().all()]

    # ----- decisions -----
    def add_decision(self, decision: DecisionIn, recorded_by: str) -> Decision:
        created = now()
        values = {**decision.model_dump(), "until": _utc(decision.until),
                  "decision": decision.decision.value, "kind": decision.kind.value,
                  "created_at": created, "recorded_by": recorded_by}

        def work(conn: Connection) -> int:
            decision_id = int(conn.execute(insert(t.decisions).values(**values)
                                           .returning(t.decisions.c.id)).scalar_one())
            # decisions change later answers, so recording one is itself audited
            self._audit(conn, actor=recorded_by, action="decision", lists_content_hash="",
                        inputs=decision.model_dump(mode="json"), result={"id": decision_id})
            return decision_id

        decision_id = write(self.engine, work)
        return Decision(**{**values, "id": decision_id})

    def decisions(self, *, active_at: datetime | None = None) -> list[Decision]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.decisions).order_by(t.decisions.c.id)).mappings().all()
        out = [Decision(**{**r, "created_at": aware(r["created_at"]),
                           "until": aware(r["until"]), "revoked_at": aware(r["revoked_at"])})
               for r in rows]
        return out if active_at is None else [d for d in out if d.active(active_at)]

    def revoke_decision(self, decision_id: int, by: str) -> bool:
        def work(conn: Connection) -> bool:
            done = conn.execute(update(t.decisions).where(and_(
                t.decisions.c.id == decision_id, t.decisions.c.revoked_at.is_(None)))
                .values(revoked_at=now(), revoked_by=by))
            if done.rowcount:
                self._audit(conn, actor=by, action="revoke-decision", lists_content_hash="",
                            inputs={"id": decision_id}, result={"revoked": True})
            return bool(done.rowcount)

        return write(self.engine, work)

    # ----- API tokens -----
    def add_token(self, name: str) -> tuple[TokenInfo, str]:
        """A new bearer token; the secret is returned once and only its hash is stored."""
        if not name.strip() or len(name) > 100:
            raise StoreError("a token needs a name of 1 to 100 characters")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        created = now()

        def work(conn: Connection) -> int:
            return int(conn.execute(insert(t.tokens).values(
                name=name.strip(), token_hash=hash_token(secret), prefix=secret[:8],
                created_at=created).returning(t.tokens.c.id)).scalar_one())

        token_id = write(self.engine, work)
        return TokenInfo(token_id, name.strip(), secret[:8], created, None), secret

    def tokens(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tokens).order_by(t.tokens.c.id)).mappings().all()
        return [TokenInfo(r["id"], r["name"], r["prefix"], aware(r["created_at"]),  # type: ignore[arg-type]
                          aware(r["revoked_at"])) for r in rows]

    def has_active_token(self) -> bool:
        return any(tok.revoked_at is None for tok in self.tokens())

    def revoke_token(self, name_or_id: str) -> int:
        """Revoke by id or by name (every active token of that name); returns how many."""
        c = t.tokens.c
        target = c.id == int(name_or_id) if name_or_id.isdigit() else c.name == name_or_id

        def work(conn: Connection) -> int:
            done = conn.execute(update(t.tokens).where(and_(target, c.revoked_at.is_(None)))
                                .values(revoked_at=now()))
            return int(done.rowcount)

        return write(self.engine, work)

    def check_token(self, secret: str) -> TokenInfo | None:
        """The active token with this secret, or None (unknown or revoked)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.tokens).where(
                t.tokens.c.token_hash == hash_token(secret))).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        return TokenInfo(row["id"], row["name"], row["prefix"], aware(row["created_at"]),  # type: ignore[arg-type]
                         None)


def _dates(row: Any) -> dict[str, Any]:
    return {k: aware(v) if isinstance(v, datetime) else v for k, v in row.items()}
