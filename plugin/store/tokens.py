"""API bearer tokens: 256-bit random secrets shown once; only their hash is stored.  Each token
carries scopes (what it may do: `SCOPES`); a token made before scopes existed has them all."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from entityscan.errors import InputError
from entityscan.store import schema as t
from entityscan.store.clock import aware, now
from entityscan.store.engine import StoreError, write

TOKEN_PREFIX = "es_"  # noqa: S105 - a marker, not a secret
#: What each scope allows (the service's routes name the scope they need).
SCOPES = {
    "screen": "POST /v1/screen, GET /v1/lists",
    "ingest": "POST /v1/inventory",
    "read": "GET /v1/sites, /v1/devices, /v1/findings, /v1/scans, /v1/scans/…/diff, "
            "/v1/audit/…, /v1/decisions (and the /ui dashboard's data)",
    "metrics": "GET /metrics (Prometheus text format)",
    "decide": "POST and DELETE /v1/decisions (one line, device, entry or value; until at "
              "most a year ahead)",
    "admin": "everything, including decisions that cover a whole maker or run longer than "
             "a year",
}
DEFAULT_SCOPES = frozenset({"screen"})


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a fast hash is enough (no dictionary to guess).
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Known scope names, or InputError naming the unknown one and the known ones."""
    chosen = frozenset(s.strip().lower() for s in scopes if s.strip())
    unknown = sorted(chosen - SCOPES.keys())
    if unknown:
        raise InputError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    return chosen or DEFAULT_SCOPES


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    scopes: frozenset[str] = DEFAULT_SCOPES
    #: made before scopes existed: it keeps every scope until it is replaced
    legacy: bool = False

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    @property
    def actor(self) -> str:
        """How the audit log and decisions name it."""
        return f"token:{self.name}#{self.id}"


def _info(row: Any) -> TokenInfo:
    stored = row["scopes"]
    scopes = frozenset(SCOPES) if stored is None else frozenset(
        s for s in stored.split(",") if s)
    return TokenInfo(row["id"], row["name"], row["prefix"], aware(row["created_at"]),
                     aware(row["revoked_at"]), scopes, legacy=stored is None)


class TokenStore:
    """API tokens (`store.tokens`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, scopes: Iterable[str] = DEFAULT_SCOPES) -> tuple[TokenInfo, str]:
        """A new bearer token with `scopes`; the secret is returned once and only its hash is
        stored."""
        if not name.strip() or len(name) > 100:
            raise StoreError("a token needs a name of 1 to 100 characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise StoreError("a token name cannot hold control characters")
        chosen = check_scopes(scopes)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        created = now()

        def work(conn: Connection) -> int:
            return int(conn.execute(insert(t.tokens).values(
                name=name.strip(), token_hash=hash_token(secret), prefix=secret[:8],
                created_at=created, scopes=",".join(sorted(chosen)))
                .returning(t.tokens.c.id)).scalar_one())

        token_id = write(self.engine, work)
        return TokenInfo(token_id, name.strip(), secret[:8], created, None, chosen), secret

    def has_active(self) -> bool:
        return any(tok.revoked_at is None for tok in self.list())

    def revoke(self, *, token_id: int | None = None, name: str | None = None) -> int:
        """Revoke the token with this id, or every active token with this name (exactly one
        of the two: an id is never taken for a name or the other way round); returns how
        many were revoked."""
        if (token_id is None) == (name is None):
            raise InputError("revoke a token by --id N or by --name NAME (one of them)")
        c = t.tokens.c
        target = c.id == token_id if token_id is not None else c.name == name

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
        return _info(row)

    def list(self) -> list[TokenInfo]:
        """Every token, revoked ones too, in the order created; never the secrets."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.tokens).order_by(t.tokens.c.id)).mappings().all()
        return [_info(r) for r in rows]
