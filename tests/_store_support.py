"""Store fixtures shared by the store, service and schedule tests: SQLite always, PostgreSQL
when ENTITYSCAN_TEST_POSTGRES_URL is set (each test database gets its own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from entityscan.operations import ScanScreening, screen_scan
from entityscan.output import scan_document
from entityscan.scanners.inventory import Device, Evidence, Inventory
from entityscan.screening import ScreeningContext, screen_inventory
from entityscan.store import Store, inventory_from_document

PG_ENV = "ENTITYSCAN_TEST_POSTGRES_URL"
PG_SKIP = (f"PostgreSQL store tests need {PG_ENV} (CI sets it; locally start PostgreSQL and "
           f"export it, see .ci/run)")
BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql",
                         marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=PG_SKIP))]


def postgres_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    import sqlalchemy as sa

    base = os.environ[PG_ENV]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def make_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from postgres_schema_url()


def hik(mac: str, ip: str, **extra: Any) -> Device:
    return Device(addresses=[ip], mac=mac, brand="Hikvision", maker="Hikvision",
                  model="DS-2CD2143G2-I", firmware="V5.7.3", device_class="camera",
                  confidence=0.95, reasons=["SADP answered"],
                  evidence=[Evidence(probe="sadp", field="DeviceType", value="IPC",
                                     indicates="Hikvision", certainty="solid")], **extra)


def axis(mac: str, ip: str, **extra: Any) -> Device:
    return Device(addresses=[ip], mac=mac, brand="Axis", maker="Axis Communications",
                  model="P3265-LVE", confidence=0.9, device_class="camera", **extra)


def scan_doc(devices: list[Device], ctx: ScreeningContext, when: datetime | None = None,
             kind: str = "network") -> dict[str, Any]:
    when = when or datetime.now(UTC)
    inv = Inventory(kind=kind, targets=["127.60.1.0/24"], devices=devices, started=when,
                    finished=when + timedelta(seconds=5))
    return scan_document(inv, screen_inventory(inv, ctx), ctx.lists)


def import_doc(doc: dict[str, Any], ctx: ScreeningContext, store: Store, *, actor: str = "t",
               source: str = "test") -> ScanScreening:
    """What `entityscan store import` and `POST /v1/inventory` do with a scan document:
    read it back into an inventory, screen it afresh, save it, fire the hooks."""
    done = screen_scan(inventory_from_document(doc), ctx, store, actor=actor, source=source)
    done.notify()
    return done
