"""The store's facade: opens (and creates) the database and hands out one object per concern.

    store.inventory   scans, device snapshots, the device registry, diffs   (inventory.py)
    store.findings    screenings of line items and the findings recorded    (findings.py)
    store.decisions   allow / review / block decisions                      (decisions.py)
    store.audit       the append-only, hash-chained audit log               (audit.py)
    store.tokens      API bearer tokens with scopes, stored hashed          (tokens.py)
    store.outbox      webhook events waiting for delivery                   (outbox.py)
    store.sites       sites at a glance: devices by verdict, last scan      (sites.py)
    store.leases      background jobs the service's workers take in turn    (leases.py)
    store.retention   dropping old scan snapshots (never the audit log)     (retention.py)
    store.lists       list copies published for every worker of the service (lists.py)
    store.queue       scan documents accepted from agents, not yet saved    (queue.py)

Every write is one transaction run through `engine.write`, which retries the whole
transaction on SQLite lock or PostgreSQL serialization/deadlock conflicts, so concurrent
writers (two scans saving at once, the service under load) lose nothing.  A change and the
audit entry that records it are written in the same transaction, and so is the webhook
event that reports it (when the outbox is on).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from entityscan.store import schema as t
from entityscan.store.audit import AuditStore
from entityscan.store.decisions import DecisionStore
from entityscan.store.engine import StoreError, default_url, make_engine, redact, write
from entityscan.store.findings import FindingStore
from entityscan.store.inventory import InventoryStore
from entityscan.store.leases import LeaseStore
from entityscan.store.lists import ListCopyStore
from entityscan.store.outbox import OutboxStore
from entityscan.store.queue import QueueStore
from entityscan.store.retention import RetentionStore
from entityscan.store.sites import SiteStore
from entityscan.store.tokens import TokenStore


class Store:
    """Open (and create when missing) the database at `url`; default: SQLite in the data dir."""

    def __init__(self, url: str | None = None, *, data_dir: Path | None = None,
                 outbox: bool = False) -> None:
        """`outbox`: record webhook events with the findings (a run that has a webhook
        configured turns it on; `entityscan.session.Session` does)."""
        self.url = url or default_url(data_dir)
        self.engine = make_engine(self.url)
        try:
            write(self.engine, t.create)
        except SQLAlchemyError as exc:
            # the driver's first line says it; the rest is advice for another tool
            why = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"]
            raise StoreError(f"cannot open the store {redact(self.url)}: {why[0]}") from exc
        self.outbox = OutboxStore(self.engine, enabled=outbox)
        self.inventory = InventoryStore(self.engine, self.outbox)
        self.findings = FindingStore(self.engine, self.outbox)
        self.decisions = DecisionStore(self.engine)
        self.audit = AuditStore(self.engine)
        self.tokens = TokenStore(self.engine)
        self.sites = SiteStore(self.engine)
        self.leases = LeaseStore(self.engine)
        self.retention = RetentionStore(self.engine)
        self.lists = ListCopyStore(self.engine)
        self.queue = QueueStore(self.engine)

    def __repr__(self) -> str:
        return f"Store({redact(self.url)})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, table: str) -> int:
        """Rows in `table` (by its name in the schema)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(
                t.metadata.tables[table])).scalar_one())
