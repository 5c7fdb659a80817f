"""The built-in webhook notifier against a real local receiver on 127.60.6.x: HMAC-SHA256
signatures, retries with backoff, no secrets in logs."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from _server_support import free_port
from _store_support import BACKENDS, axis, import_doc, make_url, relabelled, scan_doc

from entityscan.builtins.webhook import WebhookNotifier, verify
from entityscan.delivery import OutboxWorker, deliver_pending
from entityscan.hooks import make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.model import LineItem
from entityscan.operations import screen_line_items
from entityscan.screening import ScreeningContext
from entityscan.store import Store

SECRET = "whsec-test-4f9a1c"
HOST = "127.60.6.1"


class Receiver:
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()},
                                          body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/hooks/entityscan"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def settings(url: str, **kw: Any) -> Settings:
    return Settings(load_entrypoints=False, webhook_url=url, webhook_secret=SECRET,
                    webhook_backoff=0.01, **kw)


def test_signed_delivery_with_retries_and_no_secret_in_logs(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.statuses = [503, 502]
    notifier = WebhookNotifier(settings(receiver.url + "?token=query-secret"))
    with caplog.at_level(logging.DEBUG):
        assert notifier.post({"event": "findings", "findings": [{"subject": "PO-1"}]})
    assert len(receiver.received) == 3
    for headers, body in receiver.received:
        assert verify(SECRET, headers["x-entityscan-timestamp"], body,
                      headers["x-entityscan-signature"])
        assert not verify("wrong", headers["x-entityscan-timestamp"], body,
                          headers["x-entityscan-signature"])
        assert SECRET not in json.dumps(headers) and SECRET.encode() not in body
    assert "retrying" in caplog.text
    assert SECRET not in caplog.text and "query-secret" not in caplog.text
    assert SECRET not in repr(notifier)


def test_a_refusal_is_not_retried_and_a_dead_receiver_is_given_up(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.statuses = [400]
    notifier = WebhookNotifier(settings(receiver.url))
    assert not notifier.post({"event": "findings"}) and len(receiver.received) == 1
    dead = WebhookNotifier(settings(f"http://{HOST}:{free_port(HOST)}/x", webhook_retries=2))
    with caplog.at_level(logging.WARNING):
        assert not dead.post({"event": "findings"})
    assert "giving up after 3 attempts" in caplog.text and dead.failed == 1


def test_a_run_without_a_store_posts_its_findings_directly(receiver: Receiver) -> None:
    pm = make_plugin_manager(settings(receiver.url))
    ctx = ScreeningContext.load(hooks=pm)
    batch = screen_line_items([LineItem(id="PO-4/1", brand="Dahua")], ctx, None, actor="t",
                              source="cli")
    batch.notify()
    (event,) = receiver.events()
    assert event["event"] == "findings" and event["context"]["audit_id"] is None
    assert [f["finding"]["subject"] for f in event["findings"]] == ["PO-4/1"]


def test_recorded_findings_and_newly_flagged_devices_go_through_the_outbox(
        receiver: Receiver, tmp_path: Any) -> None:
    pm = make_plugin_manager(settings(receiver.url))
    ctx = ScreeningContext.load(hooks=pm)
    notifier = pm.get_plugin("builtin.webhook")
    with Store(f"sqlite:///{tmp_path / 'w.db'}", outbox=True) as store:
        batch = screen_line_items([LineItem(id="PO-5/1", brand="Dahua"),
                                   LineItem(id="PO-5/2", supplier="Dell")], ctx, store,
                                  actor="t", source="test")
        batch.notify()
        assert receiver.received == []  # recorded, not posted from the request's path
        assert store.outbox.counts()["pending"] == 1
        deliver_pending(store.outbox, notifier, within=10)
        ((headers, _),) = receiver.received
        (event,) = receiver.events()
        assert event["event"] == "findings" and headers["x-entityscan-delivery"].isdigit()
        assert [f["finding"]["subject"] for f in event["findings"]] == ["PO-5/1"]
        assert event["findings"][0]["decision"] == "block"
        assert event["context"]["audit_id"] == batch.audit_id
        assert store.outbox.counts() == {"pending": 0, "delivered": 1, "dead": 0}
        receiver.received.clear()
        device = axis("ac:cc:8e:00:40:01", "127.60.9.9")
        import_doc(scan_doc([device], ctx), ctx, store)
        deliver_pending(store.outbox, notifier, within=10)
        assert receiver.events() == []  # clear device: nothing to say
        lorex = relabelled("ac:cc:8e:00:40:01", "127.60.9.9", "Lorex", maker="Dahua")
        import_doc(scan_doc([lorex], ctx), ctx, store)
        deliver_pending(store.outbox, notifier, within=10)
        kinds = sorted(e["event"] for e in receiver.events())
        assert kinds == ["findings", "inventory_changed"]
        (changed,) = [e["diff"] for e in receiver.events() if e["event"] == "inventory_changed"]
        assert [d["key"] for d in changed["newly_flagged"]] == ["mac:ac:cc:8e:00:40:01"]
        for headers, body in receiver.received:
            assert verify(SECRET, headers["x-entityscan-timestamp"], body,
                          headers["x-entityscan-signature"])


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    yield from make_url(request.param, tmp_path)


def test_several_workers_on_one_database_deliver_each_event_once(
        receiver: Receiver, store_url: str) -> None:
    """Service processes sharing one database (a later issue runs N of them): claims are
    exclusive, so no event is posted twice."""
    pm = make_plugin_manager(settings(receiver.url))
    ctx = ScreeningContext.load(hooks=pm)
    with Store(store_url, outbox=True) as store:
        for n in range(40):
            screen_line_items([LineItem(id=f"PO-8/{n}", brand="Dahua")], ctx, store,
                              actor="t", source="test")
        assert store.outbox.counts()["pending"] == 40
    stores = [Store(store_url, outbox=True) for _ in range(3)]
    workers = [OutboxWorker(s.outbox, WebhookNotifier(settings(receiver.url)), concurrency=4,
                            poll=0.05) for s in stores]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(receiver.received) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a duplicate would arrive now
    finally:
        for worker in workers:
            worker.stop()
    ids = [headers["x-entityscan-delivery"] for headers, _ in receiver.received]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert stores[0].outbox.counts() == {"pending": 0, "delivered": 40, "dead": 0}
    for s in stores:
        s.close()


def test_a_refusing_receiver_dead_letters_and_retry_sends_again(receiver: Receiver,
                                                                tmp_path: Any) -> None:
    pm = make_plugin_manager(settings(receiver.url))
    ctx = ScreeningContext.load(hooks=pm)
    notifier = pm.get_plugin("builtin.webhook")
    with Store(f"sqlite:///{tmp_path / 'd.db'}", outbox=True) as store:
        screen_line_items([LineItem(id="PO-9/1", brand="Dahua")], ctx, store, actor="t",
                          source="test")
        receiver.statuses = [503, 503, 410]  # two retryable failures, then a refusal
        for _ in range(3):
            deliver_pending(store.outbox, notifier, within=5)
            time.sleep(0.1)  # past the (tiny) backoff
        assert store.outbox.counts()["dead"] == 1 and len(receiver.received) == 3
        (event,) = store.outbox.events()
        assert event["attempts"] == 3 and event["last_error"] == "HTTP 410"
        assert store.outbox.retry_dead() == 1
        deliver_pending(store.outbox, notifier, within=5)
        assert store.outbox.counts() == {"pending": 0, "delivered": 1, "dead": 0}
