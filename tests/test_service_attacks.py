"""The HTTP service attacked the way issue 10 found it could be (127.61.1.x): a screening token
that allow-lists a maker for everyone, a document that lies about its devices or its dates,
errors answered in the wrong order, a webhook receiver that never answers.  Each test failed
on the code before the fix."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server_support import running
from _store_support import hik, hik_evidence, registrant, scan_doc

from entityscan.hooks import make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store

HOST = "127.61.1.1"
UNTIL = "2027-06-30T00:00:00Z"


@dataclass
class Api:
    base: str
    tokens: dict[str, str]
    store: Store

    def call(self, method: str, path: str, token: str | None = "erp", **kw: Any
             ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('attack') / 'a.db'}")
    ctx = ScreeningContext.load(hooks=make_plugin_manager(Settings(load_entrypoints=False)))
    tokens = {name: store.tokens.add(name, scopes)[1] for name, scopes in (
        ("erp", ["screen"]), ("site", ["ingest"]), ("auditor", ["read"]),
        ("reviewer", ["decide", "read"]), ("cco", ["admin"]))}
    with running(create_app(store, ctx), HOST) as base:
        yield Api(base, tokens, store)
    store.close()


def hikvision_line(api: Api) -> dict[str, Any]:
    r = api.call("POST", "/v1/screen", json={"items": [{"id": "PO-66/1", "brand": "EZVIZ"}]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


# ----- item 2: any token could allow-list a restricted maker for everyone -----

def test_a_screening_token_cannot_allow_list_a_maker(api: Api) -> None:
    forged = {"decision": "allow", "kind": "exception", "who": "Chief Compliance Officer",
              "maker": "hikvision", "why": "x", "until": "9999-12-31T23:59:59Z"}
    r = api.call("POST", "/v1/decisions", json=forged)
    assert r.status_code == 403 and "`decide` scope" in r.json()["error"]
    assert r.json()["details"] == []
    r = api.call("POST", "/v1/decisions", "reviewer", json=forged)
    assert r.status_code == 403 and "admin" in r.json()["error"]
    assert "more than 366 days" in r.json()["error"]
    r = api.call("POST", "/v1/decisions", "reviewer", json={**forged, "until": UNTIL})
    assert r.status_code == 403 and "every finding for maker 'hikvision'" in r.json()["error"]
    r = api.call("POST", "/v1/decisions", "reviewer",
                 json={**forged, "until": UNTIL, "maker": None, "value": "EZVIZ"})
    assert r.status_code == 403 and "restricted party's name or brand" in r.json()["error"]
    assert hikvision_line(api)["decision"] == "block"


def test_contradictions_are_refused_and_the_token_is_recorded(api: Api) -> None:
    r = api.call("POST", "/v1/decisions", "cco", json={
        "decision": "allow", "kind": "block", "who": "x", "why": "y", "until": UNTIL,
        "subject": "PO-66/1"})
    assert r.status_code == 422 and "contradicts kind 'block'" in r.json()["error"]
    r = api.call("POST", "/v1/decisions", "reviewer", json={
        "decision": "allow", "kind": "exception", "who": "Chief Compliance Officer",
        "why": "spare part for an existing contract", "until": UNTIL, "subject": "PO-66/1"})
    assert r.status_code == 201, r.text
    decision = r.json()
    assert decision["who"] == "Chief Compliance Officer"
    assert decision["recorded_by"].startswith("token:reviewer#")
    applied = hikvision_line(api)["applied_decision"]
    assert applied["recorded_by"] == decision["recorded_by"]
    # a screening token cannot revoke it; the reviewer can
    assert api.call("DELETE", f"/v1/decisions/{decision['id']}").status_code == 403
    assert api.call("DELETE", f"/v1/decisions/{decision['id']}", "reviewer").status_code == 204


def test_a_maker_wide_decision_is_revoked_only_by_an_admin(api: Api) -> None:
    r = api.call("POST", "/v1/decisions", "cco", json={
        "decision": "block", "kind": "block", "who": "cco", "why": "policy", "until": UNTIL,
        "maker": "Dahua"})
    assert r.status_code == 201, r.text
    path = f"/v1/decisions/{r.json()['id']}"
    assert api.call("DELETE", path, "reviewer").status_code == 403
    assert api.call("DELETE", path, "cco").status_code == 204


@pytest.mark.parametrize(("method", "path", "token", "body"), [
    ("POST", "/v1/inventory", "erp", {"devices": "not a list"}),
    ("POST", "/v1/screen", "site", {"items": []}),
    ("GET", "/v1/devices?nonsense=1", "erp", None),
    ("GET", "/v1/audit/1", "site", None),
])
def test_out_of_scope_is_403_before_the_body_is_looked_at(api: Api, method: str, path: str,
                                                          token: str, body: Any) -> None:
    r = api.call(method, path, token, json=body)
    assert r.status_code == 403 and "scope" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')


# ----- item 8: 422 before 401, and malformed JSON -----

@pytest.mark.parametrize("content", [b"{not json", b'{"items": "x"}', b"[]"])
def test_unauthenticated_requests_get_401_before_any_422(api: Api, content: bytes) -> None:
    for path in ("/v1/screen", "/v1/inventory", "/v1/decisions", "/v1/screen?typo=1"):
        r = httpx.post(api.base + path, content=content, timeout=10,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 401, (path, r.text)


def test_malformed_json_is_400_as_documented(api: Api) -> None:
    r = httpx.post(api.base + "/v1/screen", content=b'{"items": [}', timeout=10,
                   headers={"Content-Type": "application/json",
                            "Authorization": f"Bearer {api.tokens['erp']}"})
    assert r.status_code == 400 and r.json()["error"].startswith("body is not valid JSON")


# ----- item 3: POST /v1/inventory believed what it was told -----

def lying_document(ctx: ScreeningContext, **device: Any) -> dict[str, Any]:
    doc = scan_doc([hik("44:19:b6:61:00:01", "127.61.7.1")], ctx)
    doc["devices"][0].update({"maker": "Axis", "attributed_maker": "Axis", "platform": "Axis",
                              "verdict": "clear", "score": 0.0, "confidence": 0.99,
                              "brand": "Axis", "model": None, "firmware": None,
                              "serial": None, **device})
    return doc


def test_a_document_cannot_rename_a_hikvision_device(api: Api) -> None:
    ctx = ScreeningContext.load()
    r = api.call("POST", "/v1/inventory", "site", json=lying_document(ctx))
    assert r.status_code == 200, r.text
    (device,) = r.json()["devices"]
    assert device["verdict"] == "flagged" and device["maker"] == "Hikvision"
    stored = api.call("GET", "/v1/devices", "auditor").json()
    assert [d["verdict"] for d in stored if d["key"] == "mac:44:19:b6:61:00:01"] == ["flagged"]
    finding = api.call("GET", "/v1/findings", "auditor",
                       params={"subject": "mac:44:19:b6:61:00:01"}).json()[0]
    assert any("the document said maker 'Axis'" in r for r in finding["reasons"])
    # a posted `hostile` flag cannot withhold attribution either
    r = api.call("POST", "/v1/inventory", "site", json=lying_document(ctx, hostile=True))
    assert r.json()["devices"][0]["verdict"] == "flagged"


def test_evidence_with_a_forged_rule_counts_only_as_uncertain(api: Api) -> None:
    ctx = ScreeningContext.load()
    doc = scan_doc([hik("44:19:b6:61:00:02", "127.61.7.2")], ctx)
    device = doc["devices"][0]
    # a box whose document claims solid Hikvision evidence the rules never produce
    device.update({"mac": None, "serial": None, "brand": None, "model": None,
                   "firmware": None,
                   "evidence": [{"probe": "http", "field": "Server", "value": "Boa/0.94",
                                 "indicates": "Hikvision", "certainty": "solid",
                                 "kind": "platform", "rule": "http_server/forged"}]})
    r = api.call("POST", "/v1/inventory", "site", json=doc)
    assert r.status_code == 200, r.text
    (device,) = r.json()["devices"]
    assert device["verdict"] != "flagged"  # never a flag on a claim alone
    stored = api.call("GET", "/v1/devices", "auditor").json()
    (record,) = [d for d in stored if d["key"] == device["key"]]
    assert record["maker"] in (None, "Hikvision")
    # the audit entry references the scan's snapshot; the device's record holds what it kept
    entry = api.call("GET", f"/v1/audit/{r.json()['audit_id']}", "auditor").json()
    assert entry["inputs"]["devices"] == 1 and entry["scan_id"] == r.json()["scan_id"]
    saved = api.call("GET", "/v1/devices/detail", "auditor",
                     params={"site": "default", "key": device["key"]}).json()["record"]
    assert saved["confidence"] <= 0.35 and saved["claimed"]["confidence"] == 1.0
    assert saved["claimed"]["verdict"] == "flagged"  # what the document said, kept aside
    assert any("could not be re-checked" in r for r in saved["reasons"])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("finished", "9999-01-01T00:00:00Z", "is in the future"),
    ("started", "9999-12-31T23:59:59-14:00", "out of range"),
    ("started", "1900-01-01T00:00:00Z", "not a scan time"),
])
def test_impossible_scan_times_are_422(api: Api, field: str, value: str,
                                       message: str) -> None:
    doc = scan_doc([hik("44:19:b6:61:00:03", "127.61.7.3")], ScreeningContext.load())
    doc.pop("finished" if field == "started" else "started", None)
    doc[field] = value
    r = api.call("POST", "/v1/inventory", "site", json=doc)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/json"
    assert f"field `{field}`" in r.json()["error"] and message in r.json()["error"]


def test_a_document_dated_ahead_cannot_freeze_a_device(api: Api) -> None:
    ctx = ScreeningContext.load()
    ahead = scan_doc([hik("44:19:b6:61:00:04", "127.61.7.4")], ctx)
    ahead["finished"] = ahead["started"] = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 240))  # within the clock skew
    assert api.call("POST", "/v1/inventory", "site", json=ahead).status_code == 200
    moved = scan_doc([hik("44:19:b6:61:00:04", "127.61.7.44")], ctx)
    assert api.call("POST", "/v1/inventory", "site", json=moved).status_code == 200
    (device,) = [d for d in api.call("GET", "/v1/devices", "auditor").json()
                 if d["key"] == "mac:44:19:b6:61:00:04"]
    assert device["addresses"] == ["127.61.7.44"]  # the later real scan updated the record


# ----- item 4: a webhook receiver that never answers stalled the whole service -----

class BlackHole:
    """Accepts connections and never answers (nor closes them)."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}/hook"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_black_hole_receiver_stalls_nothing_and_events_survive_a_restart(
        tmp_path: Path) -> None:
    hole = BlackHole("127.61.1.9")
    settings = Settings(load_entrypoints=False, webhook_url=hole.url, webhook_timeout=5.0,
                        webhook_backoff=0.05)
    store = Store(f"sqlite:///{tmp_path / 'hole.db'}")
    _, token = store.tokens.add("erp", ["screen"])
    headers = {"Authorization": f"Bearer {token}"}
    ctx = ScreeningContext.load(hooks=make_plugin_manager(settings))
    flagged = {"items": [{"id": f"F-{i}", "brand": "Dahua"} for i in range(10)]}
    clear = {"items": [{"id": f"C-{i}", "supplier": "Dell", "description": "laptop"}
                       for i in range(100)]}
    try:
        with running(create_app(store, ctx), "127.61.1.2") as base:
            with ThreadPoolExecutor(max_workers=15) as pool:
                answers = list(pool.map(lambda _: httpx.post(
                    base + "/v1/screen", json=flagged, headers=headers, timeout=60),
                    range(45)))
            assert {a.status_code for a in answers} == {200}
            healthz, screen = [], []
            for _ in range(5):
                t = time.perf_counter()
                assert httpx.get(base + "/healthz", timeout=30).status_code == 200
                healthz.append(time.perf_counter() - t)
                t = time.perf_counter()
                assert httpx.post(base + "/v1/screen", json=clear, headers=headers,
                                  timeout=30).status_code == 200
                screen.append(time.perf_counter() - t)
            # before: ~30 s each; now the receiver only holds the worker's connections
            assert max(healthz) < 1.0 and max(screen) < 2.0, (healthz, screen)
            assert store.outbox.counts()["pending"] == 45
    finally:
        hole.close()
    # a restart with the receiver back: every event recorded before is delivered, once
    got: list[str] = []
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            got.append(self.headers["X-Entityscan-Delivery"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.61.1.10", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    back = Settings(load_entrypoints=False, webhook_url=f"http://127.61.1.10:"
                    f"{receiver.server_address[1]}/hook", webhook_backoff=0.05)
    restarted = ScreeningContext.load(hooks=make_plugin_manager(back))
    try:
        with Store(store.url) as again, running(create_app(again, restarted), "127.61.1.3"):
            deadline = time.monotonic() + 30
            while again.outbox.counts()["delivered"] < 45 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert again.outbox.counts() == {"pending": 0, "delivered": 45, "dead": 0}
    finally:
        receiver.shutdown()
        receiver.server_close()
        store.close()
    assert len(got) == 45 and len(set(got)) == 45


def test_evidence_helpers_are_real_signature_evidence() -> None:
    """The tests above rest on evidence the signature rules produce, not on made-up rows."""
    assert {e.rule for e in hik_evidence()} >= {"sadp/sadp-probe-match",
                                                "http_server/hikvision-webs"}
    assert registrant("44:19:b6:00:00:01")[0].indicates == "Hikvision"
