"""The HTML report: hostile strings stay text, the page is self-contained, and -- rendered in
headless Chromium -- shows the summary, the flagged devices and the lists' hash, and its
filter/sort script works from the URL fragment."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from _report_samples import HOSTILE, scan_doc, screen_doc, usb_doc

from entityscan.cli import main
from entityscan.reports import render_html

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SINK_ADDRESS = "127.70.0.1"  # this suite's loopback range: 127.70.0.0/16


# ---------- static checks on the rendered text ----------
class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


@pytest.fixture(scope="module")
def scan_html() -> str:
    return render_html(scan_doc())


def parse(text: str) -> _Collector:
    collector = _Collector()
    collector.feed(text)
    return collector


def test_hostile_strings_are_escaped(scan_html: str) -> None:
    assert "<script>document.title" not in scan_html
    assert "<img src=x" not in scan_html
    assert "<b>bold</b>" not in scan_html
    assert html.escape(HOSTILE) in scan_html.replace("&#34;", "&quot;").replace("&#39;", "&#x27;")
    page = parse(scan_html)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 1, "only the report's own script element"
    assert not any(tag == "img" for tag, _ in page.tags)
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)


def test_self_contained_with_strict_csp(scan_html: str) -> None:
    page = parse(scan_html)
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith("#"), f"<{tag} {name}={value!r}> would leave the page"
    assert "url(" not in scan_html and "@import" not in scan_html
    csp = next(attrs["content"] for tag, attrs in page.tags
               if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp
    script = "".join(page.script_text)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp, "the CSP hash must match the inline script"


def test_credentials_never_shown(scan_html: str) -> None:
    assert "hunter2" not in scan_html
    assert "/etc/entityscan/creds" not in scan_html
    assert "(not shown)" in scan_html
    assert ">rate</dt><dd>200</dd>" in scan_html  # ordinary parameters are shown


def test_summary_sites_and_lists(scan_html: str) -> None:
    doc = scan_doc()
    assert f'id="count-flagged">{doc["summary"]["flagged"]}<' in scan_html
    assert f'id="count-total">{doc["summary"]["total"]}<' in scan_html
    for site in ("10.20.1.0/24", "10.20.2.0/24", "192.168.7.0/24"):
        assert f'href="#site={site}"' in scan_html
    assert doc["lists_content_hash"] in scan_html
    for source in doc["lists"]:
        assert source["content_hash"] in scan_html
    citations = {m["citation"] for d in doc["devices"] for m in d["matches"] if m["citation"]}
    assert citations  # the sample has listed devices
    for citation in citations:  # every citation reaches the page
        assert citation in scan_html
    assert "no answer within 3.0 s" in scan_html  # scan errors and unreadable devices


def test_usb_sites_are_hosts() -> None:
    page = render_html(usb_doc())
    assert 'href="#site=host%20ws-014"' in page and "2bdf" in page


def test_screen_document_renders_items() -> None:
    doc = screen_doc()
    page = render_html(doc)
    assert "Procurement screening report" in page
    for result in doc["results"]:
        assert re.search(rf">\s*{re.escape(html.escape(result['id']))}\s*<", page)
    assert "cost_centre" in page and "FAC-12" in page  # extra columns in the details
    assert 'href="#site=Anixter"' in page  # line items group by supplier


def test_cli_report_and_format_html(tmp_path: Path) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps(scan_doc()), encoding="utf-8")
    out = tmp_path / "report.html"
    assert main(["report", str(saved), "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    screen_out = tmp_path / "screen.html"
    assert main(["screen", "--sample", "--format", "html", "-o", str(screen_out)]) == 1
    assert "PO-1001/2" in screen_out.read_text(encoding="utf-8")


def test_cli_report_refuses_bad_documents(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "empty.json": (b"", "empty file"),
        "notjson.json": (b"{oops", "line 1, column 2: not JSON"),
        "latin1.json": (b'{"a": "\xe9"}', "not UTF-8"),
        "other.json": (b'{"schema": "something/1"}', "at $.schema"),
        "broken.json": (json.dumps({**scan_doc(), "devices": [{"verdict": "maybe"}]}).encode(),
                        "at $.devices[0]"),
    }
    for name, (content, expected) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        out = tmp_path / (name + ".html")
        assert main(["report", str(bad), "-o", str(out)]) == 2, name
        message = " ".join(capsys.readouterr().err.split())
        assert str(bad) in message.replace(" ", ""), (name, message)  # wrapped lines joined
        assert expected in message, (name, message)
        assert not out.exists()
    # and as a real process: exit status 2, one line on stderr
    result = subprocess.run([sys.executable, "-m", "entityscan", "report",
                             str(tmp_path / "other.json")], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2 and "at $.schema" in " ".join(result.stderr.split())


# ---------- headless Chromium ----------
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                    "(Debian package `chromium`; .ci/run installs it)")


class _Sink:
    """A loopback 'proxy' that takes every connection Chromium makes and answers nothing, so
    the browser's own background traffic (update checks, accounts) never leaves the machine."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind((SINK_ADDRESS, 0))
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
                    self.requests.append(conn.recv(512))

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def sink() -> Iterator[_Sink]:
    try:
        server = _Sink()
    except OSError as exc:
        pytest.skip(f"cannot bind {SINK_ADDRESS}: {exc}")
    yield server
    server.close()


