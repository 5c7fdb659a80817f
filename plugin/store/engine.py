"""Engines for SQLite (WAL, busy timeout, immediate write transactions) and PostgreSQL, and
the retry loop that makes concurrent writers lose nothing."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
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


#: The store file and its -wal/-shm companions hold audit entries, tokens' hashes and every
#: device seen: only their owner may read them (SQLite gives the companions the file's mode).
FILE_MODE = 0o600
DIR_MODE = 0o700
URL_HELP = "sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB"
_USERINFO_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")


def redact(url: str) -> str:
    """The URL without its password (also when it does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _USERINFO_PASSWORD.sub(r"\1***@", url)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"--db {redact(url)}: not a database URL ({URL_HELP})") from exc
    return parsed


def make_engine(url: str) -> Engine:
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database
        if not path or path == ":memory:":
            raise StoreError(f"--db {redact(url)}: an in-memory SQLite store keeps nothing; "
                             f"give a file ({URL_HELP})")
        _prepare_sqlite_file(Path(path))
        engine = _create(parsed, url, connect_args={"timeout": SQLITE_BUSY_MS / 1000,
                                                    "check_same_thread": False})
        _sqlite_events(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _create(parsed, url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise StoreError(f"unsupported database {backend!r} in {redact(url)}: use sqlite or "
                     f"postgresql")


def _create(parsed: URL, url: str, **options: Any) -> Engine:
    """create_engine, with a missing or unknown driver as one clear line."""
    try:
        return create_engine(parsed, **options)
    except ImportError as exc:
        hint = ("pip install 'entityscan[postgres]' (psycopg 3)"
                if parsed.drivername == "postgresql+psycopg" else
                f"install the {exc.name or 'driver'} module, or use {URL_HELP}")
        raise StoreError(f"--db {redact(url)}: the database driver is not installed "
                         f"({exc.name or exc}); {hint}") from exc
    except ArgumentError as exc:  # NoSuchModuleError: an unknown `+driver`
        raise StoreError(f"--db {redact(url)}: unknown database driver "
                         f"{parsed.drivername!r} ({URL_HELP})") from exc


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder (0700) and the file (0600) before SQLite does, so neither is ever
    readable by others; an existing file keeps the mode its owner gave it."""
    try:
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        os.close(fd)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store: {exc.strerror or exc}") from exc


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
