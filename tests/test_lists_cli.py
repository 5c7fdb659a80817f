"""`entityscan lists` and `entityscan lists update`: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.lists import load_bundled
from tests.lists_helpers import Route, serve, write_csl

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "fixtures" / "lists"


def test_lists_json_shows_sources_counts_and_hash(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lists", "--format", "json", "--data-dir", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "entityscan.lists/1"
    assert [s["name"] for s in doc["sources"]] == ["bundled"]
    assert doc["per_list"]["EL"] >= 12 and doc["per_list"]["1260H"] >= 1
    assert doc["listed_span"]["EL"]["first"] == "2016-03-08"
    assert doc["content_hash"] == load_bundled().content_hash
    assert doc["total"] == sum(doc["per_list"].values())


def test_update_then_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lists", "update", "--from", str(SAMPLES / "csl_sample.csv"),
                 "--data-dir", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "installed 12 rows (14 entries)" in out
    assert main(["lists", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bundled" in out and "csl" in out and "SDN" in out and "sha256:" in out


def test_refused_update_exits_2_with_reason(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    old = write_csl(tmp_path / "old.csv", {"EL": 100, "SDN": 100})
    new = write_csl(tmp_path / "new.csv", {"EL": 50, "SDN": 100})
    data = tmp_path / "data"
    assert main(["lists", "update", "--from", str(old), "--data-dir", str(data)]) == 0
    before = (data / "csl" / "current.dat").read_bytes()
    capsys.readouterr()
    assert main(["lists", "update", "--from", str(new), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "EL shrank 50%" in err and "kept the installed copy" in err
    assert (data / "csl" / "current.dat").read_bytes() == before
    assert main(["lists", "update", "--from", str(new), "--data-dir", str(data),
                 "--max-shrink", "60"]) == 0


def test_update_from_loopback_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    routes = {"/consolidated.csv": Route((SAMPLES / "csl_sample.csv").read_bytes()),
              "/down": Route((SAMPLES / "corrupt_page.html").read_bytes(),
                             content_type="text/html")}
    with serve(routes, host="127.50.0.2") as base:
        assert main(["lists", "update", "--from", f"{base}/consolidated.csv",
                     "--data-dir", str(tmp_path)]) == 0
        assert main(["lists", "update", "--from", f"{base}/down",
                     "--data-dir", str(tmp_path)]) == 2
    assert "HTML page" in capsys.readouterr().err


def test_group_data_dir_applies_to_update(tmp_path: Path) -> None:
    assert main(["lists", "--data-dir", str(tmp_path), "update", "--from",
                 str(SAMPLES / "csl_sample.csv")]) == 0
    assert (tmp_path / "csl" / "current.dat").exists()


def test_bad_options_exit_2(tmp_path: Path) -> None:
    assert main(["lists", "--format", "xml", "--data-dir", str(tmp_path)]) == 2
    assert main(["lists", "update", "--max-shrink", "150", "--data-dir", str(tmp_path)]) == 2
    assert main(["lists", "update", "--from", str(tmp_path / "absent.csv"),
                 "--data-dir", str(tmp_path)]) == 2


def test_extra_list_file_is_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lists", "-f", "json", "--data-dir", str(tmp_path),
                 "--list", str(SAMPLES / "csl_sample.json")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in doc["sources"]] == ["bundled", "csl_sample.json"]


def test_cli_as_a_process_with_env_data_dir(tmp_path: Path) -> None:
    env = {"ENTITYSCAN_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "entityscan", "lists", "update", "--from",
                          str(SAMPLES / "csl_sample.json")], cwd=ROOT, env=env, text=True,
                         capture_output=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "csl" / "current.meta.json").exists()
    run = subprocess.run([sys.executable, "-m", "entityscan", "lists", "update", "--from",
                          str(SAMPLES / "corrupt_truncated.json")], cwd=ROOT, env=env,
                         text=True, capture_output=True, timeout=120, check=False)
    assert run.returncode == 2
    assert "corrupt_truncated.json" in run.stderr and "truncated" in run.stderr
