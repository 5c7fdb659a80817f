"""Site agents that never lose a scan (127.64.2.x): the spool (durable, private, oldest first,
bounded), what each answer of the centre does to a document, and the whole CLI path —
`usb --push` with the centre away, `push --flush` when it is back, inside `schedule` too —
against a real service on loopback, counted in its store afterwards."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from _server_support import free_port, running

from entityscan.agent import Agent, Spool, inventory_url, read_token
from entityscan.agent.push import ingest_form
from entityscan.errors import InputError
from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store

HOST = "127.64.2.1"
STUB = "127.64.2.2"
ROOT = Path(__file__).resolve().parent.parent
LSUSB = ROOT / "fixtures" / "lsusb"


def doc(n: int, site: str = "kiosks") -> dict[str, Any]:
    return {"schema": "entityscan.scan/1", "kind": "usb", "site": site,
            "document_id": f"{site}:doc-{n:04d}", "targets": [], "devices": [
                {"host": f"kiosk-{n}", "vid": "2bdf", "pid": "0102", "addresses": [],
                 "evidence": [{"probe": "lsusb", "field": "idVendor", "value": "2bdf"}],
                 "matches": [{"list": "x"}], "reasons": ["a long reason"] * 5}]}


# --- the spool ------------------------------------------------------------------------------
def test_spool_files_are_private_durable_and_sent_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data" / "spool")
    with spool.locked():
        names = [spool.add(json.dumps(doc(n)).encode(), f"kiosks:doc-{n}")[0].name
                 for n in range(3)]
    assert [e.name for e in spool.entries()] == names == sorted(names)
    assert stat.S_IMODE((tmp_path / "data" / "spool").stat().st_mode) == 0o700
    for entry in spool.entries():
        assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
        assert json.loads(entry.path.read_bytes())["document_id"].startswith("kiosks:doc-")
    assert not list((tmp_path / "data" / "spool").glob(".incoming-*"))  # no half file left


def test_a_full_spool_drops_its_oldest_documents_never_the_new_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_documents=3, max_bytes=10**9)
    with spool.locked():
        for n in range(3):
            spool.add(b"{}", f"d{n}")
        _, dropped = spool.add(b"{}", "d3")
    assert len(dropped) == 1 and dropped[0].endswith("-d0.json")
    assert [e.name.split("-", 1)[1] for e in spool.entries()] == ["d1.json", "d2.json",
                                                                   "d3.json"]
    tiny = Spool(tmp_path / "tiny", max_bytes=10)
    with tiny.locked():
        _, dropped = tiny.add(b"x" * 50, "big")  # over the bound alone: kept all the same
    assert dropped == [] and len(tiny.entries()) == 1


def test_token_files_readable_by_others_and_plain_http_afar_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("es_secret\n")
    token.chmod(0o644)
    with pytest.raises(InputError, match="readable by group or others"):
        read_token(token)
    token.chmod(0o600)
    assert read_token(token) == "es_secret"
    token.write_text("es_secret with space\n")
    with pytest.raises(InputError, match="first line must be the API token"):
        read_token(token)
    with pytest.raises(InputError, match="plain http would send the token"):
        inventory_url("http://central.example:8077")
    monkeypatch.setenv("ENTITYSCAN_PUSH_INSECURE", "1")
    assert inventory_url("http://central.example:8077/") == \
        "http://central.example:8077/v1/inventory"
    for bad in ("ftp://x", "https://user:pw@central.example", "https://c.example/?t=1"):
        with pytest.raises(InputError):
            inventory_url(bad)


def test_the_document_sent_leaves_out_only_what_the_centre_recomputes() -> None:
    full = {**doc(1), "lists": [{"name": "csl"}], "summary": {"total": 1}}
    slim = ingest_form(full)
    assert "lists" not in slim and "summary" not in slim
    (device,) = slim["devices"]
    assert "matches" not in device and "reasons" not in device
    assert device["evidence"] == full["devices"][0]["evidence"] and slim["site"] == "kiosks"


# --- what each answer does --------------------------------------------------------------------
class Stub:
    """A centre that answers with the status codes it is told, and records what it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stub.received.append({"auth": self.headers["Authorization"],
                                      "prefer": self.headers.get("Prefer"),
                                      "doc": json.loads(body)})
                status = stub.statuses.pop(0) if stub.statuses else 202
                answer = json.dumps({"error": f"status {status}", "duplicate": False}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((STUB, 0), Handler)
        self.url = f"http://{STUB}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


def agent(url: str, folder: Path) -> tuple[Agent, list[str]]:
    lines: list[str] = []
    return Agent(url, "es_token", Spool(folder / "spool"), timeout=5,
                 report=lines.append), lines


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_a_busy_or_failing_centre_leaves_the_document_waiting(stub: Stub, tmp_path: Path,
                                                               status: int) -> None:
    a, lines = agent(stub.url, tmp_path)
    stub.statuses = [status]
    outcome = a.deliver(doc(1))
    assert outcome.waiting == 1 and outcome.sent == [] and str(status) in str(outcome.problem)
    assert any("wait in" in line for line in lines)
    assert stub.received[0]["auth"] == "Bearer es_token"
    assert stub.received[0]["prefer"] == "respond-async"
    outcome = a.flush()  # the centre answers 202 now
    assert outcome.sent == ["kiosks:doc-0001"] and outcome.waiting == 0
    assert a.spool.entries() == []


def test_an_unreachable_centre_then_oldest_first_once_it_is_back(tmp_path: Path) -> None:
    away = f"http://{STUB}:{free_port(STUB)}"
    a, _ = agent(away, tmp_path)
    for n in range(3):
        assert a.deliver(doc(n)).waiting == n + 1
    back = Stub()
    try:
        b, _ = agent(back.url, tmp_path)
        outcome = b.deliver(doc(3))
        assert outcome.sent == [f"kiosks:doc-{n:04d}" for n in range(4)]
        assert [r["doc"]["document_id"] for r in back.received] == outcome.sent
    finally:
        back.close()


def test_a_refused_token_keeps_the_document_and_ends_the_run_with_an_error(
        stub: Stub, tmp_path: Path) -> None:
    a, _ = agent(stub.url, tmp_path)
    stub.statuses = [403]
    with pytest.raises(InputError, match="refused the agent: HTTP 403"):
        a.deliver(doc(1))
    assert len(a.spool.entries()) == 1 and a.spool.rejected() == []


def test_a_rejected_document_is_set_aside_and_the_others_still_go(stub: Stub,
                                                                  tmp_path: Path) -> None:
    a, _ = agent(f"http://{STUB}:{free_port(STUB)}", tmp_path)
    a.deliver(doc(1))
    a.deliver(doc(2))  # both wait: nobody listens
    b, lines = agent(stub.url, tmp_path)
    stub.statuses = [422, 202]
    outcome = b.flush()
    assert next(name for name, _ in outcome.rejected).endswith("doc-0001.json")
    assert outcome.sent == ["kiosks:doc-0002"] and outcome.waiting == 0
    (kept,) = b.spool.rejected()
    assert json.loads(kept.read_bytes())["document_id"] == "kiosks:doc-0001"
    assert "HTTP 422" in kept.with_suffix(".reason.txt").read_text()
    assert any("rejected by the service" in line for line in lines)


# --- the real service -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store, str]]:
    folder = tmp_path_factory.mktemp("agent-service")
    store = Store(f"sqlite:///{folder / 'centre.db'}")
    _, token = store.tokens.add("site-agents", ["ingest"])
    with running(create_app(store, ScreeningContext.load()), HOST) as base:
        yield base, store, token
    store.close()


def wait_saved(store: Store, count: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while store.count("scans") < count and time.monotonic() < deadline:
        time.sleep(0.1)


def test_an_ingest_token_suffices_and_a_repeat_is_stored_once(
        service: tuple[str, Store, str], tmp_path: Path) -> None:
    base, store, token = service
    before = store.count("scans")
    a = Agent(base, token, Spool(tmp_path / "spool"), report=lambda _line: None)
    assert a.deliver(doc(1, "repeat")).sent == ["repeat:doc-0001"]
    wait_saved(store, before + 1)
    again = a.deliver(doc(1, "repeat"))
    assert again.duplicates == ["repeat:doc-0001"] and again.sent == []
    wait_saved(store, before + 1)
    assert store.count("scans") == before + 1
    (scan,) = store.inventory.scans(site="repeat")
    assert scan["document_id"] == "repeat:doc-0001" and scan["actor"].startswith(
        "token:site-agents#")
    # the same id with other content is refused (409) and set aside, never stored
    changed = doc(1, "repeat")
    changed["devices"][0]["host"] = "elsewhere"
    with pytest.raises(InputError, match="rejected this scan's document"):
        a.deliver(changed)
    (kept,) = a.spool.rejected()
    assert "HTTP 409" in kept.with_suffix(".reason.txt").read_text()
    r = httpx.get(base + "/v1/sites", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403  # ingest only: the agent cannot read the fleet


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entityscan", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def test_usb_push_spools_while_the_centre_is_away_and_push_flush_sends_it_once(
        service: tuple[str, Store, str], tmp_path: Path) -> None:
    base, store, token = service
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    env = {**os.environ, "ENTITYSCAN_DATA_DIR": str(tmp_path / "agent")}
    env.pop("ENTITYSCAN_DB", None)
    away = f"http://{HOST}:{free_port(HOST)}"
    run = cli("usb", "--from-lsusb", str(LSUSB / "kiosk-7.txt"), "--site", "Lobby",
              "--push", away, "--token-file", str(token_file), "-f", "json", env=env)
    assert run.returncode in (0, 1), run.stderr
    printed = json.loads(run.stdout)
    assert printed["site"] == "lobby" and printed["document_id"].startswith("lobby:")
    assert "wait in" in run.stderr and token not in run.stderr + run.stdout
    status = cli("push", "--status", env=env)
    assert status.returncode == 1 and "1 document(s) waiting" in status.stdout
    before = store.count("scans")
    flushed = cli("push", "--flush", "--push", base, "--token-file", str(token_file), env=env)
    assert flushed.returncode == 0, flushed.stderr
    assert "sent 1 document(s)" in flushed.stderr
    wait_saved(store, before + 1)
    (scan,) = store.inventory.scans(site="lobby")
    assert scan["document_id"] == printed["document_id"]
    assert cli("push", "--status", env=env).returncode == 0
    # a saved copy of the same scan sent again is recognised by its id
    saved = tmp_path / "scan.json"
    saved.write_text(run.stdout)
    again = cli("push", str(saved), env=env)  # the remembered target
    assert again.returncode == 0 and "1 it already had" in again.stderr
    assert len(store.inventory.scans(site="lobby")) == 1
    loose = tmp_path / "loose"
    loose.write_text(token)
    loose.chmod(0o644)
    refused = cli("usb", "--from-lsusb", str(LSUSB / "kiosk-7.txt"), "--push", base,
                  "--token-file", str(loose), env=env)
    assert refused.returncode == 2 and "readable by group or others" in refused.stderr


def test_schedule_runs_an_agent_that_catches_up_when_the_centre_returns(
        tmp_path: Path) -> None:
    """Run 1 finds the centre away and spools; run 2 sends both, oldest first, once each."""
    folder = tmp_path / "centre"
    folder.mkdir()
    store = Store(f"sqlite:///{folder / 'c.db'}")
    _, token = store.tokens.add("agent", ["ingest"])
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    port = free_port(HOST)
    env = {**os.environ, "ENTITYSCAN_DATA_DIR": str(tmp_path / "agent")}
    env.pop("ENTITYSCAN_DB", None)
    # the second run starts only after the first ended: start the centre in between by
    # watching the spool (the first run's document appears there)
    spool = tmp_path / "agent" / "spool"
    schedule = subprocess.Popen(
        [sys.executable, "-m", "entityscan", "schedule", "--every", "4s", "--max-runs", "2",
         "--", "usb", "--from-lsusb", str(LSUSB / "gw-depot-3.txt"), "--site", "depot",
         "--push", f"http://{HOST}:{port}", "--token-file", str(token_file)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import socket
    import time

    deadline = time.monotonic() + 120
    while not list(spool.glob("[0-9]*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(spool.glob("[0-9]*.json")), "the first run spooled nothing"
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(store, ScreeningContext.load()),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _, err = schedule.communicate(timeout=180)
        assert schedule.returncode in (0, 1), err
        wait_saved(store, 2)
        scans = store.inventory.scans(site="depot")
        assert len(scans) == 2 and len({s["document_id"] for s in scans}) == 2
        assert scans[-1]["id"] < scans[0]["id"]  # the spooled (older) one arrived first
        assert scans[-1]["started"] < scans[0]["started"]
        assert not list(spool.glob("[0-9]*.json"))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()
