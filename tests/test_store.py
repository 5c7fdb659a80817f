"""The store on SQLite and PostgreSQL: scans, devices, findings, decisions, tokens, audit,
and concurrent writers (threads and processes) losing nothing."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _store_support import BACKENDS, axis, hik, import_doc, make_url, relabelled, scan_doc
from sqlalchemy.exc import DBAPIError

from entityscan.decisions import DecisionIn
from entityscan.errors import InputError
from entityscan.hooks import hookimpl, make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.model import LineItem
from entityscan.operations import ItemScreening, RescreenReport, rescreen, screen_line_items
from entityscan.screening import ScreeningContext
from entityscan.store import Store, StoreError, default_url, hash_token, inventory_from_document

CSL_SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "lists" / "csl_sample.csv"



def screen(items: list[LineItem], ctx: ScreeningContext, store: Store, *,
           actor: str) -> ItemScreening:
    """What `POST /v1/screen` does: screen, apply decisions, record, react."""
    done = screen_line_items(items, ctx, store, actor=actor, source="service")
    done.notify()
    return done


def rescreened(store: Store, ctx: ScreeningContext) -> RescreenReport:
    report = rescreen(store, ctx, actor="t")
    report.notify()
    return report

@pytest.fixture(scope="module")
def ctx() -> ScreeningContext:
    return ScreeningContext.load()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_url(request.param, tmp_path)


@pytest.fixture()
def store(url: str) -> Iterator[Store]:
    with Store(url) as s:
        yield s


def test_default_location_follows_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.delenv("ENTITYSCAN_DB", raising=False)
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    assert default_url() == f"sqlite:///{tmp_path / 'data' / 'entityscan.db'}"
    with Store() as s:
        assert s.count("scans") == 0
    assert (tmp_path / "data" / "entityscan.db").exists()
    monkeypatch.setenv("ENTITYSCAN_DB", "sqlite:///elsewhere.db")
    assert default_url() == "sqlite:///elsewhere.db"


def test_bad_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        Store("nonsense")
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store("mysql://u:secret@h/db")
    with pytest.raises(StoreError, match="cannot open the store") as info:
        Store("postgresql+psycopg://u:hunter2@127.60.0.1:1/none")
    assert "hunter2" not in str(info.value)


def test_scan_devices_first_last_seen_and_diff(store: Store, ctx: ScreeningContext) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a, b = hik("44:19:b6:00:00:01", "127.60.1.10"), axis("ac:cc:8e:00:00:02", "127.60.1.11")
    first = import_doc(scan_doc([a, b], ctx, t0 + timedelta(days=1)), ctx, store, actor="t")
    moved = hik("44:19:b6:00:00:01", "127.60.1.99")
    # the same box now answers with Hikvision's platform under an EZVIZ label
    ezviz = relabelled("ac:cc:8e:00:00:02", "127.60.1.11", "EZVIZ")
    c = axis("ac:cc:8e:00:00:03", "127.60.1.12")
    second = import_doc(scan_doc([moved, ezviz, c], ctx, t0 + timedelta(days=2)), ctx, store,
                         actor="t")
    assert second.diff["scan_a"] == first.scan_id
    assert [d["key"] for d in second.diff["new"]] == ["mac:ac:cc:8e:00:00:03"]
    changed = {d["key"]: d["changes"] for d in second.diff["changed"]}
    assert changed["mac:44:19:b6:00:00:01"] == {"addresses": [["127.60.1.10"], ["127.60.1.99"]]}
    assert changed["mac:ac:cc:8e:00:00:02"]["verdict"] == ["clear", "flagged"]
    assert [d["key"] for d in second.diff["newly_flagged"]] == ["mac:ac:cc:8e:00:00:02"]
    third = import_doc(scan_doc([moved], ctx, t0 + timedelta(days=3)), ctx, store, actor="t")
    assert {d["key"] for d in third.diff["gone"]} == {"mac:ac:cc:8e:00:00:02",
                                                      "mac:ac:cc:8e:00:00:03"}
    # a late upload of an older scan moves first_seen back, not last_seen or the record
    late = import_doc(scan_doc([hik("44:19:b6:00:00:01", "127.60.1.5")], ctx, t0), ctx, store,
                       actor="late")
    devices = {d["key"]: d for d in store.inventory.devices()}
    dev = devices["mac:44:19:b6:00:00:01"]
    assert dev["first_seen"] == t0 + timedelta(seconds=5)
    assert dev["last_seen"] == t0 + timedelta(days=3, seconds=5)
    assert dev["record"]["addresses"] == ["127.60.1.99"] and dev["verdict"] == "flagged"
    assert dev["first_scan_id"] == late.scan_id  # the late scan is the earliest sighting
    assert dev["last_scan_id"] == third.scan_id
    assert len(devices) == 3 and store.count("scans") == 4
    assert store.inventory.diff(first.scan_id, third.scan_id)["summary"]["gone"] == 1


def test_audit_log_is_append_only_and_complete(store: Store, ctx: ScreeningContext) -> None:
    items = [LineItem(id="1", brand="EZVIZ"), LineItem(id="2", supplier="Dell")]
    batch = screen(items, ctx, store, actor="token:erp")
    assert batch.audit_id is not None
    entry = store.audit.entry(batch.audit_id)
    assert entry is not None and entry["actor"] == "token:erp" and entry["action"] == "screen"
    assert entry["lists_content_hash"] == ctx.lists.content_hash
    assert [i["id"] for i in entry["inputs"]["items"]] == ["1", "2"]
    assert [r["decision"] for r in entry["result"]["results"]] == ["block", "allow"]
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log")
    assert store.audit.entries() == [entry]  # the refused statements changed nothing


def test_decisions_apply_until_they_expire_or_are_revoked(store: Store,
                                                          ctx: ScreeningContext) -> None:
    soon = datetime.now(UTC) + timedelta(days=30)
    item = LineItem(id="PO-7/1", brand="EZVIZ")
    allow = store.decisions.add(DecisionIn(decision="allow", kind="exception", who="j.doe",
                                           why="existing maintenance contract", until=soon,
                                           value="ezviz"), recorded_by="token:review")
    result = screen([item], ctx, store, actor="x").document["results"][0]
    assert result["verdict"] == "flagged" and result["decision"] == "allow"
    assert result["applied_decision"]["decision_id"] == allow.id
    assert result["applied_decision"]["who"] == "j.doe"
    other = screen([LineItem(id="2", brand="HiLook")], ctx, store, actor="x").document["results"]
    assert other[0]["decision"] == "block"  # the decision covers EZVIZ only
    assert store.decisions.revoke(allow.id, by="boss") and not store.decisions.revoke(allow.id, "x")
    trail = [(e["action"], e["actor"]) for e in store.audit.entries(limit=5)]
    assert trail[0] == ("revoke-decision", "boss") and ("decision", "token:review") in trail
    assert screen([item], ctx, store, actor="x").document["results"][0]["decision"] == "block"
    # an expired decision stops applying
    expired = store.decisions.add(DecisionIn(decision="allow", kind="false_positive", who="a",
                                             why="b", until=soon, subject="PO-7/1"), "t")
    later = datetime.now(UTC) + timedelta(days=31)
    assert expired.active(datetime.now(UTC)) and not expired.active(later)
    assert [d.id for d in store.decisions.list()] == [allow.id, expired.id]
    assert store.decisions.list(active_at=datetime.now(UTC)) == [expired]
    assert store.decisions.list(active_at=later) == []


def test_decision_needs_a_scope_and_a_timezone() -> None:
    with pytest.raises(ValueError, match="at least one of subject"):
        DecisionIn(decision="allow", kind="exception", who="a", why="b",
                   until=datetime.now(UTC))
    with pytest.raises(ValueError, match="time zone"):
        DecisionIn(decision="allow", kind="exception", who="a", why="b", subject="x",
                   until=datetime(2030, 1, 1))


def test_tokens_are_stored_hashed(store: Store) -> None:
    info, secret = store.tokens.add("erp")
    assert store.tokens.check(secret) == info and store.tokens.check(secret + "x") is None
    from sqlalchemy import text

    with store.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT token_hash FROM api_tokens"))]
    assert stored == [hash_token(secret)] and stored[0].startswith("sha256:")
    assert store.tokens.has_active()
    assert store.tokens.revoke(name="erp") == 1 and store.tokens.check(secret) is None
    assert not store.tokens.has_active()


def test_scan_document_errors_name_the_field(ctx: ScreeningContext) -> None:
    with pytest.raises(InputError, match="not a scan document"):
        inventory_from_document({"schema": "entityscan.screen/1", "devices": []})
    with pytest.raises(InputError, match=r"devices\[0\] is not an object"):
        inventory_from_document({"devices": ["x"]})
    with pytest.raises(InputError, match=r"field `devices\.0\.confidence`"):
        inventory_from_document({"devices": [{"confidence": 7}]})
    doc = scan_doc([hik("44:19:b6:00:00:09", "127.60.1.9")], ctx)
    inv = inventory_from_document(doc)
    assert inv.devices[0].maker == "Hikvision" and inv.devices[0].evidence
    assert inv.devices[0].reasons == doc["devices"][0]["attribution_reasons"]


# ----- concurrent writers -----
N_WRITERS, SCANS_EACH, DEVICES_EACH = 6, 4, 15


def _write_many(url: str, writer: int, errors: list[str]) -> None:
    try:
        ctx = ScreeningContext.load()
        with Store(url) as s:
            for n in range(SCANS_EACH):
                # half the devices are shared by every writer, half are the writer's own
                devices = [hik(f"44:19:b6:00:01:{i:02x}", f"127.60.2.{i}")
                           for i in range(DEVICES_EACH // 2)]
                devices += [axis(f"ac:cc:8e:{writer:02x}:{n:02x}:{i:02x}", f"127.60.3.{i}")
                            for i in range(DEVICES_EACH - len(devices))]
                import_doc(scan_doc(devices, ctx), ctx, s, actor=f"writer-{writer}")
                screen([LineItem(id=f"{writer}-{n}", brand="EZVIZ")], ctx, s,
                             actor=f"writer-{writer}")
    except Exception as exc:  # reported to the main thread
        errors.append(f"{writer}: {exc!r}")


def _process_entry(url: str, writer: int) -> None:
    errors: list[str] = []
    _write_many(url, writer, errors)
    if errors:
        raise SystemExit(errors[0])


def _check_nothing_lost(url: str, writers: int) -> None:
    shared = DEVICES_EACH // 2
    own = DEVICES_EACH - shared
    with Store(url) as s:
        assert s.count("scans") == writers * SCANS_EACH
        assert s.count("scan_devices") == writers * SCANS_EACH * DEVICES_EACH
        assert s.count("audit_log") == writers * SCANS_EACH * 2
        # every Hikvision device and every EZVIZ line item is a finding; Axis ones are clear
        assert s.count("findings") == writers * SCANS_EACH * (shared + 1)
        assert s.count("devices") == shared + writers * SCANS_EACH * own
        for device in s.inventory.devices(limit=10_000):
            assert device["first_seen"] <= device["last_seen"]


def test_concurrent_threads_lose_nothing(url: str) -> None:
    Store(url).close()  # create the schema once
    errors: list[str] = []
    threads = [threading.Thread(target=_write_many, args=(url, w, errors))
               for w in range(N_WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not [t.name for t in threads if t.is_alive()]
    assert errors == []
    _check_nothing_lost(url, N_WRITERS)


def test_concurrent_processes_lose_nothing(url: str) -> None:
    Store(url).close()
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_process_entry, args=(url, w)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]
    _check_nothing_lost(url, 2)


class Reactions:
    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    @hookimpl
    def entityscan_scan_completed(self, scan_id, document, settings) -> None:
        self.seen.append(("scan", (scan_id, document["scan_id"], document["summary"])))

    @hookimpl
    def entityscan_inventory_changed(self, diff, settings) -> None:
        self.seen.append(("changed", diff))

    @hookimpl
    def entityscan_findings(self, events, context, settings) -> None:
        self.seen.append(("findings", (context["source"], [e.finding.subject for e in events])))


def test_saving_and_rescreening_fire_the_reaction_hooks(tmp_path: Path) -> None:
    reactions = Reactions()
    pm = make_plugin_manager(Settings(load_entrypoints=False), [reactions])
    ctx = ScreeningContext.load(hooks=pm)
    device = axis("ac:cc:8e:00:50:01", "127.60.9.20")
    device.brand, device.maker, device.model = "Institute of Fluid Physics", None, None
    with Store(f"sqlite:///{tmp_path / 'h.db'}") as store:
        saved = import_doc(scan_doc([device], ctx), ctx, store, actor="t")
        kinds = [k for k, _ in reactions.seen]
        assert kinds == ["scan", "changed"]  # a new (clear) device: no findings event
        assert reactions.seen[0][1] == (saved.scan_id, saved.scan_id,
                                        {"total": 1, "clear": 1, "review": 0, "flagged": 0,
                                         "by_maker": {}})
        reactions.seen.clear()
        wider = ScreeningContext.load(list_paths=[CSL_SAMPLE], hooks=pm)
        report = rescreened(store, wider)
        assert [c["key"] for c in report.changes] == ["mac:ac:cc:8e:00:50:01"]
        (changed,) = [v for k, v in reactions.seen if k == "changed"]
        assert changed["reason"] == "rescreen"  # type: ignore[index]
        assert changed["changed"][0]["changes"]["verdict"][0] == "clear"  # type: ignore[index]
        assert ("findings", ("rescreen", ["mac:ac:cc:8e:00:50:01"])) in reactions.seen
        reactions.seen.clear()
        assert rescreened(store, wider).changes == [] and reactions.seen == []
