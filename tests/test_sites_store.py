"""Sites in the store: a registry per site, diffs per site, sites at a glance, a document
stored once by its id, old stores upgraded, retention that never touches the audit log, and
compact audit entries.  SQLite always, PostgreSQL with ENTITYSCAN_TEST_POSTGRES_URL."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _store_support import BACKENDS, axis, hik, make_url, scan_doc

from entityscan.errors import InputError
from entityscan.model import LineItem
from entityscan.operations import ScanScreening, rescreen, screen_line_items, screen_scan
from entityscan.scanners.inventory import Device
from entityscan.screening import ScreeningContext
from entityscan.sites import check_site
from entityscan.store import Store, StoreError, inventory_from_document
from entityscan.store.documents import document_identity
from entityscan.store.inventory import DocumentConflict

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "store"


@pytest.fixture(scope="module")
def ctx() -> ScreeningContext:
    return ScreeningContext.load()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    for url in make_url(request.param, tmp_path):
        with Store(url) as opened:
            yield opened


def save(store: Store, ctx: ScreeningContext, devices: list[Device], site: str,
         document_id: str | None = None) -> ScanScreening:
    doc = scan_doc(devices, ctx)
    if document_id:
        doc["document_id"] = document_id
    return store_doc(store, ctx, doc, site)


def store_doc(store: Store, ctx: ScreeningContext, doc: dict[str, Any], site: str
              ) -> ScanScreening:
    """What `store import` and the service do with a posted document."""
    identity = document_identity(doc)
    return screen_scan(inventory_from_document(doc), ctx, store, actor="t", source="test",
                       site=site, document_id=identity.document_id,
                       document_hash=identity.document_hash)


@pytest.mark.parametrize(("given", "expected"), [("Site-12", "site-12"), (" lincoln.el_1 ",
                                                                          "lincoln.el_1")])
def test_site_names_have_one_spelling(given: str, expected: str) -> None:
    assert check_site(given) == expected


@pytest.mark.parametrize("hostile", ["", "-lead", "a b", "../etc", "sitе-12",  # Cyrillic е
                                     "x\x1b[31m", "s" * 65, "site/12", "site\u202e21"])
def test_site_names_that_are_not_slugs_are_refused_with_a_reason(hostile: str) -> None:
    with pytest.raises(InputError, match="site name"):
        check_site(hostile)


def test_the_same_address_at_two_sites_is_two_devices_and_diffs_stay_per_site(
        store: Store, ctx: ScreeningContext) -> None:
    shared = Device(addresses=["192.168.1.108"], brand="Dahua", device_class="camera")
    first_a = save(store, ctx, [shared, axis("00:40:8c:00:00:01", "10.0.0.5")], "site-a")
    first_b = save(store, ctx, [shared], "site-b")
    # site b's first scan is diffed against nothing, not against site a's scan
    assert first_b.diff is not None and first_b.diff["scan_a"] is None
    assert first_b.diff["summary"]["new"] == 1 and first_b.diff["site"] == "site-b"
    second_a = save(store, ctx, [shared], "site-a")
    assert second_a.diff is not None and second_a.diff["scan_a"] == first_a.scan_id
    assert [d["key"] for d in second_a.diff["gone"]] == ["mac:00:40:8c:00:00:01"]
    keys = {(d["site"], d["key"]) for d in store.inventory.devices(limit=100)}
    assert keys == {("site-a", "ip:192.168.1.108"), ("site-b", "ip:192.168.1.108"),
                    ("site-a", "mac:00:40:8c:00:00:01")}
    assert [d["key"] for d in store.inventory.devices(site="site-b")] == ["ip:192.168.1.108"]
    history = store.inventory.history("site-a", "ip:192.168.1.108")
    assert [h["scan_id"] for h in history] == [second_a.scan_id, first_a.scan_id]


def test_sites_at_a_glance_count_verdicts_and_say_stale(store: Store,
                                                        ctx: ScreeningContext) -> None:
    save(store, ctx, [hik("44:19:b6:00:00:01", "10.1.0.2"), axis("00:40:8c:00:00:02",
                                                                 "10.1.0.3")], "north")
    save(store, ctx, [axis("00:40:8c:00:00:03", "10.2.0.3")], "south")
    sites = {s["site"]: s for s in store.sites.list(timedelta(days=2))}
    assert set(sites) == {"north", "south"}
    assert (sites["north"]["devices"], sites["north"]["flagged"], sites["north"]["clear"]) == \
        (2, 1, 1)
    assert sites["south"]["flagged"] == 0 and not sites["south"]["stale"]
    assert sites["north"]["last_scan_devices"] == 2 and sites["north"]["scans"] == 1
    # received a moment ago: stale only when the limit is shorter than that
    assert all(s["stale"] for s in store.sites.list(timedelta(microseconds=1)))
    findings = store.findings.list(site="north")
    assert findings and {f["site"] for f in findings} == {"north"}
    assert store.findings.list(site="south") == []


def test_a_document_id_is_stored_once_and_never_reused_for_other_content(
        store: Store, ctx: ScreeningContext) -> None:
    devices = [hik("44:19:b6:00:01:01", "10.3.0.2")]
    doc = {**scan_doc(devices, ctx), "document_id": "east:scan-0001"}
    first = store_doc(store, ctx, doc, "east")
    again = store_doc(store, ctx, json.loads(json.dumps(doc)), "east")
    assert (again.scan_id, again.audit_id, again.duplicate) == (first.scan_id, first.audit_id,
                                                                True)
    assert again.notify() == []  # reported once, when it was stored
    assert store.count("scans") == 1 and store.count("audit_log") == 1
    with pytest.raises(DocumentConflict, match="different content"):
        save(store, ctx, [*devices, axis("00:40:8c:00:01:02", "10.3.0.3")], "east",
             document_id="east:scan-0001")


def test_the_same_document_saved_by_many_threads_at_once_is_stored_once(
        store: Store, ctx: ScreeningContext) -> None:
    doc = scan_doc([hik("44:19:b6:00:02:01", "10.4.0.2")], ctx)
    doc["document_id"] = "west:scan-race"
    identity = document_identity(doc)
    results, errors = [], []

    def push() -> None:
        try:
            results.append(screen_scan(inventory_from_document(doc), ctx, store, actor="t",
                                       source="race", site="west",
                                       document_id=identity.document_id,
                                       document_hash=identity.document_hash))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.scan_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert store.count("scans") == 1 and store.count("scan_devices") == 1


def test_retention_drops_old_snapshots_and_never_the_audit_log(store: Store,
                                                               ctx: ScreeningContext) -> None:
    scans = [save(store, ctx, [axis(f"00:40:8c:00:03:0{n}", f"10.5.0.{n}")], "depot")
             for n in range(1, 5)]
    save(store, ctx, [axis("00:40:8c:00:04:01", "10.6.0.1")], "yard")
    audit_before = store.count("audit_log")
    assert store.retention.candidates(2) == [scans[0].scan_id, scans[1].scan_id]
    done = store.retention.prune(2)
    assert done == {"scans": 2, "snapshot_rows": 2}
    assert store.count("audit_log") == audit_before and store.audit.verify().intact
    assert store.count("scans") == 5  # the scans stay, marked
    with pytest.raises(StoreError, match="removed by retention"):
        store.inventory.diff(None, scans[2].scan_id)  # against scans[1], pruned
    assert store.inventory.diff(None, scans[3].scan_id)["scan_a"] == scans[2].scan_id
    assert store.retention.prune(2) == {"scans": 0, "snapshot_rows": 0}
    with pytest.raises(InputError, match="at least 1"):
        store.retention.prune(0)
    # with an age limit, scans received a moment ago are kept
    assert store.retention.candidates(1, timedelta(days=1)) == []


def test_clear_lines_cost_under_a_kilobyte_each_in_the_audit_and_the_chain_holds(
        store: Store, ctx: ScreeningContext) -> None:
    items = [LineItem(id=f"PO-77/{n}", supplier="Dell Technologies",
                      description=f"Latitude 7450 laptop, 14 inch, 32 GB, unit {n}",
                      part_number=f"LAT-7450-{n:05d}", extra={"cost_centre": "F-12"})
             for n in range(500)]
    done = screen_line_items(items, ctx, store, actor="t", source="po.csv")
    assert {o.finding.verdict.value for o in done.outcomes} == {"clear"}
    entry = store.audit.entry(done.audit_id or 0)
    assert entry is not None
    per_line = len(json.dumps(entry["inputs"]) + json.dumps(entry["result"])) / len(items)
    assert per_line < 1024, per_line
    # nothing lost: every line's input and result are there, and no clear line is a finding
    assert [i["id"] for i in entry["inputs"]["items"]] == [i.id for i in items]
    assert {r["verdict"] for r in entry["result"]["results"]} == {"clear"}
    assert entry["inputs"]["items"][3]["extra"] == {"cost_centre": "F-12"}
    assert store.count("findings") == 0 and store.audit.verify().intact


def test_rescreen_keeps_sites_apart(store: Store, ctx: ScreeningContext) -> None:
    shared = Device(addresses=["192.168.1.64"], brand="HIKVISION", device_class="camera")
    save(store, ctx, [shared], "one")
    save(store, ctx, [shared], "two")
    report = rescreen(store, ctx, actor="t")
    assert report.screened == 2 and report.changes == []
    assert store.audit.verify().intact


def test_a_schema_2_sqlite_store_opens_upgraded_and_keeps_working(
        tmp_path: Path, ctx: ScreeningContext) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "schema2-two-usb-scans.sql").read_text())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM entityscan_meta").fetchone() == ("2",)
        old_devices = conn.execute("SELECT count(*) FROM devices").fetchone()[0]
    with Store(f"sqlite:///{path}") as store:
        devices = store.inventory.devices(limit=100)
        assert len(devices) == old_devices and {d["site"] for d in devices} == {"default"}
        scans = store.inventory.scans()
        assert [s["site"] for s in scans] == ["default", "default"]
        diff = store.inventory.diff(None, scans[0]["id"])  # the old scans still diff
        assert diff["scan_a"] == scans[1]["id"]
        assert store.audit.verify().intact  # the old chain, untouched
        assert store.tokens.list()[0].name == "old-erp"
        done = save(store, ctx, [hik("44:19:b6:00:05:01", "10.7.0.2")], "new-site")
        assert done.scan_id is not None and not done.duplicate
        assert {s["site"] for s in store.sites.list(timedelta(days=1))} == {"default",
                                                                             "new-site"}
        assert store.audit.verify().intact
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM entityscan_meta").fetchone() == ("3",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                             "'table'")}
        assert "devices_before_sites" not in tables
    with Store(f"sqlite:///{path}") as again:  # opening it again changes nothing
        assert len(again.inventory.devices(limit=100)) == old_devices + 1


def test_two_workers_never_hold_a_job_lease_at_once(store: Store) -> None:
    wins = []
    barrier = threading.Barrier(5)

    def worker(n: int) -> None:
        barrier.wait()
        if store.leases.take("lists-update", f"w{n}", timedelta(minutes=5)):
            wins.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    holder = f"w{wins[0]}"
    assert not store.leases.take("lists-update", "late", timedelta(minutes=5))
    store.leases.done("lists-update", holder, timedelta(hours=24), "ok")
    assert not store.leases.take("lists-update", "late", timedelta(minutes=5))  # not due
    store.leases.due_now("lists-update")
    assert store.leases.take("lists-update", "late", timedelta(minutes=5))
    (job,) = store.leases.jobs()
    assert job["holder"] == "late" and job["last_result"] == "ok"


def test_a_worker_that_dies_holding_a_queued_document_loses_it_to_another(
        store: Store, ctx: ScreeningContext) -> None:
    doc = scan_doc([hik("44:19:b6:00:06:01", "10.8.0.2")], ctx)
    identity = document_identity({**doc, "document_id": "q:site-1"})
    assert store.queue.add(doc, document_id="q:site-1", document_hash=identity.document_hash,
                           site="q", actor="t")
    assert not store.queue.add(doc, document_id="q:site-1",
                               document_hash=identity.document_hash, site="q", actor="t")
    with pytest.raises(DocumentConflict):
        store.queue.add(doc, document_id="q:site-1", document_hash="sha256:other", site="q",
                        actor="t")
    dead = store.queue.claim("dies", timedelta(milliseconds=50))
    assert dead is not None and dead.document_id == "q:site-1"
    assert store.queue.claim("other", timedelta(minutes=1)) is None  # still leased
    time.sleep(0.2)
    taken = store.queue.claim("other", timedelta(minutes=1))
    assert taken is not None and taken.attempts == 2 and taken.document == dead.document
    store.queue.done(taken)
    assert store.queue.counts() == {"pending": 0, "failed": 0}
