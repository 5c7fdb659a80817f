"""`entityscan scan` end to end on loopback (127.40.2.0/24): output formats, exit codes, bad
input, the credentials file's permission check and redaction."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from entityscan.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEVICE = "127.40.2.10"
PORT = 18081
SECRET = "hunter2-Zq9"


class _Camera(BaseHTTPRequestHandler):
    """A Hikvision-like web stack that (carelessly) echoes the password in its page title."""

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/ISAPI"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Digest realm="IP Camera(C0FFE)", nonce="n"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"<html><title>login admin/{SECRET}</title></html>".encode()
        self.send_response(200)
        self.send_header("Server", "App-webs/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def camera() -> Iterator[str]:
    server = ThreadingHTTPServer((DEVICE, PORT), _Camera)
    server.request_queue_size = 128
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield DEVICE
    server.shutdown()
    server.server_close()


def creds_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "creds"
    path.write_text(f"# ours\n{DEVICE} admin {SECRET}\n")
    os.chmod(path, mode)
    return path


def test_scan_json_and_csv_with_credentials_redacted(camera: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scan.json"
    code = main(["scan", camera, "--ports", f"http:{PORT}", "--no-multicast", "--timeout", "10",
                 "--credentials", str(creds_file(tmp_path)), "--format", "json",
                 "--output", str(out)])
    assert code == 1  # a Hikvision-platform device is flagged
    text = out.read_text()
    assert SECRET not in text and "login admin/***" in text
    doc = json.loads(text)
    assert doc["schema"] == "entityscan.scan/1" and doc["targets"] == [camera]
    (device,) = doc["devices"]
    assert device["addresses"] == [camera] and device["maker"] == "Hikvision"
    assert device["verdict"] == "flagged" and device["readable"] is True
    for key in ("mac", "brand", "model", "firmware", "serial", "score", "matches", "evidence"):
        assert key in device
    assert {"probe", "field", "value", "indicates", "certainty"} <= set(device["evidence"][0])
    assert doc["parameters"]["credentials_entries"] == 1
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err

    code = main(["scan", camera, "--ports", f"http:{PORT}", "--no-multicast", "--format", "csv",
                 "--fail-on", "review"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert code == 1 and rows[0]["maker"] == "Hikvision" and rows[0]["verdict"] == "flagged"


def test_credentials_file_readable_by_others_is_refused(camera: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    path = creds_file(tmp_path, 0o644)
    code = main(["scan", camera, "--credentials", str(path), "--no-multicast"])
    err = capsys.readouterr().err
    assert code == 2 and "chmod 600" in err and str(path) in err.replace("\n", "")
    assert SECRET not in err


@pytest.mark.parametrize(("argv", "fragment"), [
    (["scan", "10.0.0.0/8"], "more than the limit"),
    (["scan", "not-an-address"], "not-an-address"),
    (["scan", DEVICE, "--ports", "http:abc"], "--ports"),
    (["scan", DEVICE, "--timeout", "0"], "--timeout"),
    (["scan", DEVICE, "--fail-on", "maybe"], "--fail-on"),
])
def test_bad_input_exits_2_with_a_clear_message(argv: list[str], fragment: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_whole_process_clear_exit_code(camera: str) -> None:
    # A scanned address with nothing on it: an empty inventory, exit 0, valid JSON on stdout.
    result = subprocess.run([sys.executable, "-m", "entityscan", "scan", "127.40.2.99",
                             "--ports", f"http:{PORT}", "--no-multicast", "--format", "json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["devices"] == [] and doc["summary"]["total"] == 0


def test_save_stores_the_redacted_inventory(camera: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "store.db"
    code = main(["scan", camera, "--ports", f"http:{PORT}", "--no-multicast", "--format", "json",
                 "--output", str(tmp_path / "scan.json"), "--credentials",
                 str(creds_file(tmp_path)), "--save", "--db", f"sqlite:///{db}"])
    assert code == 1
    assert "saved as scan" in capsys.readouterr().err
    stored = db.read_bytes()
    assert b"Hikvision" in stored and SECRET.encode() not in stored
