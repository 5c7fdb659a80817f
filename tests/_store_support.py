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
from entityscan.scanners import signals, signatures
from entityscan.scanners.attribution import attribute
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


#: What a Hikvision camera answers (the SADP reply and the web server's header, as the
#: scanner sees them); evidence is judged by the signature rules, as in a real scan, so a
#: saved or posted document survives being attributed again from its evidence.
SADP_REPLY = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ProbeMatch><Uuid>8A6F1C42-3B1D-4E55-"
              "9C1A-2F7E0D4B9A10</Uuid><Types>inquiry</Types><DeviceDescription>DS-2CD2143G2-I"
              "</DeviceDescription><SoftwareVersion>V5.7.3build 220315</SoftwareVersion>"
              "</ProbeMatch>")


def registrant(mac: str) -> list[Evidence]:
    """What the scanner adds for a MAC: its block's registrant."""
    return signals.evaluate("oui", mac, probe="oui", field="MAC")


def hik_evidence() -> list[Evidence]:
    return [*signatures.evaluate("sadp", SADP_REPLY, probe="sadp", field="reply"),
            *signatures.evaluate("http_server", "Hikvision-Webs", probe="http",
                                 field="Server")]


def hik(mac: str, ip: str, **extra: Any) -> Device:
    return attribute(Device(addresses=[ip], mac=mac, brand="Hikvision", model="DS-2CD2143G2-I",
                            firmware="V5.7.3", device_class="camera",
                            evidence=hik_evidence() + registrant(mac), **extra))


def relabelled(mac: str, ip: str, brand: str, maker: str = "Hikvision") -> Device:
    """A camera sold as `brand` whose firmware answers like `maker`'s platform (Hikvision:
    SADP and its web server; Dahua: the `Login to <id>` realm)."""
    evidence = hik_evidence() if maker == "Hikvision" else signatures.evaluate(
        "http_realm", 'Digest realm="Login to 4K0123ABCD45678"', probe="http",
        field="WWW-Authenticate")
    return attribute(Device(addresses=[ip], mac=mac, brand=brand, device_class="camera",
                            evidence=evidence + registrant(mac)))


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
