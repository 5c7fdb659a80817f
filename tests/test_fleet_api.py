"""The fleet over HTTP (127.64.3.x): sites, site filters, device detail, queued ingest,
/metrics, and the dashboard at /ui driven in headless Chromium over the DevTools protocol —
pages render, filters work, a flagged device's evidence is two clicks from the start page,
hostile text stays text, and no request leaves the origin."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from _server_support import running
from _store_support import axis, hik, scan_doc
from prometheus_client.parser import text_string_to_metric_families

from entityscan.scanners.inventory import Device
from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store

HOST = "127.64.3.1"
SINK = "127.64.3.9"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = "<img src=http://198.51.100.9/x.png onerror=alert(1)>"


@dataclass
class Fleet:
    base: str
    store: Store
    tokens: dict[str, str]
    sent: dict[str, dict[str, Any]]

    def get(self, path: str, token: str = "reader", **params: Any) -> httpx.Response:
        return httpx.get(self.base + path, params=params, timeout=30,
                         headers={"Authorization": f"Bearer {self.tokens[token]}"})

    def push(self, doc: dict[str, Any], prefer: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens['agent']}"}
        if prefer:
            headers["Prefer"] = prefer
        return httpx.post(self.base + "/v1/inventory", json=doc, headers=headers, timeout=60)


def wait_for(check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fleet') / 'f.db'}")
    tokens = {name: store.tokens.add(name, scopes)[1] for name, scopes in (
        ("reader", ["read"]), ("agent", ["ingest"]), ("prometheus", ["metrics"]))}
    ctx = ScreeningContext.load()
    with running(create_app(store, ctx), HOST) as base:
        fleet = Fleet(base, store, tokens, {})
        north = scan_doc([hik("44:19:b6:33:00:01", "10.10.0.2"),
                          axis("00:40:8c:33:00:02", "10.10.0.3"),
                          Device(addresses=["10.10.0.4"], brand=HOSTILE, model=HOSTILE,
                                 device_class="camera")], ctx)
        north.update(site="north", document_id="north:first")
        assert fleet.push(north).status_code == 200
        later = scan_doc([hik("44:19:b6:33:00:01", "10.10.0.2"),
                          hik("44:19:b6:33:00:05", "10.10.0.5")], ctx)
        later.update(site="north", document_id="north:second")
        r = fleet.push(later, prefer="respond-async")  # what agents send
        assert r.status_code == 202 and r.json()["queued"] is True, r.text
        south = scan_doc([axis("00:40:8c:44:00:01", "10.20.0.3")], ctx)
        south.update(site="south", document_id="south:first")
        assert fleet.push(south).status_code == 200
        fleet.sent["south"] = south
        wait_for(lambda: store.count("scans") == 3)
        yield fleet
    store.close()


def test_sites_at_a_glance(fleet: Fleet) -> None:
    sites = {s["site"]: s for s in fleet.get("/v1/sites").json()}
    assert set(sites) == {"north", "south"}
    assert sites["north"]["flagged"] == 2 and sites["north"]["devices"] == 4
    assert sites["north"]["last_scan_devices"] == 2 and sites["north"]["scans"] == 2
    assert sites["south"]["flagged"] == 0 and sites["south"]["stale"] is False
    assert fleet.get("/v1/sites", site="south").json()[0]["site"] == "south"
    assert fleet.get("/v1/sites", site="No Such/Site").status_code == 422


def test_devices_filter_by_site_verdict_maker_and_text(fleet: Fleet) -> None:
    flagged = fleet.get("/v1/devices", site="north", verdict="flagged").json()
    assert {d["key"] for d in flagged} == {"mac:44:19:b6:33:00:01", "mac:44:19:b6:33:00:05"}
    assert all(d["site"] == "north" for d in flagged)
    assert fleet.get("/v1/devices", site="south", verdict="flagged").json() == []
    assert [d["key"] for d in fleet.get("/v1/devices", q="P3265").json()] == [
        "mac:00:40:8c:33:00:02", "mac:00:40:8c:44:00:01"]
    assert len(fleet.get("/v1/devices", maker="Hikvision").json()) == 2
    # LIKE wildcards in the search are literal
    assert fleet.get("/v1/devices", q="%").json() == []


def test_device_detail_has_its_evidence_and_history_and_diffs_are_per_site(
        fleet: Fleet) -> None:
    d = fleet.get("/v1/devices/detail", site="north", key="mac:44:19:b6:33:00:01").json()
    assert d["verdict"] == "flagged" and d["matches"] and d["record"]["evidence"]
    assert [h["verdict"] for h in d["history"]] == ["flagged", "flagged"]
    assert fleet.get("/v1/devices/detail", site="south",
                     key="mac:44:19:b6:33:00:01").status_code == 404
    (latest,) = fleet.get("/v1/scans", site="north", limit=1).json()
    diff = fleet.get(f"/v1/scans/{latest['id']}/diff").json()
    assert diff["site"] == "north" and diff["summary"]["new"] == 1 and \
        diff["summary"]["gone"] == 2
    findings = fleet.get("/v1/findings", site="north").json()
    assert findings and {f["site"] for f in findings} == {"north"}


def test_repeats_are_recognised_and_a_reused_id_is_refused(fleet: Fleet) -> None:
    doc = fleet.sent["south"]
    for prefer in (None, "respond-async"):
        r = fleet.push(doc, prefer=prefer)
        assert r.status_code == 200 and r.json()["duplicate"] is True, r.text  # stored before
        assert r.json()["scan_id"] == fleet.get("/v1/scans", site="south").json()[0]["id"]
    assert len(fleet.get("/v1/scans", site="south").json()) == 1
    other = scan_doc([axis("00:40:8c:44:00:09", "10.20.0.9")], ScreeningContext.load())
    other.update(site="south", document_id="south:first")
    for prefer in (None, "respond-async"):
        r = fleet.push(other, prefer=prefer)
        assert r.status_code == 409 and "different content" in r.json()["error"]
    no_id = {k: v for k, v in doc.items() if k != "document_id"}
    r = fleet.push(no_id, prefer="respond-async")
    assert r.status_code == 422 and "document_id" in r.json()["error"]


def test_metrics_need_their_scope_and_count_what_happened(fleet: Fleet) -> None:
    assert httpx.get(fleet.base + "/metrics", timeout=10).status_code == 401
    assert fleet.get("/metrics", token="reader").status_code == 403
    r = fleet.get("/metrics", token="prometheus")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    devices = {s.labels["verdict"]: s.value for s in families["entityscan_devices"].samples}
    assert devices == {"flagged": 2.0, "review": 0.0, "clear": 3.0}
    assert families["entityscan_sites"].samples[0].value == 2
    assert families["entityscan_ingested_devices"].samples[0].value >= 6
    requests = [s for s in families["entityscan_http_requests"].samples
                if s.labels.get("route") == "/v1/sites" and s.labels["status"] == "200"]
    assert requests and requests[0].value >= 1
    assert "entityscan_http_request_duration_seconds" in families
    assert "entityscan_outbox_events" in families and "entityscan_lists_age_seconds" in families
    queue = {s.labels["status"]: s.value for s in families["entityscan_ingest_queue"].samples}
    assert queue == {"pending": 0.0, "failed": 0.0}
    # labels are route templates: a scanner of URLs cannot grow them
    fleet.get("/v1/audit/987654", token="reader")
    text = fleet.get("/metrics", token="prometheus").text
    assert 'route="/v1/audit/{audit_id}"' in text and "987654" not in text


def test_the_dashboard_page_and_assets_come_from_here_only(fleet: Fleet) -> None:
    page = httpx.get(fleet.base + "/ui", timeout=10)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    refs = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    assert refs and all(r.startswith(("/ui/", "#")) for r in refs), refs
    for ref in refs:
        if ref.startswith("/ui/assets/"):
            asset = httpx.get(fleet.base + ref, timeout=10)
            assert asset.status_code == 200 and len(asset.content) > 300, ref
    assert httpx.get(fleet.base + "/ui/assets/nope.js", timeout=10).status_code == 404
    script = httpx.get(fleet.base + "/ui/assets/dashboard.js", timeout=10).text
    assert "innerHTML" not in script and "eval(" not in script


# --- the dashboard in a browser ---------------------------------------------------------------
class Browser:
    """Headless Chromium driven over the DevTools protocol; every request it makes to another
    host goes to a black-hole proxy, and every request the page makes is recorded."""

    def __init__(self) -> None:
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="entityscan-ui-")
        self.proc = subprocess.Popen(
            [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
             f"--user-data-dir={self.profile}", f"--proxy-server=http://{SINK}:9",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "about:blank"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert self.proc.stderr is not None
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port is not None, "chromium did not start its DevTools endpoint"
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        target = next(p for p in pages if p["type"] == "page")
        self.ws = connect(target["webSocketDebuggerUrl"], max_size=2**24).__enter__()
        self.next_id = 0
        self.requests: list[str] = []
        for method in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.call(method)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return dict(message.get("result") or {})

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def until(self, expression: str, seconds: float = 30) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
            # while a page loads, its body may not exist yet: that is "not yet", not an error
            value = None if "exceptionDetails" in result else result["result"].get("value")
            if value:
                return value
            time.sleep(0.1)
        view = self.js("document.body && document.body.dataset.view")
        status = self.js("(document.getElementById('status') || {}).textContent")
        raise AssertionError(f"never true: {expression}; view {view}, status {status}")

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=20)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package "
                                               "`chromium`; .ci/run installs it)")
def test_the_dashboard_in_a_browser(fleet: Fleet) -> None:
    browser = Browser()
    try:
        # the control: a page that fetches from another host is seen doing so
        browser.call("Page.navigate", url="data:text/html,<img src='http://198.51.100.7/x.png'>")
        browser.until("document.readyState === 'complete'")
        assert any("198.51.100.7" in u for u in browser.requests), browser.requests
        browser.requests.clear()
        browser.call("Page.navigate", url=fleet.base + "/ui")
        browser.until("document.body.dataset.view === 'login'")
        # a wrong token is refused and asked again
        browser.js("document.getElementById('token').value = 'es_wrong';"
                   "document.getElementById('login').requestSubmit()")
        browser.until("document.body.dataset.view === 'login' && "
                      "document.getElementById('login-error').textContent.length > 0")
        browser.js(f"document.getElementById('token').value = {fleet.tokens['reader']!r};"
                   "document.getElementById('login').requestSubmit()")
        browser.until("document.body.dataset.view === 'sites'")
        assert browser.js("document.getElementById('count-sites').textContent") == "2"
        assert browser.js("document.getElementById('count-flagged').textContent") == "2"
        assert browser.js("sessionStorage.getItem('entityscan.token')") == \
            fleet.tokens["reader"]
        assert browser.js("localStorage.length") == 0  # never beyond the session
        # sites filter: only those with flagged devices
        browser.js("document.getElementById('f-only').value = 'flagged';"
                   "document.getElementById('site-filter').dispatchEvent("
                   "new Event('change'))")
        browser.until("document.body.dataset.view === 'sites' && "
                      "location.hash.includes('only=flagged')")
        assert browser.js("Array.from(document.querySelectorAll('#sites tbody tr'))"
                          ".map(r => r.cells[0].textContent)") == ["north"]
        # click 1: the site (its flagged devices)
        browser.js("document.querySelector('#sites tbody a').click()")
        browser.until("document.body.dataset.view === 'site'")
        rows = browser.js("Array.from(document.querySelectorAll('#devices tbody tr'))"
                          ".map(r => r.cells[0].textContent)")
        assert rows == ["flagged", "flagged"]
        assert "1 new" in browser.js("document.getElementById('changes').textContent")
        # click 2: a flagged device, its evidence trail
        browser.js("document.querySelector('#devices tbody a').click()")
        browser.until("document.body.dataset.view === 'device'")
        evidence = browser.js("document.getElementById('evidence').textContent")
        assert "sadp" in evidence and "Hikvision" in evidence
        assert browser.js("document.querySelectorAll('#history tbody tr').length") == 2
        assert browser.js("document.getElementById('matches').textContent").strip()
        # filters on a site: clear devices only, then a text search
        browser.js("location.hash = '#/site/north'")
        browser.until("document.body.dataset.view === 'site' && "
                      "document.querySelectorAll('#devices tbody tr').length === 4")
        browser.js("document.getElementById('f-verdict').value = 'clear';"
                   "document.getElementById('controls').dispatchEvent(new Event('change'))")
        browser.until("document.body.dataset.view === 'site' && "
                      "location.hash.includes('verdict=clear')")
        verdicts = browser.js("Array.from(document.querySelectorAll('#devices tbody tr'))"
                              ".map(r => r.cells[0].textContent)")
        assert verdicts == ["clear", "clear"]
        # hostile text from a device is shown as text, never markup
        shown = browser.js("document.getElementById('devices').textContent")
        assert HOSTILE in shown
        assert browser.js("document.querySelectorAll('#devices img').length") == 0
        # the findings queue
        browser.js("location.hash = '#/findings'")
        browser.until("document.body.dataset.view === 'findings'")
        assert browser.js("document.querySelectorAll('#findings tbody tr').length") >= 2
        browser.js("location.hash = '#/findings?min_verdict=flagged&site=south'")
        browser.until("document.body.dataset.view === 'findings' && "
                      "location.hash.includes('south')")
        assert browser.js("document.querySelectorAll('#findings tbody tr').length") == 0
        browser.js("document.getElementById('forget').click()")
        browser.until("document.body.dataset.view === 'login'")
        assert browser.js("sessionStorage.length") == 0
        browser.call("Runtime.evaluate", expression="1")  # collect the last network events
    finally:
        browser.close()
    outside = [u for u in browser.requests if not u.startswith((fleet.base + "/", "data:"))]
    assert browser.requests and outside == [], outside
