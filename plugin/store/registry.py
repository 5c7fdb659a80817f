"""The device registry: one row per (site, device key) with first and last seen and the
current finding, updated by every saved scan in one statement for all its devices."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case
from sqlalchemy.dialects import postgresql, sqlite

from entityscan.decisions import Outcome
from entityscan.store import schema as t
from entityscan.store.clock import now

#: Columns the latest sighting decides (an older scan arriving late changes none of them).
LATEST = ("last_scan_id", "kind", "verdict", "maker", "brand", "model", "score", "record",
          "finding", "screened_at", "lists_content_hash")


def _upsert_statement(conn: Connection) -> Any:
    """INSERT … ON CONFLICT (site, key) DO UPDATE, with the values as bound parameters so one
    execution covers every device of a scan (the driver batches it)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    columns = [c.name for c in t.devices.columns]
    stmt = insert(t.devices).values({name: bindparam(f"v_{name}") for name in columns})
    new = stmt.excluded
    d = t.devices.c
    newer = new.last_seen >= d.last_seen
    earlier = new.first_seen < d.first_seen
    return stmt.on_conflict_do_update(index_elements=[d.site, d.key], set_={
        **{col: case((newer, getattr(new, col)), else_=getattr(d, col)) for col in LATEST},
        "last_seen": case((newer, new.last_seen), else_=d.last_seen),
        "first_seen": case((earlier, new.first_seen), else_=d.first_seen),
        "first_scan_id": case((earlier, new.first_scan_id), else_=d.first_scan_id),
    })


def upsert_devices(conn: Connection, site: str,
                   by_key: Mapping[str, tuple[dict[str, Any], Outcome]], scan_id: int,
                   kind: str, seen: datetime, lists_hash: str) -> None:
    """Insert each device or update it: the latest sighting's fields win, first seen moves
    back when an older scan arrives late.  Keys in a fixed order (no deadlocks between two
    scans of one site saved at once)."""
    if not by_key:
        return
    screened = now()
    rows = []
    for key in sorted(by_key):
        record, outcome = by_key[key]
        f = outcome.finding
        values = {"site": site, "key": key, "first_seen": seen, "last_seen": seen,
                  "first_scan_id": scan_id, "last_scan_id": scan_id, "kind": kind,
                  "verdict": f.verdict.value, "maker": f.maker, "brand": record.get("brand"),
                  "model": record.get("model"), "score": f.score, "record": record,
                  "finding": f.model_dump(mode="json", exclude_defaults=True),
                  "screened_at": screened, "lists_content_hash": lists_hash}
        rows.append({f"v_{k}": v for k, v in values.items()})
    conn.execute(_upsert_statement(conn), rows)
