"""API bearer tokens: 256-bit random secrets shown once; only their hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, insert, select, update

from entityscan.store import schema as t
from entityscan.store.clock import aware, now
from entityscan.store.engine import StoreError, write

TOKEN_PREFIX = "es_"  # noqa: S105 - a marker, not a secret


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a fast hash is enough (no dictionary to guess).
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class TokenStore:
    """API tokens (`store.tokens`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str) -> tuple[TokenInfo, str]:
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

    def has_active(self) -> bool:
        return any(tok.revoked_at is None for tok in self.list())

    def revoke(self, name_or_id: str) -> int:
        """Revoke by id or by name (every active token of that name); returns how many."""
        c = t.tokens.c
        target = c.id == int(name_or_id) if name_or_id.isdigit() else c.name == name_or_id

        def work(conn: Connection) -> int:
            done = conn.execute(update(t.tokens).where(and_(target, c.revoked_at.is_(None)))
                                .values(revoked_at=now()))
            return int(done.rowcount)

        return write(self.engine, work)

    def check(self, secret: str) -> TokenInfo | None:
        """The active token with this secret, or None (unknown or revoked)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.tokens).where(
                t.tokens.c.token_hash == hash_token(secret))).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        return TokenInfo(row["id"], row["name"], row["prefix"], aware(row["created_at"]), None)

    def list(self) -> list[TokenInfo]:
        """Every token, revoked ones too, in the order created; never the secrets."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tokens).order_by(t.tokens.c.id)).mappings().all()
        return [TokenInfo(r["id"], r["name"], r["prefix"], aware(r["created_at"]),
                          aware(r["revoked_at"])) for r in rows]
