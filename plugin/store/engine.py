"""Engines for SQLite (WAL, busy timeout, immediate write transactions) and PostgreSQL, and
the retry loop that makes concurrent writers lose nothing."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from entityscan.errors import EntityscanError

T = TypeVar("T")
SQLITE_BUSY_MS = 30_000
WRITE_ATTEMPTS = 8
# PostgreSQL: serialization failure, deadlock; both safe to retry as a whole transaction.
RETRY_SQLSTATES = frozenset({"40001", "40P01"})


class StoreError(EntityscanError):
    """The store cannot be opened or written; the message names the database."""


def data_dir(explicit: Path | None = None) -> Path:
    """The same folder the installed lists use (`--data-dir`, ENTITYSCAN_DATA_DIR, else the
    platform's user data directory)."""
    from entityscan.lists.registry import resolve_data_dir

    return resolve_data_dir(explicit)


def default_url(explicit_data_dir: Path | None = None) -> str:
    """`--db` / `ENTITYSCAN_DB`, else a SQLite file in the user data directory."""
    env = os.environ.get("ENTITYSCAN_DB")
    if env:
        return env
    return f"sqlite:///{data_dir(explicit_data_dir) / 'entityscan.db'}"


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"--db {url!r} is not a database URL (sqlite:///PATH or "
                         f"postgresql+psycopg://USER:PASS@HOST/DB)") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path}: cannot create the store's folder: {exc}") from exc
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000,
                                                     "check_same_thread": False})
        _sqlite_events(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise StoreError(f"unsupported database {backend!r} in {redact(url)}: use sqlite or "
                     f"postgresql")


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writes can take the lock up
        # front (BEGIN IMMEDIATE) instead of failing on a read-to-write upgrade.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("entityscan_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower():
        return True
    return getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


@contextmanager
def _write_conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn = conn.execution_options(entityscan_write=True)
        with conn.begin():
            yield conn


def write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in one write transaction; retry it whole on lock/serialization conflicts."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with _write_conn(engine) as conn:
                return work(conn)
        except DBAPIError as exc:
            if not _retryable(exc) or attempt == WRITE_ATTEMPTS - 1:
                raise
            time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")
