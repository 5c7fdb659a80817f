"""`/docs` works offline and calls out to no other host (127.61.6.x).  It used to load Swagger
UI's script and style from a CDN: blank in an air-gapped site, a call-out everywhere else."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from _server_support import running

from entityscan.hooks import make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store

HOST = "127.61.6.1"
SINK = "127.61.6.9"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: What Chromium itself asks for whatever the page (clock, updates, accounts); every other
#: request reaching the sink came from the page.
BROWSER_OWN = re.compile(rb"^(?:GET|POST|CONNECT) (?:https?://)?(?:clients\d*\.google\.com|"
                         rb"update\.googleapis\.com|redirector\.gvt1\.com|"
                         rb"accounts\.google\.com)[:/]")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'd.db'}")
    ctx = ScreeningContext.load(hooks=make_plugin_manager(Settings(load_entrypoints=False)))
    with running(create_app(store, ctx), HOST) as url:
        yield url
    store.close()


def test_docs_page_references_only_its_own_host(base: str) -> None:
    page = httpx.get(base + "/docs", timeout=10)
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    refs = re.findall(r"""(?:src|href|url)\s*[=:(]\s*['"]?([^'")\s>]+)""", page.text)
    assert refs and all(r.startswith(("/", "#")) for r in refs), refs
    assert '"validatorUrl": null' in page.text
    for ref in refs:
        if ref.startswith("/docs/assets/"):
            asset = httpx.get(base + ref, timeout=10)
            assert asset.status_code == 200 and len(asset.content) > 1000, ref


class _Sink:
    """A loopback proxy that takes every connection Chromium makes to any other host and
    answers nothing."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind((SINK, 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(0.5)
                with contextlib.suppress(OSError):
                    request = conn.recv(512)
                    if request and not BROWSER_OWN.match(request):
                        self.requests.append(request)


def chromium(sink: _Sink, url: str) -> str:
    profile = tempfile.mkdtemp(prefix="entityscan-chromium-")
    try:
        result = subprocess.run(
            [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
             f"--user-data-dir={profile}", f"--proxy-server=http://{SINK}:{sink.port}",
             "--virtual-time-budget=15000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package "
                                               "`chromium`; .ci/run installs it)")
def test_docs_render_in_a_browser_with_no_request_to_another_host(base: str) -> None:
    sink = _Sink()
    try:
        # the control: a page that does fetch from another host reaches the sink
        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"<html><body><img src='http://198.51.100.7/x.png'></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        control = ThreadingHTTPServer(("127.61.6.2", 0), Page)
        threading.Thread(target=control.serve_forever, daemon=True).start()
        chromium(sink, f"http://127.61.6.2:{control.server_address[1]}/")
        control.shutdown()
        control.server_close()
        assert any(b"198.51.100.7" in r for r in sink.requests), "the sink sees call-outs"
        sink.requests.clear()
        dom = chromium(sink, base + "/docs")
    finally:
        sink.server.close()
    assert 'class="swagger-ui' in dom and "/v1/screen" in dom, dom[-2000:]
    assert sink.requests == [], sink.requests
