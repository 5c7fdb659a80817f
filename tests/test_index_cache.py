"""The compiled index cached on disk: loaded when nothing changed, rebuilt when anything
did, and never unpickled unless this cache's own secret vouches for the bytes."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import pickle
import shutil
import stat
from pathlib import Path

import pytest
from rich.console import Console

from entityscan import index_cache, screening
from entityscan.hooks import hookimpl, make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.lineitems import read_line_items
from entityscan.model import LineItem, Relation, Verdict
from entityscan.output import scan_table, screen_document, screen_table
from entityscan.scanners.inventory import Certainty
from entityscan.screening import ScreeningContext, screen_items
from entityscan.session import Session

ROOT = Path(__file__).resolve().parent.parent
CSL_SAMPLE = ROOT / "fixtures" / "lists" / "csl_sample.csv"
PROBE = [LineItem(id="1", brand="EZVIZ"), LineItem(id="2", supplier="Dell")]


def load(tmp_path: Path, lists: Path, *plugins: object) -> ScreeningContext:
    hooks = make_plugin_manager(Settings(load_entrypoints=False, data_dir=tmp_path / "data"),
                                plugins)
    return ScreeningContext.load(hooks, list_paths=[lists], cache_dir=tmp_path / "cache")


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("*.idx"))


def no_loading(*_: object, **__: object) -> None:
    raise AssertionError("the lists were loaded although the cache was warm")


def test_warm_load_reads_nothing_and_a_changed_list_rebuilds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lists = tmp_path / "csl.csv"
    shutil.copy(CSL_SAMPLE, lists)
    cold = load(tmp_path, lists)
    [written] = cache_files(tmp_path)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    with monkeypatch.context() as patched:
        patched.setattr(screening, "load_lists", no_loading)
        warm = load(tmp_path, lists)
    assert warm.lists.content_hash == cold.lists.content_hash
    assert [f.verdict for f in screen_items(PROBE, warm)] == [
        f.verdict for f in screen_items(PROBE, cold)] == [Verdict.FLAGGED, Verdict.CLEAR]
    # the list file changes: its fingerprint changes, the index is built again
    first_row = lists.read_text(encoding="utf-8").splitlines()[1]
    with lists.open("a", encoding="utf-8") as handle:  # a second copy of a row, new _id
        handle.write("00000000000000000000000000000001" + first_row[32:] + "\n")
    changed = load(tmp_path, lists)
    assert len(cache_files(tmp_path)) == 2
    assert changed.lists.content_hash != cold.lists.content_hash


def _forge(path: Path, payload: bytes) -> None:
    """Replace a cache file's pickle with `payload`, keeping its header and old HMAC."""
    data = path.read_bytes()
    start = len(index_cache.MAGIC)
    size = int.from_bytes(data[start + 32:start + 40], "big")
    path.write_bytes(data[:start + 40 + size] + payload)


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_corrupt_truncated_or_forged_caches_are_rebuilt_never_unpickled(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lists = tmp_path / "csl.csv"
    shutil.copy(CSL_SAMPLE, lists)
    expected = load(tmp_path, lists).lists.content_hash
    [path] = cache_files(tmp_path)
    marker = tmp_path / "pwned"
    good = path.read_bytes()
    damages = {
        "forged": lambda: _forge(path, pickle.dumps(Exploit(marker))),
        "truncated": lambda: path.write_bytes(good[: len(good) // 2]),
        "bit flip": lambda: path.write_bytes(good[:-100] + bytes([good[-100] ^ 1]) +
                                             good[-99:]),
        "empty": lambda: path.write_bytes(b""),
    }
    for name, damage in damages.items():
        damage()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="entityscan.index_cache"):
            ctx = load(tmp_path, lists)
        assert ctx.lists.content_hash == expected, name
        assert not marker.exists(), f"{name}: untrusted bytes were unpickled"
        assert "index cache" in caplog.text, name
        assert index_cache.read(tmp_path / "cache", path.stem)[0]["key"] == path.stem, name


def test_a_cache_others_can_write_is_not_trusted(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    lists = tmp_path / "csl.csv"
    shutil.copy(CSL_SAMPLE, lists)
    load(tmp_path, lists)
    [path] = cache_files(tmp_path)
    folder = tmp_path / "cache"
    # a payload with a valid HMAC: only the permission check stands between it and pickle
    secret = (folder / "secret.key").read_bytes()
    data = path.read_bytes()
    start = len(index_cache.MAGIC)
    size = int.from_bytes(data[start + 32:start + 40], "big")
    marker = tmp_path / "pwned"
    body = data[start + 32:start + 40 + size] + pickle.dumps(Exploit(marker))
    path.write_bytes(index_cache.MAGIC + hmac.new(secret, body, hashlib.sha256).digest() + body)
    folder.chmod(0o777)
    try:
        with caplog.at_level(logging.INFO, logger="entityscan.index_cache"):
            ctx = load(tmp_path, lists)
        assert "others can write" in caplog.text
        assert not marker.exists()
        assert screen_items(PROBE, ctx)[0].verdict is Verdict.FLAGGED
    finally:
        folder.chmod(0o700)


class ExtraRelations:
    """Another plugin contributing data: the cache is keyed by what it returns."""

    @hookimpl
    def entityscan_relations(self, settings: Settings) -> list[Relation]:
        brand = settings.options.get("brand", "Acme Vision")
        return [Relation(brand=brand, maker="Hikvision", kind="oem-relabel",
                         certainty=Certainty.SOLID, source="test")]


def test_another_data_plugin_keys_the_cache_by_its_content(tmp_path: Path) -> None:
    def context(brand: str) -> ScreeningContext:
        hooks = make_plugin_manager(Settings(load_entrypoints=False, options={"brand": brand},
                                             data_dir=tmp_path / "data"), [ExtraRelations()])
        return ScreeningContext.load(hooks, list_paths=[CSL_SAMPLE],
                                     cache_dir=tmp_path / "cache")

    first = context("Acme Vision")
    again = context("Acme Vision")
    assert len(cache_files(tmp_path)) == 1
    other = context("Other Vision")
    assert len(cache_files(tmp_path)) == 2
    probe = [LineItem(id="1", brand="Acme Vision"), LineItem(id="2", brand="Other Vision")]
    assert [f.verdict.value for f in screen_items(probe, first)] == ["flagged", "clear"]
    assert [f.verdict.value for f in screen_items(probe, again)] == ["flagged", "clear"]
    assert [f.verdict.value for f in screen_items(probe, other)] == ["clear", "flagged"]


def test_sessions_and_so_the_service_load_through_the_cache(tmp_path: Path) -> None:
    with Session.open(data_dir=tmp_path) as session:
        built = session.context()
        assert list((tmp_path / "index-cache").glob("*.idx"))
        reloaded = session.load_context()  # what the service calls when the lists change
    assert reloaded.lists.content_hash == built.lists.content_hash
    assert reloaded.matcher is not built.matcher


def test_the_matchers_own_data_is_part_of_every_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Place spellings and the Unicode tables shape the keys the index is built with, so a
    package whose matcher data changed (an upgrade, an edit) never loads an old index, with
    or without other data plugins (both keys start from the code fingerprint)."""
    import entityscan

    package = tmp_path / "entityscan"
    shutil.copytree(Path(entityscan.__path__[0]), package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(entityscan, "__path__", [str(package)])

    def fingerprint() -> str:
        return str(index_cache.code_fingerprint.__wrapped__())  # type: ignore[attr-defined]

    before = fingerprint()
    assert fingerprint() == before
    places = package / "matcher" / "places.yaml"
    places.write_text(places.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    after_places = fingerprint()
    assert after_places != before
    [table, *_] = sorted((package / "matcher" / "unicode").glob("*.txt"))
    table.write_bytes(table.read_bytes() + b"\n")
    assert fingerprint() not in (before, after_places)


def test_terminal_tables_escape_control_and_bidi_characters(tmp_path: Path) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J\u202egnp.exe\u200b"
    items = tmp_path / "items.csv"
    items.write_text(f"id,supplier,brand\n{hostile},{hostile},EZVIZ\n", encoding="utf-8")
    parsed = read_line_items(items)
    ctx = ScreeningContext.load()
    doc = screen_document(parsed, screen_items(parsed, ctx), ctx.lists)
    scan = {"kind": "network", "summary": doc["summary"], "lists_content_hash": "sha256:x",
            "devices": [{"id": "ip:10.0.0.1", "addresses": [hostile], "brand": hostile,
                         "maker": hostile, "model": hostile, "verdict": "review",
                         "score": 50.0, "matches": [], "reasons": [hostile]}]}
    for render, document in ((screen_table, doc), (scan_table, scan)):
        buffer = io.StringIO()
        render(document, Console(file=buffer, width=400, color_system=None))
        shown = buffer.getvalue()
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
        assert "\\x1b]0;owned\\x07" in shown and "\\u202e" in shown
