"""Tables of the store (SQLAlchemy Core).  One schema for SQLite and PostgreSQL.

`audit_log` is append-only: triggers refuse UPDATE, DELETE and an INSERT that would replace a
row (SQLite's `INSERT OR REPLACE`, PostgreSQL's `ON CONFLICT DO UPDATE`) on both databases,
the store's API has no way to change a row, and each row carries the hash of the one before
it (`entityscan.store.audit`), so a row rewritten behind the triggers' back is detected.

`create` also upgrades a store made by an older entityscan (`entityscan.store.migrate`): it
adds the columns that came later.  Tokens made before scopes existed keep every scope (`scopes`
NULL); audit entries written before the hash chain are folded into the chain's first link;
scans and devices stored before sites existed belong to the site `default`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA_VERSION = 3
Json = JSON().with_variant(JSONB(), "postgresql")
When = DateTime(timezone=True)

metadata = MetaData()

meta = Table(
    "entityscan_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

scans = Table(
    "scans", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("received_at", When, nullable=False),
    Column("started", When),
    Column("finished", When),
    Column("targets", Json, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("source", String(500)),
    Column("lists_content_hash", String(100), nullable=False),
    Column("device_count", Integer, nullable=False),
    Column("summary", Json, nullable=False),
    Column("errors", Json, nullable=False),
    Column("parameters", Json, nullable=False),
    # schema 3: the site it belongs to, and the document id a site's agent gave it (a repeat
    # of the same document is recognised and never stored twice)
    Column("site", String(64), nullable=False, server_default="default"),
    Column("document_id", String(100)),
    Column("document_hash", String(80)),
    Column("pruned_at", When),  # its device snapshot was dropped by retention
    Index("ix_scans_kind_id", "kind", "id"),
    Index("ix_scans_site_kind_id", "site", "kind", "id"),
    Index("uq_scans_document", "document_id", unique=True),
)

devices = Table(
    "devices", metadata,
    # a device is one per site: an address-keyed camera at 192.168.1.108 exists at many sites
    Column("site", String(64), primary_key=True, server_default="default"),
    Column("key", String(300), primary_key=True),
    Column("first_seen", When, nullable=False),
    Column("last_seen", When, nullable=False),
    Column("first_scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("last_scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("maker", String(200)),
    Column("brand", String(200)),
    Column("model", String(200)),
    Column("score", Float, nullable=False),
    Column("record", Json, nullable=False),
    Column("finding", Json, nullable=False),
    Column("screened_at", When, nullable=False),
    Column("lists_content_hash", String(100), nullable=False),
    Index("ix_devices_verdict", "verdict"),
    Index("ix_devices_site_verdict", "site", "verdict"),
)

scan_devices = Table(
    "scan_devices", metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("device_key", String(300), primary_key=True),
    Column("verdict", String(16), nullable=False),
    Column("maker", String(200)),
    Column("score", Float, nullable=False),
    Column("record", Json, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", When, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("lists_content_hash", String(100), nullable=False),
    Column("scan_id", Integer, ForeignKey("scans.id")),
    Column("inputs", Json, nullable=False),
    Column("result", Json, nullable=False),
    Column("prev_hash", String(80)),
    Column("entry_hash", String(80)),
    Index("ix_audit_at", "at"),
)

findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", When, nullable=False),
    Column("audit_id", Integer, ForeignKey("audit_log.id"), nullable=False),
    Column("scan_id", Integer, ForeignKey("scans.id")),
    Column("subject", String(300), nullable=False),
    Column("subject_kind", String(16), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("maker", String(200)),
    Column("score", Float, nullable=False),
    Column("finding", Json, nullable=False),
    Column("subject_record", Json, nullable=False),
    Column("site", String(64)),  # schema 3: a scanned device's site (NULL: a line item)
    Index("ix_findings_subject", "subject"),
    Index("ix_findings_verdict_id", "verdict", "id"),
    Index("ix_findings_site_id", "site", "id"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", When, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("who", String(200), nullable=False),
    Column("why", Text, nullable=False),
    Column("until", When, nullable=False),
    Column("subject", String(300)),
    Column("entry_id", String(300)),
    Column("value", String(500)),
    Column("maker", String(200)),
    Column("recorded_by", String(200), nullable=False),
    Column("revoked_at", When),
    Column("revoked_by", String(200)),
)

tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("created_at", When, nullable=False),
    Column("revoked_at", When),
    Column("scopes", String(200)),  # comma separated; NULL: made before scopes, all of them
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
)

outbox = Table(
    "webhook_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", When, nullable=False),
    Column("event", String(32), nullable=False),
    Column("audit_id", Integer, ForeignKey("audit_log.id")),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", When, nullable=False),
    Column("claimed_by", String(120)),
    Column("claimed_until", When),
    Column("last_error", String(500)),
    Column("finished_at", When),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

jobs = Table(
    # background work of the service's workers, coordinated through the database: a worker
    # runs a job only while it holds its lease (`entityscan.store.leases`)
    "entityscan_jobs", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(120)),
    Column("lease_until", When),
    Column("next_due", When, nullable=False),
    Column("last_done", When),
    Column("last_result", String(500)),
)

list_copies = Table(
    # the installed official list copy, published for every worker of the service (each
    # installs it locally and swaps its index): one download serves the whole app tier
    "list_copies", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_hash", String(100), nullable=False, unique=True),
    Column("published_at", When, nullable=False),
    Column("meta", Json, nullable=False),
    Column("data", LargeBinary, nullable=False),  # the list file, gzip-compressed
)

ingest_queue = Table(
    # scan documents accepted from site agents and not yet screened and saved: the agent's
    # acknowledgement is this row; any worker screens it later (`store.queue`)
    "ingest_queue", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("document_id", String(100), nullable=False, unique=True),
    Column("document_hash", String(80), nullable=False),
    Column("site", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("received_at", When, nullable=False),
    Column("body", LargeBinary, nullable=False),  # the document as JSON, gzip-compressed
    Column("status", String(16), nullable=False),  # pending | failed
    Column("attempts", Integer, nullable=False),
    Column("claimed_by", String(120)),
    Column("claimed_until", When),
    Column("last_error", String(500)),
    Index("ix_ingest_queue_due", "status", "id"),
    Index("ix_ingest_queue_site", "site", "id"),
)

#: Columns added after schema 1, added to an older store on open: (table, column, SQL type).
LATER_COLUMNS = (
    ("audit_log", "prev_hash", "VARCHAR(80)"),
    ("audit_log", "entry_hash", "VARCHAR(80)"),
    ("api_tokens", "scopes", "VARCHAR(200)"),
    ("scans", "site", "VARCHAR(64) NOT NULL DEFAULT 'default'"),
    ("scans", "document_id", "VARCHAR(100)"),
    ("scans", "document_hash", "VARCHAR(80)"),
    ("scans", "pruned_at", "TIMESTAMP WITH TIME ZONE"),
    ("findings", "site", "VARCHAR(64)"),
)
#: Indexes on columns added later, created on an older store once the columns exist.
LATER_INDEXES = ("ix_scans_site_kind_id", "uq_scans_document", "ix_devices_site_verdict",
                 "ix_findings_site_id")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    # INSERT OR REPLACE deletes the old row without firing DELETE triggers (unless the
    # connection enabled recursive_triggers): refuse any insert onto an existing id.
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_replace BEFORE INSERT ON audit_log
       WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)
POSTGRES_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION entityscan_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_append_only'
                        AND tgrelid = 'audit_log'::regclass) THEN
           CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
             ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION entityscan_audit_append_only();
         END IF;
       END $$""",
)


def create(conn: Connection) -> None:
    """Create what is missing: tables, later columns, the append-only triggers, the schema
    version."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        # Two processes creating the schema at once must not collide.
        conn.execute(text("SELECT pg_advisory_xact_lock(874201)"))
    from entityscan.store.migrate import devices_by_site

    devices_by_site(conn)  # before create_all: it may move the old table aside
    metadata.create_all(conn, checkfirst=True)
    _add_later_columns(conn)
    for table in (scans, devices, findings):
        for index in table.indexes:
            if index.name in LATER_INDEXES:
                index.create(conn, checkfirst=True)
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        conn.exec_driver_sql(statement)
    version = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    if version is None:
        conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif int(version) < SCHEMA_VERSION:
        conn.execute(update(meta).where(meta.c.key == "schema_version")
                     .values(value=str(SCHEMA_VERSION)))


def _add_later_columns(conn: Connection) -> None:
    inspector = inspect(conn)
    for table, column, sql_type in LATER_COLUMNS:
        have = {c["name"] for c in inspector.get_columns(table)}
        if column not in have:  # names are this module's constants, never input
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
