"""Loading list files, the installed CSL copy, and fail-closed `update_lists`."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from entityscan.errors import ListError
from entityscan.lists import (
    default_lists,
    load_bundled,
    load_list_file,
    registry,
    update_lists,
)
from entityscan.lists.csl_reader import file_sha256
from entityscan.lists.registry import installed_metadata, load_installed, resolve_data_dir
from tests.lists_helpers import Route, serve, write_csl

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "lists"
BUNDLED = Path(__file__).resolve().parent.parent / "plugin" / "lists" / "bundled"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "csl").iterdir())}


# --- single files -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["csl_sample.csv", "csl_sample.json", "csl_no_id.csv"])
def test_load_list_file_sniffs_csl(name: str) -> None:
    lists = load_list_file(SAMPLES / name)
    (source,) = lists.sources
    assert source.name == name
    assert source.location == str((SAMPLES / name).resolve())
    assert source.count == len(lists) == 14
    assert source.per_list["EL"] == 8  # 6 rows, 2 parents split out of affiliate names
    assert source.content_hash == file_sha256(SAMPLES / name)
    assert source.loaded_at is not None


def test_load_list_file_sniffs_json_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "download"
    shutil.copy(SAMPLES / "csl_sample.json", path)
    assert len(load_list_file(path)) == 14


def test_load_list_file_reads_bundled_format_yaml() -> None:
    lists = load_list_file(BUNDLED / "entity_list.yaml")
    assert lists.per_list() == {"EL": len(lists)}
    assert lists.sources[0].name == "entity_list.yaml"


def test_load_list_file_yaml_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "my-list"
    path.write_text("list: CUSTOM\nlist_name: Our own list\ncitation: internal memo 7\n"
                    "entries:\n  - id: c1\n    name: Example Optics Co., Ltd.\n"
                    "    listed: 2024-05-01\n", encoding="utf-8")
    lists = load_list_file(path)
    assert [(e.list, e.name, e.citation) for e in lists.entries] == [
        ("CUSTOM", "Example Optics Co., Ltd.", "internal memo 7")]


def test_load_list_file_bad_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("list: X\nentries:\n  - id: a\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ListError) as info:
        load_list_file(path)
    # the flow sequence opened on line 4 is still open when the file ends (line 5)
    assert str(info.value).startswith(f"{path}: line 5: invalid YAML: ")


def test_load_list_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="cannot read"):
        load_list_file(tmp_path / "nope.csv")


# --- data dir and default lists -----------------------------------------------------------------

def test_resolve_data_dir_precedence(tmp_path: Path) -> None:
    assert resolve_data_dir(tmp_path / "a", {"ENTITYSCAN_DATA_DIR": "/elsewhere"}) == \
        tmp_path / "a"
    assert resolve_data_dir(None, {"ENTITYSCAN_DATA_DIR": str(tmp_path / "b")}) == \
        tmp_path / "b"
    default = resolve_data_dir(None, {})
    assert default.name == "entityscan"


def test_default_lists_without_installed_copy_is_bundled_plus_extra(tmp_path: Path) -> None:
    lists = default_lists(extra=[SAMPLES / "csl_sample.json"], data_dir=tmp_path)
    assert [s.name for s in lists.sources] == ["bundled", "csl_sample.json"]
    assert len(lists) == len(load_bundled()) + 14


def test_default_lists_uses_env_var_data_dir(tmp_path: Path) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    lists = default_lists(environ={"ENTITYSCAN_DATA_DIR": str(tmp_path)})
    assert [s.name for s in lists.sources] == ["bundled", "csl"]
    assert lists.sources[1].location == str((SAMPLES / "csl_sample.csv").resolve())


# --- update and install ---------------------------------------------------------------------------

def test_update_installs_atomically_with_metadata(tmp_path: Path) -> None:
    result = update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    folder = tmp_path / "csl"
    assert sorted(p.name for p in folder.iterdir()) == ["current.dat", "current.meta.json"]
    assert (folder / "current.dat").read_bytes() == (SAMPLES / "csl_sample.csv").read_bytes()
    meta = json.loads((folder / "current.meta.json").read_text(encoding="utf-8"))
    assert meta == result.meta
    assert meta["rows"] == 12 and meta["entries"] == 14
    assert meta["rows_per_list"] == {"CMIC": 1, "DPL": 1, "EL": 6, "ISN": 1, "MEU": 1,
                                     "SDN": 2}
    assert meta["content_hash"] == load_list_file(SAMPLES / "csl_sample.csv").sources[0]\
        .content_hash
    assert meta["fetched_at"] and meta["format"] == "csv"


def test_second_update_keeps_one_backup(tmp_path: Path) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    update_lists(SAMPLES / "csl_sample.json", tmp_path)
    folder = tmp_path / "csl"
    assert sorted(p.name for p in folder.iterdir()) == [
        "current.dat", "current.meta.json", "previous.dat", "previous.meta.json"]
    assert (folder / "previous.dat").read_bytes() == (SAMPLES / "csl_sample.csv").read_bytes()
    assert (folder / "current.dat").read_bytes() == (SAMPLES / "csl_sample.json").read_bytes()
    update_lists(SAMPLES / "csl_reordered.csv", tmp_path)
    assert (folder / "previous.dat").read_bytes() == (SAMPLES / "csl_sample.json").read_bytes()
    assert len(list(folder.iterdir())) == 4


@pytest.mark.parametrize("bad", ["corrupt_truncated.csv", "corrupt_page.html",
                                 "corrupt_cp1252.csv", "corrupt_empty.csv", "not_csl.csv",
                                 "corrupt_truncated.json"])
def test_invalid_update_keeps_old_copy(tmp_path: Path, bad: str) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(ListError) as info:
        update_lists(SAMPLES / bad, tmp_path)
    assert bad in str(info.value)
    assert ".incoming-" not in str(info.value), "errors name the user's file, not a temp file"
    assert snapshot(tmp_path) == before


def test_vanished_source_is_refused_and_old_copy_kept(tmp_path: Path) -> None:
    update_lists(write_csl(tmp_path / "v1.csv", {"EL": 100, "SDN": 300, "DPL": 5}), tmp_path)
    before = snapshot(tmp_path)
    # May 2024: every Treasury row vanished from the CSL for a while
    with pytest.raises(ListError) as info:
        update_lists(write_csl(tmp_path / "v2.csv", {"EL": 100, "DPL": 5}), tmp_path)
    assert "SDN vanished (300 rows before, 0 now)" in str(info.value)
    assert snapshot(tmp_path) == before


def test_sharp_shrink_is_refused_unless_allowed(tmp_path: Path) -> None:
    update_lists(write_csl(tmp_path / "v1.csv", {"EL": 100, "SDN": 300}), tmp_path)
    before = snapshot(tmp_path)
    shrunk = write_csl(tmp_path / "v2.csv", {"EL": 70, "SDN": 300})
    with pytest.raises(ListError) as info:
        update_lists(shrunk, tmp_path)
    assert "EL shrank 30% (100 -> 70 rows)" in str(info.value)
    assert snapshot(tmp_path) == before
    result = update_lists(shrunk, tmp_path, max_shrink=0.35)
    assert result.meta["rows_per_list"]["EL"] == 70


def test_small_lists_are_shrink_checked_too(tmp_path: Path) -> None:
    """CAP 16 -> 1 and PLC 12 -> 1 were once installed because lists under 20 rows skipped
    the check; now one delisting passes and more needs --max-shrink."""
    update_lists(write_csl(tmp_path / "v1.csv", {"EL": 100, "DPL": 16, "CMIC": 12}), tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(ListError) as info:
        update_lists(write_csl(tmp_path / "v2.csv", {"EL": 100, "DPL": 1, "CMIC": 1}),
                     tmp_path)
    assert "DPL shrank 94% (16 -> 1 rows)" in str(info.value)
    assert "CMIC shrank 92% (12 -> 1 rows)" in str(info.value)
    assert snapshot(tmp_path) == before
    update_lists(write_csl(tmp_path / "v3.csv", {"EL": 100, "DPL": 15, "CMIC": 12}), tmp_path)
    update_lists(write_csl(tmp_path / "v4.csv", {"EL": 100, "DPL": 9, "CMIC": 12}), tmp_path,
                 max_shrink=0.5)
    with pytest.raises(ListError, match="DPL vanished"):
        update_lists(write_csl(tmp_path / "v5.csv", {"EL": 100, "CMIC": 12}), tmp_path)


@pytest.mark.parametrize(("template", "problem"), [
    ("Placeholder Entity", "EL: 100 of 100 entries share the name 'placeholder entity'"),
    ("-", "EL: 100 of 100 names have no letter or digit"),
    ("Party {i} Co", "EL: only 0% of its 100 names are still there"),
])
def test_collapsed_or_replaced_names_are_refused(tmp_path: Path, template: str,
                                                 problem: str) -> None:
    """Same row counts, but every Hikvision-like name gone: counts alone let these in."""
    update_lists(write_csl(tmp_path / "v1.csv", {"EL": 100, "SDN": 50}), tmp_path)
    before = snapshot(tmp_path)
    bad = write_csl(tmp_path / "v2.csv", {"EL": 100, "SDN": 50}, name=template)
    with pytest.raises(ListError) as info:
        update_lists(bad, tmp_path, max_shrink=1.0)
    assert problem in str(info.value) and "kept the installed copy" in str(info.value)
    assert snapshot(tmp_path) == before


def test_names_collapse_is_refused_on_a_first_install_too(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="share the name 'x'"):
        update_lists(write_csl(tmp_path / "v1.csv", {"EL": 30}, name="X"), tmp_path)
    assert not (tmp_path / "csl" / "current.dat").exists()


def test_growth_and_new_lists_are_accepted(tmp_path: Path) -> None:
    update_lists(write_csl(tmp_path / "v1.csv", {"EL": 50}), tmp_path)
    result = update_lists(write_csl(tmp_path / "v2.csv", {"EL": 80, "CMIC": 3}), tmp_path)
    assert result.meta["rows_per_list"] == {"CMIC": 3, "EL": 80}
    assert result.previous_meta is not None and result.previous_meta["rows_per_list"] == \
        {"EL": 50}


def test_crash_during_swap_leaves_a_usable_copy(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    real_replace = os.replace

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(dst).endswith("current.meta.json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(registry.os, "replace", failing_replace)
    with pytest.raises(ListError, match="No space left on device"):
        update_lists(SAMPLES / "csl_sample.json", tmp_path)
    monkeypatch.setattr(registry.os, "replace", real_replace)
    # data swapped but metadata not: the hash check catches it and the backup is used
    lists = load_installed(tmp_path)
    assert lists is not None and len(lists) == 14
    assert lists.sources[0].name == "csl (previous copy)"
    assert "does not match" in (lists.sources[0].note or "")
    assert not [p for p in (tmp_path / "csl").iterdir() if p.name.startswith(".")]


def test_corrupt_current_copy_falls_back_to_previous(tmp_path: Path) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    update_lists(SAMPLES / "csl_sample.json", tmp_path)
    current = tmp_path / "csl" / "current.dat"
    current.write_bytes(current.read_bytes()[:500])  # disk trouble, truncated in place
    lists = default_lists(data_dir=tmp_path)
    csl = lists.sources[-1]
    assert csl.name == "csl (previous copy)"
    assert "current.dat" in (csl.note or "")
    assert csl.count == 14


def test_corrupt_copy_without_backup_is_a_clear_error(tmp_path: Path) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    (tmp_path / "csl" / "current.meta.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ListError) as info:
        default_lists(data_dir=tmp_path)
    assert "current.meta.json" in str(info.value)
    assert "lists update" in str(info.value)


def test_both_copies_corrupt_is_a_clear_error(tmp_path: Path) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    update_lists(SAMPLES / "csl_sample.json", tmp_path)
    for name in ("current.dat", "previous.dat"):
        (tmp_path / "csl" / name).write_text("garbage", encoding="utf-8")
    with pytest.raises(ListError) as info:
        load_installed(tmp_path)
    assert "backup copy is unusable too" in str(info.value)


def test_update_after_corrupt_current_compares_with_backup(tmp_path: Path) -> None:
    update_lists(write_csl(tmp_path / "v1.csv", {"EL": 100, "SDN": 100}), tmp_path)
    update_lists(write_csl(tmp_path / "v2.csv", {"EL": 100, "SDN": 100}), tmp_path)
    (tmp_path / "csl" / "current.meta.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ListError, match="SDN vanished"):
        update_lists(write_csl(tmp_path / "v3.csv", {"EL": 100}), tmp_path)
    result = update_lists(write_csl(tmp_path / "v4.csv", {"EL": 100, "SDN": 99}), tmp_path)
    assert result.meta["rows"] == 199
    # the broken current copy was not promoted to backup
    assert installed_metadata(tmp_path) == result.meta
    previous = json.loads((tmp_path / "csl" / "previous.meta.json").read_text())
    assert previous["rows"] == 200


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ListError, match="data directory"):
        update_lists(SAMPLES / "csl_sample.csv", blocker)


def test_max_shrink_must_be_a_fraction(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="between 0 and 100"):
        update_lists(SAMPLES / "csl_sample.csv", tmp_path, max_shrink=1.5)


def test_size_cap_on_files(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="byte limit"):
        update_lists(SAMPLES / "csl_sample.csv", tmp_path, max_bytes=100)


# --- over HTTP (real sockets on 127.50.0.1) -------------------------------------------

@pytest.fixture(scope="module")
def http_csl() -> str:
    csv_body = (SAMPLES / "csl_sample.csv").read_bytes()
    routes = {
        "/consolidated.csv": Route(csv_body),
        "/consolidated.json": Route((SAMPLES / "csl_sample.json").read_bytes(),
                                    content_type="application/json"),
        "/maintenance": Route((SAMPLES / "corrupt_page.html").read_bytes(),
                              content_type="text/html; charset=utf-8"),
        "/html-as-csv": Route((SAMPLES / "corrupt_page.html").read_bytes(),
                              content_type="text/csv"),
        "/gone": Route(b"gone", status=503, content_type="text/plain"),
        "/slow": Route(csv_body, delay=3.0),
        "/drip": Route(csv_body, drip=1.0),
        "/big": Route(csv_body * 50),
        "/big-unannounced": Route(csv_body * 50, announce_length=False),
        "/lying-length": Route(csv_body, content_length=10**12),
    }
    with serve(routes) as base:
        yield base


def test_update_from_url(tmp_path: Path, http_csl: str) -> None:
    result = update_lists(f"{http_csl}/consolidated.csv", tmp_path)
    assert result.meta["source"] == f"{http_csl}/consolidated.csv"
    assert result.meta["published"] == "Wed, 25 Nov 2026 06:00:00 GMT"
    lists = default_lists(data_dir=tmp_path)
    csl = lists.sources[-1]
    assert csl.location == f"{http_csl}/consolidated.csv"
    assert csl.published == "Wed, 25 Nov 2026 06:00:00 GMT"
    result = update_lists(f"{http_csl}/consolidated.json", tmp_path)
    assert result.meta["format"] == "json"


@pytest.mark.parametrize(("path", "expected"), [
    ("/maintenance", "HTML page"),
    ("/html-as-csv", "HTML page"),
    ("/gone", "HTTP 503"),
    ("/missing", "HTTP 404"),
    ("/lying-length", "byte limit"),
])
def test_bad_http_answers_are_refused(tmp_path: Path, http_csl: str, path: str,
                                      expected: str) -> None:
    update_lists(SAMPLES / "csl_sample.csv", tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(ListError) as info:
        update_lists(f"{http_csl}{path}", tmp_path)
    assert expected in str(info.value)
    assert f"{http_csl}{path}" in str(info.value)
    assert snapshot(tmp_path) == before


def test_download_size_cap_on_the_announced_length(tmp_path: Path, http_csl: str) -> None:
    announced = 50 * (SAMPLES / "csl_sample.csv").stat().st_size
    with pytest.raises(ListError) as info:
        update_lists(f"{http_csl}/big", tmp_path, max_bytes=20_000)
    assert str(info.value) == (f"{http_csl}/big: {announced:,} bytes announced, more than the "
                               "20,000-byte limit")
    assert not [p for p in (tmp_path / "csl").iterdir()]


def test_download_size_cap_while_streaming(tmp_path: Path, http_csl: str) -> None:
    """Without a Content-Length the cap is enforced on the bytes as they arrive."""
    with pytest.raises(ListError) as info:
        update_lists(f"{http_csl}/big-unannounced", tmp_path, max_bytes=20_000)
    assert str(info.value) == f"{http_csl}/big-unannounced: more than 20,000 bytes; refusing"
    assert not [p for p in (tmp_path / "csl").iterdir()]


def test_download_timeout(tmp_path: Path, http_csl: str) -> None:
    with pytest.raises(ListError, match="timed out"):
        update_lists(f"{http_csl}/slow", tmp_path, timeout=0.5)


def test_timeout_bounds_the_whole_download(tmp_path: Path, http_csl: str) -> None:
    """A server sending a byte a second never trips a per-read timeout (`--timeout 3` once
    took 101 s); the whole download is bounded."""
    started = time.monotonic()
    with pytest.raises(ListError, match="not downloaded within 2 s"):
        update_lists(f"{http_csl}/drip", tmp_path, timeout=2)
    assert time.monotonic() - started < 4
    assert not [p for p in (tmp_path / "csl").iterdir()]


def test_unreachable_server(tmp_path: Path) -> None:
    with serve({}) as base:
        pass  # the port is closed again: connection refused
    with pytest.raises(ListError, match="download failed"):
        update_lists(f"{base}/consolidated.csv", tmp_path, timeout=2)