def chromium(sink: _Sink, url: str, *mode: str, size: str = "1400,1800") -> str:
    profile = tempfile.mkdtemp(prefix="entityscan-chromium-")
    try:
        result = subprocess.run(
            [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             f"--proxy-server=http://{SINK_ADDRESS}:{sink.port}",
             "--proxy-bypass-list=<-loopback>",
             f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {SINK_ADDRESS}",
             f"--window-size={size}", "--hide-scrollbars", *mode, url],
            capture_output=True, text=True, timeout=90, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def rendered(sink: _Sink, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Render every page the Chromium tests look at, in parallel (each launch takes seconds)."""
    folder = tmp_path_factory.mktemp("html")
    scan_page = folder / "scan.html"
    scan_page.write_text(render_html(scan_doc()), encoding="utf-8")
    screen_page = folder / "screen.html"
    screen_page.write_text(render_html(screen_doc()), encoding="utf-8")
    # The same report without its CSP plus a probe that lists every resource the page
    # loaded; a control page with one remote image proves the probe sees fetches.
    probe = ("<script>addEventListener('load', function () { document.body.setAttribute("
             "'data-resources', JSON.stringify(performance.getEntriesByType('resource')"
             ".map(function (e) { return e.name; }))); });</script>")
    unlocked = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                      scan_page.read_text(encoding="utf-8"))
    probe_page = folder / "probe.html"
    probe_page.write_text(unlocked.replace("</body>", probe + "</body>"), encoding="utf-8")
    control_page = folder / "control.html"
    control_page.write_text(f"<html><body><img src='http://{SINK_ADDRESS}:{sink.port}/x.png'>"
                            f"{probe}</body></html>", encoding="utf-8")
    screenshot = folder / "scan.png"
    jobs = {
        "dom": (scan_page.as_uri(), "--dump-dom"),
        "flagged": (scan_page.as_uri() + "#verdict=flagged,review&sort=score&dir=asc",
                    "--dump-dom"),
        "query": (screen_page.as_uri() + "#maker=Hikvision&q=ezviz", "--dump-dom"),
        "probe": (probe_page.as_uri(), "--dump-dom"),
        "control": (control_page.as_uri(), "--dump-dom"),
        "screenshot": (scan_page.as_uri(), f"--screenshot={screenshot}"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(chromium, sink, url, *mode)
                   for name, (url, *mode) in jobs.items()}
        out: dict[str, Any] = {name: future.result() for name, future in futures.items()}
    out["screenshot_path"] = screenshot
    return out


def records(dom: str) -> list[tuple[str, bool, str]]:
    """(verdict, hidden, first-cell text of the device column) per record, in DOM order."""
    rows = []
    for match in re.finditer(r'<tbody class="record[^"]*" id="r\d+"([^>]*)>(.*?)</tbody>',
                             dom, re.S):
        attrs, body = match.groups()
        verdict = re.search(r'data-verdict="(\w+)"', attrs)
        cells = re.findall(r"<td data-sort=\"[^\"]*\"[^>]*>(.*?)</td>", body, re.S)
        device = re.sub(r"<[^>]+>", " ", cells[1]).split() if len(cells) > 1 else [""]
        rows.append((verdict.group(1) if verdict else "?", " hidden" in attrs, device[0]))
    return rows


@needs_chromium
def test_rendered_page_shows_summary_flagged_rows_and_hash(rendered: dict[str, Any]) -> None:
    dom, doc = rendered["dom"], scan_doc()
    assert 'data-ready="1"' in dom, "the report script ran"
    for verdict in ("flagged", "review", "clear"):
        assert f'id="count-{verdict}">{doc["summary"][verdict]}</span>' in dom
    assert f"Showing {doc['summary']['total']} of {doc['summary']['total']}" in dom
    assert doc["lists_content_hash"] in dom
    rows = records(dom)
    assert len(rows) == doc["summary"]["total"] and not any(hidden for _, hidden, _ in rows)
    assert ("flagged", False, "10.20.1.64") in rows
    assert "<form id=\"controls\" class=\"controls\">" in dom, "controls shown once JS runs"
    # the hostile device is text in the DOM and its script never ran
    assert "<title>entityscan — Network scan report</title>" in dom
    assert "&lt;script&gt;document.title" in dom


@needs_chromium
def test_filter_and_sort_from_fragment(rendered: dict[str, Any]) -> None:
    summary = scan_doc()["summary"]
    dom = rendered["flagged"]
    rows = records(dom)
    shown = [r for r in rows if not r[1]]
    assert {verdict for verdict, _, _ in shown} == {"flagged", "review"}
    assert len(shown) == summary["flagged"] + summary["review"]
    assert f"Showing {len(shown)} of {len(rows)}" in dom
    assert 'data-sorted="score:asc"' in dom and 'aria-sort="ascending"' in dom
    scores = [float(s) for s in re.findall(r'<td data-sort="(\d{5}\.\d\d)"', dom)]
    assert len(scores) == summary["total"]
    assert scores == sorted(scores) and scores[0] < scores[-1]
    # maker drop-down and free-text search together, on a screen document
    query = [r for r in records(rendered["query"]) if not r[1]]
    expected = [r["id"] for r in screen_doc()["results"] if r["maker"] == "Hikvision"
                and "ezviz" in json.dumps(r).lower()]
    assert expected and [device for _, _, device in query] == expected


@needs_chromium
def test_page_fetches_nothing(rendered: dict[str, Any]) -> None:
    loaded = re.search(r"data-resources=\"([^\"]*)\"", rendered["probe"])
    control = re.search(r"data-resources=\"([^\"]*)\"", rendered["control"])
    assert control and json.loads(html.unescape(control.group(1))), "the probe sees fetches"
    assert loaded is not None and json.loads(html.unescape(loaded.group(1))) == []


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset:offset + 4]), data[offset + 4:offset + 8]
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    return width, height, zlib.decompress(idat)


@needs_chromium
def test_screenshot_is_a_real_page(rendered: dict[str, Any]) -> None:
    width, height, raw = _png_pixels(rendered["screenshot_path"])
    assert (width, height) == (1400, 1800)
    assert len(set(raw)) > 64, "a blank or single-colour screenshot"
    assert rendered["screenshot_path"].stat().st_size > 40_000


def test_empty_scan_and_many_makers() -> None:
    empty = {**scan_doc(), "devices": [], "errors": [],
             "summary": {"total": 0, "flagged": 0, "review": 0, "clear": 0, "by_maker": {}}}
    page = render_html(empty)
    assert "No findings: nothing was flagged or sent to review." in page
    assert "No devices in this document." in page
    crowded = scan_doc()
    template = next(d for d in crowded["devices"] if d["verdict"] == "flagged")
    crowded["devices"] = [{**template, "id": f"serial:{i}", "maker": f"Maker {i:02d}"}
                          for i in range(30)]
    page = render_html(crowded)
    assert page.count('class="bar"') == 20 and "10 more makers in the table" in page
    assert page.count('<tbody class="record') == 30
