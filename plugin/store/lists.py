"""Published list copies (`store.lists`): the official list file the service's workers
screen with, shared through the database.

One worker (or `entityscan lists update` on any host) installs a new copy after its content
checks and publishes it here; every worker of the service, on any host, sees the new head,
installs the same file into its own data folder and swaps its index.  So one download serves
the whole app tier, and a worker started later screens with the same lists as the others.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from entityscan.store import schema as t
from entityscan.store.clock import now
from entityscan.store.engine import write

KEEP_COPIES = 3


class ListCopyStore:
    """Published list copies (`store.lists`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def publish(self, data: Path, meta: dict[str, Any]) -> bool:
        """Publish an installed copy (its file and metadata); False when that content was
        published already.  Older copies beyond the last KEEP_COPIES are forgotten."""
        packed = gzip.compress(data.read_bytes(), compresslevel=6)
        content_hash = str(meta["content_hash"])

        def work(conn: Connection) -> bool:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            done = conn.execute(insert(t.list_copies).values(
                content_hash=content_hash, published_at=now(), meta=dict(meta), data=packed)
                .on_conflict_do_nothing(index_elements=[t.list_copies.c.content_hash]))
            keep = select(t.list_copies.c.id).order_by(t.list_copies.c.id.desc()).limit(
                KEEP_COPIES).scalar_subquery()
            conn.execute(delete(t.list_copies).where(t.list_copies.c.id.not_in(keep)))
            return bool(done.rowcount)

        return write(self.engine, work)

    def head(self) -> str | None:
        """The content hash of the newest published copy (None: nothing published)."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.list_copies.c.content_hash)
                                .order_by(t.list_copies.c.id.desc()).limit(1)).scalar()

    def fetch(self, content_hash: str) -> tuple[dict[str, Any], bytes] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.list_copies.c.meta, t.list_copies.c.data).where(
                t.list_copies.c.content_hash == content_hash)).first()
        return None if row is None else (dict(row.meta), gzip.decompress(row.data))
