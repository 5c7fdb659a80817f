"""The append-only, hash-chained audit log: the row writer each concern calls inside the
transaction of the change it records, the readers, and `verify`.

No API changes or deletes a row and triggers refuse UPDATE, DELETE and replacing inserts
(`schema`).  Behind the triggers' back (a `DROP TRIGGER`, a file edited by hand) a row can
still be rewritten, so each row also carries `prev_hash`, the `entry_hash` of the row before
it, and its own `entry_hash`: SHA-256 over a canonical JSON form of its content and
`prev_hash`.  `verify` recomputes the chain from the first row and names the first row whose
content or link does not hold.  Writers take the chain in turn (SQLite: the write transaction
is `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock), so it never forks.

Rows written before the chain existed (a store upgraded from schema 1) have no hashes; their
chain is computed on the fly, and the first hashed row links to it, so rewriting one of them
later is detected too.  Removing the newest rows leaves a shorter chain that still holds:
`verify` prints the head (last id and hash) so it can be recorded elsewhere and compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from entityscan.store import schema as t
from entityscan.store.clock import aware, now

GENESIS = "0" * 64
#: Serialises chain writers on PostgreSQL (any constant distinct from the schema lock).
CHAIN_LOCK = 874202
VERIFY_PAGE = 1000
CHAINED = ("id", "at", "actor", "action", "lists_content_hash", "scan_id", "inputs", "result")


def _canonical_numbers(value: Any) -> Any:
    """JSON numbers in one spelling whatever the database hands back (PostgreSQL's JSONB
    returns 5.0 as 5 or 1e300 as digits)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        return "0.0" if number == 0 else repr(number)
    if isinstance(value, Mapping):
        return {str(k): _canonical_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_numbers(v) for v in value]
    return str(value)


def canonical(value: Any) -> Any:
    """`value` as the database hands it back, numbers in one spelling: what the chain hashes
    (a JSON round trip first: what went in as a tuple or a date comes back as stored)."""
    return _canonical_numbers(json.loads(json.dumps(value, default=str)))


def entry_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """The hash of one audit row's content linked to the previous row's hash."""
    content = {name: row.get(name) for name in CHAINED}
    content["at"] = aware(row["at"]).isoformat(timespec="microseconds")
    content["prev_hash"] = prev_hash
    text = json.dumps(canonical(content), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _take_chain(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    # SQLite: every store write is BEGIN IMMEDIATE, which already excludes other writers.


def _head(conn: Connection) -> tuple[int, str]:
    """(last id, its hash): the link the next row carries."""
    last = conn.execute(select(t.audit_log.c.id, t.audit_log.c.entry_hash)
                        .order_by(t.audit_log.c.id.desc()).limit(1)).first()
    if last is None:
        return 0, GENESIS
    if last.entry_hash is not None:
        return int(last.id), str(last.entry_hash)
    # the last row predates the chain: fold every unhashed row into the first link
    link = GENESIS
    for row in _rows(conn):
        link = row["entry_hash"] or entry_hash(row, link)
    return int(last.id), link


def _next_id(conn: Connection, last_id: int) -> int:
    if conn.dialect.name == "postgresql":
        # the serial's own sequence, taken under the chain lock, so ids follow the chain
        return int(conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))")).scalar_one())
    return last_id + 1


def append(conn: Connection, *, actor: str, action: str, lists_content_hash: str,
           inputs: Any, result: Any, scan_id: int | None = None) -> int:
    """Write one audit entry on `conn` (the caller's transaction); returns its id."""
    _take_chain(conn)
    last_id, prev = _head(conn)
    row = {"id": _next_id(conn, last_id), "at": now(), "actor": actor, "action": action,
           "lists_content_hash": lists_content_hash, "scan_id": scan_id,
           "inputs": inputs, "result": result}
    conn.execute(insert(t.audit_log).values(**row, prev_hash=prev,
                                            entry_hash=entry_hash(row, prev)))
    return int(row["id"])


def _rows(conn: Connection, after: int = 0) -> Iterator[dict[str, Any]]:
    """Every row in id order, a page at a time."""
    while True:
        page = conn.execute(select(t.audit_log).where(t.audit_log.c.id > after)
                            .order_by(t.audit_log.c.id).limit(VERIFY_PAGE)).mappings().all()
        for row in page:
            yield dict(row)
        if len(page) < VERIFY_PAGE:
            return
        after = int(page[-1]["id"])


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: the entries checked, the head, and the first break if any."""

    entries: int
    unchained: int
    head_id: int | None
    head_hash: str | None
    broken_id: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def verify(engine: Engine) -> ChainReport:
    """Recompute the chain from the first entry; stop at the first that does not hold."""
    link, count, unchained, chain_started = GENESIS, 0, 0, False
    last_id: int | None = None
    with engine.connect() as conn:
        for row in _rows(conn):
            count += 1
            row_id = int(row["id"])
            computed_prev = link
            if row["entry_hash"] is None:
                if chain_started:
                    return ChainReport(count, unchained, last_id, link, row_id,
                                       "its hash was removed after the chain began "
                                       "(the row was rewritten)")
                unchained += 1
                link, last_id = entry_hash(row, link), row_id
                continue
            chain_started = True
            if row["prev_hash"] != computed_prev:
                return ChainReport(count, unchained, last_id, link, row_id,
                                   "it does not link to the entry before it (an entry "
                                   "before it was removed, inserted or rewritten)")
            if entry_hash(row, computed_prev) != row["entry_hash"]:
                return ChainReport(count, unchained, last_id, link, row_id,
                                   "its content does not match its hash (the entry was "
                                   "rewritten)")
            link, last_id = str(row["entry_hash"]), row_id
    return ChainReport(count, unchained, last_id, None if last_id is None else link)


class AuditStore:
    """Reading and checking the audit log (`store.audit`)."""

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

    def verify(self) -> ChainReport:
        """Check the hash chain; see the module docstring."""
        return verify(self.engine)
