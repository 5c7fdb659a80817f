"""The store's facade: opens (and creates) the database and hands out one object per concern.

    store.inventory   scans, device snapshots, the device registry, diffs   (inventory.py)
    store.findings    screenings of line items and the findings recorded    (findings.py)
    store.decisions   allow / review / block decisions                      (decisions.py)
    store.audit       the append-only audit log                             (audit.py)
    store.tokens      API bearer tokens, stored hashed                      (tokens.py)

Every write is one transaction run through `engine.write`, which retries the whole
transaction on SQLite lock or PostgreSQL serialization/deadlock conflicts, so concurrent
writers (two scans saving at once, the service under load) lose nothing.  A change and the
audit entry that records it are written in the same transaction.
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
from entityscan.store.tokens import TokenStore


class Store:
    """Open (and create when missing) the database at `url`; default: SQLite in the data dir."""

    def __init__(self, url: str | None = None, *, data_dir: Path | None = None) -> None:
        self.url = url or default_url(data_dir)
        self.engine = make_engine(self.url)
        try:
            write(self.engine, t.create)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store {redact(self.url)}: "
                             f"{getattr(exc, 'orig', None) or exc}") from exc
        self.inventory = InventoryStore(self.engine)
        self.findings = FindingStore(self.engine)
        self.decisions = DecisionStore(self.engine)
        self.audit = AuditStore(self.engine)
        self.tokens = TokenStore(self.engine)

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
