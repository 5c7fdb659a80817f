"""The HTTP service on a real uvicorn server (127.60.5.x): auth, limits, screening with
decisions, inventory, diffs, the served OpenAPI schema, and the `serve` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server_support import free_port, running
from _store_support import axis, hik, relabelled, scan_doc

from entityscan.hooks import hookimpl, make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.60.5.1"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[list[Any], dict[str, Any]]] = []

    @hookimpl
    def entityscan_findings(self, events, context, settings) -> None:
        self.events.append((list(events), context))


@dataclass
class Service:
    base: str
    token: str
    admin: str
    revoked: str
    store: Store
    ctx: ScreeningContext
    recorder: Recorder

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return httpx.post(self.base + path, json=body, headers=self.auth(), timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.auth(), timeout=30, **kw)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('svc') / 'svc.db'}")
    recorder = Recorder()
    ctx = ScreeningContext.load(hooks=make_plugin_manager(Settings(load_entrypoints=False),
                                                          [recorder]))
    _, token = store.tokens.add("erp", ["screen", "ingest", "read", "decide"])
    _, admin = store.tokens.add("compliance", ["admin"])
    _, revoked = store.tokens.add("old")
    store.tokens.revoke(name="old")
    with running(create_app(store, ctx, max_body_bytes=2 * 1024 * 1024), HOST) as base:
        yield Service(base, token, admin, revoked, store, ctx, recorder)
    store.close()


PROTECTED = [("POST", "/v1/screen"), ("POST", "/v1/inventory"), ("GET", "/v1/lists"),
             ("GET", "/v1/devices"), ("GET", "/v1/findings"), ("GET", "/v1/scans/1/diff"),
             ("POST", "/v1/decisions"), ("GET", "/v1/decisions"), ("GET", "/v1/audit/1")]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_healthz_needs_a_valid_token(service: Service, method: str,
                                                     path: str) -> None:
    body = {"items": [{"id": "1"}]} if method == "POST" else None
    for headers in ({}, {"Authorization": "Bearer es_wrong"},
                    {"Authorization": f"Bearer {service.revoked}"},
                    {"Authorization": f"Basic {service.token}"}):
        r = httpx.request(method, service.base + path, json=body, headers=headers, timeout=10)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]
    assert httpx.get(service.base + "/healthz").json()["status"] == "ok"


def test_screen_batch_findings_decisions_and_audit(service: Service) -> None:
    items = [{"id": "PO-1/1", "brand": "EZVIZ", "extra": {"cost_centre": "F-12"}},
             {"id": "PO-1/2", "supplier": "Dell", "description": "laptop"},
             {"id": "PO-1/3", "manufacturer": "ANNKE"}]
    r = service.post("/v1/screen", {"items": items})
    assert r.status_code == 200, r.text
    doc = r.json()
    results = {x["id"]: x for x in doc["results"]}
    assert results["PO-1/1"]["verdict"] == "flagged" and results["PO-1/1"]["decision"] == "block"
    assert results["PO-1/1"]["maker"] == "Hikvision" and results["PO-1/1"]["matches"]
    assert results["PO-1/2"]["decision"] == "allow"
    assert results["PO-1/3"]["decision"] in ("review", "block")
    assert {x["audit_id"] for x in doc["results"]} == {doc["audit_id"]}
    assert doc["lists_content_hash"] == service.ctx.lists.content_hash
    entry = service.get(f"/v1/audit/{doc['audit_id']}").json()
    assert entry["actor"].startswith("token:erp#") and entry["action"] == "screen"
    assert entry["inputs"]["items"][0]["extra"] == {"cost_centre": "F-12"}
    assert [r["decision"] for r in entry["result"]["results"]][:2] == ["block", "allow"]
    assert entry["lists_content_hash"] == doc["lists_content_hash"]
    assert service.get("/v1/audit/99999999").status_code == 404
    # the reaction hook ran after the response, with the audit id
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
            c.get("audit_id") == doc["audit_id"] for _, c in service.recorder.events):
        time.sleep(0.05)
    events, context = next((e, c) for e, c in service.recorder.events
                           if c.get("audit_id") == doc["audit_id"])
    assert {e.finding.subject for e in events} >= {"PO-1/1"} and "PO-1/2" not in {
        e.finding.subject for e in events}
    assert context["source"] == "service" and context["actor"].startswith("token:erp")


def test_limits_are_clear_4xx(service: Service) -> None:
    r = service.post("/v1/screen", {"items": [{"id": str(i)} for i in range(1001)]})
    assert r.status_code == 422 and "at most 1000" in r.json()["error"]
    assert service.post("/v1/screen", {"items": []}).status_code == 422
    r = service.post("/v1/screen", {"items": [{"id": "1", "nonsense": 1}]})
    assert r.status_code == 422 and "nonsense" in r.json()["error"]
    big = b'{"items": [{"id": "x", "description": "' + b"a" * (3 * 1024 * 1024) + b'"}]}'
    r = httpx.post(service.base + "/v1/screen", content=big, timeout=30,
                   headers={**service.auth(), "Content-Type": "application/json"})
    assert r.status_code == 413 and "over the limit of 2,097,152 bytes" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
        yield b'{"items": [{"id": "x", "description": "'
        for _ in range(40):
            yield b"a" * 100_000
        yield b'"}]}'

    r = httpx.post(service.base + "/v1/screen", content=chunks(), timeout=30,
                   headers={**service.auth(), "Content-Type": "application/json"})
    assert r.status_code == 413
    r = httpx.post(service.base + "/v1/screen", content=b"{not json", timeout=30,
                   headers={**service.auth(), "Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]


def test_decisions_positive_list_and_expiry(service: Service) -> None:
    item = {"items": [{"id": "PO-9/1", "brand": "HiLook", "supplier": "Acme"}]}
    before = service.post("/v1/screen", item).json()["results"][0]
    assert before["decision"] == "block" and before["applied_decision"] is None
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = service.post("/v1/decisions", {"decision": "allow", "kind": "exception", "who": "cfo",
                                       "why": "x", "until": past, "subject": "PO-9/1"})
    assert r.status_code == 422 and "past" in r.json()["error"]
    r = service.post("/v1/decisions", {"decision": "allow", "kind": "exception", "who": "x",
                                       "why": "no scope", "until": "2099-01-01T00:00:00Z"})
    assert r.status_code == 422 and "at least one of subject" in r.json()["error"]
    until = datetime.now(UTC) + timedelta(seconds=2)
    r = service.post("/v1/decisions", {
        "decision": "allow", "kind": "exception", "who": "j.doe (compliance)",
        "why": "replacement part under an existing maintenance contract",
        "until": until.isoformat(), "subject": "PO-9/1"})
    assert r.status_code == 201, r.text
    decision = r.json()
    assert decision["recorded_by"].startswith("token:erp") and decision["active"]
    during = service.post("/v1/screen", item).json()["results"][0]
    assert during["verdict"] == "flagged" and during["decision"] == "allow"
    assert during["applied_decision"]["who"] == "j.doe (compliance)"
    assert during["applied_decision"]["decision_id"] == decision["id"]
    # visible in stored findings too
    stored = service.get("/v1/findings", params={"subject": "PO-9/1"}).json()
    assert stored and all(f["decision"] == "allow" for f in stored)
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
    after = service.post("/v1/screen", item).json()["results"][0]
    assert after["decision"] == "block" and after["applied_decision"] is None
    assert not [d for d in service.get("/v1/decisions", params={"active_only": True}).json()
                if d["id"] == decision["id"]]
    # revoking (a decision on a whole brand is an admin's, and so is revoking it)
    r = httpx.post(service.base + "/v1/decisions", headers=service.auth(service.admin),
                   json={"decision": "allow", "kind": "false_positive", "who": "a",
                         "why": "b", "value": "hilook", "until": "2099-01-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    assert service.post("/v1/screen", item).json()["results"][0]["decision"] == "allow"
    refused = httpx.delete(f"{service.base}/v1/decisions/{r.json()['id']}",
                           headers=service.auth())
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    gone = httpx.delete(f"{service.base}/v1/decisions/{r.json()['id']}",
                        headers=service.auth(service.admin))
    assert gone.status_code == 204
    assert service.post("/v1/screen", item).json()["results"][0]["decision"] == "block"
    assert httpx.delete(f"{service.base}/v1/decisions/{r.json()['id']}",
                        headers=service.auth(service.admin)).status_code == 404


def test_inventory_devices_findings_diff_lists(service: Service) -> None:
    ctx = service.ctx
    first = service.post("/v1/inventory", scan_doc(
        [hik("44:19:b6:aa:00:01", "127.60.7.1"), axis("ac:cc:8e:aa:00:02", "127.60.7.2")], ctx))
    assert first.status_code == 200, first.text
    assert first.json()["summary"]["flagged"] == 1
    ezviz = relabelled("ac:cc:8e:aa:00:02", "127.60.7.2", "EZVIZ")
    second = service.post("/v1/inventory", scan_doc(
        [ezviz, axis("ac:cc:8e:aa:00:03", "127.60.7.3")], ctx)).json()
    assert second["diff"]["scan_a"] == first.json()["scan_id"]
    assert second["diff"]["new"] == 1 and second["diff"]["gone"] == 1
    diff = service.get(f"/v1/scans/{second['scan_id']}/diff").json()
    assert [d["key"] for d in diff["newly_flagged"]] == ["mac:ac:cc:8e:aa:00:02"]
    assert service.get("/v1/scans/999999/diff").status_code == 404
    devices = {d["key"]: d for d in service.get("/v1/devices", params={"limit": 1000}).json()}
    assert devices["mac:44:19:b6:aa:00:01"]["verdict"] == "flagged"
    assert devices["mac:ac:cc:8e:aa:00:02"]["decision"] == "block"
    flagged = service.get("/v1/devices", params={"verdict": "flagged", "limit": 1000}).json()
    assert all(d["verdict"] == "flagged" for d in flagged)
    findings = service.get("/v1/findings", params={"scan_id": second["scan_id"]}).json()
    assert [f["subject"] for f in findings] == ["mac:ac:cc:8e:aa:00:02"]
    lists = service.get("/v1/lists").json()
    assert lists["lists_content_hash"] == ctx.lists.content_hash and lists["sources"]
    bad = service.post("/v1/inventory", {"schema": "entityscan.screen/1", "devices": []})
    assert bad.status_code == 422 and "body.schema" in bad.json()["error"]
    bad = service.post("/v1/inventory", {"devices": [{"confidence": 3}]})
    assert bad.status_code == 422 and "confidence" in bad.json()["error"]


def test_openapi_schema_is_served(service: Service) -> None:
    schema = httpx.get(service.base + "/openapi.json").json()
    assert {"/v1/screen", "/v1/inventory", "/v1/lists", "/v1/devices", "/v1/findings",
            "/v1/scans/{scan_id}/diff", "/v1/decisions", "/healthz"} <= set(schema["paths"])
    items = schema["components"]["schemas"]["ScreenRequest"]["properties"]["items"]
    assert items["maxItems"] == 1000


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entityscan", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60, check=False,
                          env={**os.environ, **(env or {})})


def test_serve_refuses_a_public_bind_without_tokens(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    run = run_cli("serve", "--host", "0.0.0.0", "--db", db)
    assert run.returncode == 2 and "no API token exists" in run.stderr


def test_serve_and_tokens_commands_end_to_end(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'b.db'}"
    added = run_cli("tokens", "add", "erp", "--db", db)  # the default scope: screen
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("es_") and token not in run_cli("tokens", "list", "--db", db).stdout
    host, port = "127.60.5.2", free_port("127.60.5.2")
    proc = subprocess.Popen([sys.executable, "-m", "entityscan", "serve", "--host", host,
                             "--port", str(port), "--db", db], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://{host}:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        ok = httpx.post(base + "/v1/screen", json={"items": [{"id": "1", "brand": "Dahua"}]},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["results"][0]["decision"] == "block"
        assert run_cli("tokens", "revoke", "--name", "erp", "--db", db).returncode == 0
        refused = httpx.post(base + "/v1/screen", json={"items": [{"id": "1"}]},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert refused.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert token not in (proc.stderr.read() if proc.stderr else "")
    listed = json.loads(run_cli("tokens", "list", "--db", db, "-f", "json").stdout)
    assert listed[0]["revoked_at"] and listed[0]["scopes"] == ["screen"]
    assert run_cli("tokens", "revoke", "--name", "erp", "--db", db).returncode == 2


def test_a_lists_update_is_swapped_in_without_restart(tmp_path: Path) -> None:
    from entityscan.lists.registry import update_lists
    from entityscan.service.refresh import ContextSource

    data = tmp_path / "data"
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    _, token = store.tokens.add("r", ["screen"])
    contexts = ContextSource(lambda: ScreeningContext.load(data_dir=data), data, check_every=0)
    item = {"items": [{"id": "1", "supplier": "Institute of Fluid Physics"}]}
    headers = {"Authorization": f"Bearer {token}"}
    with running(create_app(store, contexts), "127.60.5.3") as base:
        before = httpx.post(base + "/v1/screen", json=item, headers=headers).json()
        assert before["results"][0]["verdict"] == "clear"
        update_lists(ROOT / "fixtures" / "lists" / "csl_sample.csv", data)
        after = httpx.post(base + "/v1/screen", json=item, headers=headers).json()
        assert after["results"][0]["verdict"] != "clear"
        assert after["lists_content_hash"] != before["lists_content_hash"]
        lists = httpx.get(base + "/v1/lists", headers=headers).json()
        assert lists["lists_content_hash"] == after["lists_content_hash"]
    store.close()


def test_vanished_or_corrupt_installed_lists_keep_the_last_good_index(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The service once dropped silently to the bundled lists when the installed copy
    disappeared; now it keeps the last good index and says `degraded`."""
    import logging
    import shutil

    from entityscan.lists.registry import update_lists
    from entityscan.service.refresh import ContextSource

    data = tmp_path / "data"
    update_lists(ROOT / "fixtures" / "lists" / "csl_sample.csv", data)
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    _, token = store.tokens.add("r", ["screen"])
    contexts = ContextSource(lambda: ScreeningContext.load(data_dir=data), data, check_every=0)
    item = {"items": [{"id": "1", "supplier": "Institute of Fluid Physics"}]}
    headers = {"Authorization": f"Bearer {token}"}
    with running(create_app(store, contexts), "127.61.5.1") as base:
        good = httpx.post(base + "/v1/screen", json=item, headers=headers).json()
        assert good["results"][0]["verdict"] != "clear"
        assert httpx.get(base + "/healthz").json() == {
            "status": "ok", "problems": [], "lists_content_hash": good["lists_content_hash"]}
        copy = data / "csl" / "current.dat"
        copy.write_bytes(copy.read_bytes()[:300])  # corrupted in place
        with caplog.at_level(logging.ERROR, logger="entityscan.service"):
            health = httpx.get(base + "/healthz").json()
            assert health["status"] == "degraded" and "does not match" in health["problems"][0]
            shutil.rmtree(data / "csl")  # and then gone altogether
            health = httpx.get(base + "/healthz").json()
        assert health["status"] == "degraded" and "disappeared" in health["problems"][0]
        assert "disappeared" in caplog.text
        still = httpx.post(base + "/v1/screen", json=item, headers=headers).json()
        assert still["lists_content_hash"] == good["lists_content_hash"]
        assert still["results"][0]["verdict"] == good["results"][0]["verdict"]
        update_lists(ROOT / "fixtures" / "lists" / "csl_sample.csv", data)  # a good copy again
        assert httpx.get(base + "/healthz").json()["status"] == "ok"
    store.close()
