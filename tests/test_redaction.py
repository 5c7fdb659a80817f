"""Credentials out of scan output without corrupting it (127.61.2.x).  A one-character password
used to be cut out of every string of the document, timestamps included: the document failed
validation, nothing was written and the exit code was 1, the "findings" code."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.redaction import REDACTED, redact

DEVICE = "127.61.2.10"


class _Camera(BaseHTTPRequestHandler):
    """A Hikvision-like web stack that echoes the password: as the whole title, inside a
    sentence, and in an RTSP URL with the user's credentials."""

    protocol_version = "HTTP/1.1"
    password = "2"

    def do_GET(self) -> None:
        if self.path.startswith("/ISAPI"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Digest realm="IP Camera(C0FFE)", nonce="n"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"<html><title>{self.password}</title></html>".encode()
        self.send_response(200)
        self.send_header("Server", "App-webs/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def camera() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer((DEVICE, 0), _Camera)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield DEVICE, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_one_character_password_neither_crashes_nor_corrupts_the_scan(
        camera: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address, port = camera
    creds = tmp_path / "creds"
    creds.write_text(f"{address} admin 2\n")
    os.chmod(creds, 0o600)
    out = tmp_path / "scan.json"
    db = tmp_path / "s.db"
    code = main(["scan", address, "--ports", f"http:{port}", "--no-multicast", "--timeout",
                 "10", "--credentials", str(creds), "--format", "json", "--output", str(out),
                 "--save", "--db", f"sqlite:///{db}"])
    err = capsys.readouterr().err
    assert code == 1, err  # flagged (a Hikvision web stack): the findings code, not a crash
    doc = json.loads(out.read_text())
    for stamp in (doc["started"], doc["finished"], doc["generated"]):
        datetime.fromisoformat(stamp)  # the 2s of 2026 are still there
    (device,) = doc["devices"]
    assert device["addresses"] == [address]
    titles = [e["value"] for e in device["evidence"] if e["field"].endswith("title")]
    assert titles and all(t == REDACTED for t in titles), titles
    assert "saved as scan 1" in err


def test_credentials_are_removed_where_they_appear() -> None:
    doc = {"started": "2026-12-22T12:22:02+00:00", "addresses": ["10.2.2.2"],
           "devices": [{"title": "hunter2-Zq9", "banner": "welcome admin/hunter2-Zq9!",
                        "stream": "rtsp://admin:s3cr3t@10.2.2.2:554/Streaming/Channels/101",
                        "echo": "GET / HTTP/1.1\r\nAuthorization: Basic YWRtaW46czNjcjN0\r\n",
                        "headers": {"Cookie": "session=abc", "password": "x"},
                        "serial": "2", "model": "DS-2CD2"}]}
    out = redact(doc, ["hunter2-Zq9", "2"])
    device = out["devices"][0]
    assert out["started"] == doc["started"] and out["addresses"] == ["10.2.2.2"]
    assert device["title"] == REDACTED and device["banner"] == f"welcome admin/{REDACTED}!"
    assert device["stream"] == f"rtsp://admin:{REDACTED}@10.2.2.2:554/Streaming/Channels/101"
    assert f"Authorization: Basic {REDACTED}" in device["echo"]
    assert device["headers"] == {"Cookie": REDACTED, "password": REDACTED}
    assert device["serial"] == REDACTED and device["model"] == "DS-2CD2"  # whole values only
    assert redact(doc, []) is doc
