"""`entityscan screen` end to end: formats, exit codes, bad input, no partial output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.lineitems import read_line_items
from entityscan.reports import validate_document

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entityscan", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120, check=False)


def test_sample_json_contract_and_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "screen.json"
    assert main(["screen", "--sample", "--format", "json", "--output", str(out)]) == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["schema"] == "entityscan.screen/1"
    assert doc["lists"] and doc["lists_content_hash"].startswith("sha256:")
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["PO-1001/2"]["verdict"] == "flagged"
    assert by_id["PO-1001/2"]["matches"][0]["via"] == "brand-relation"
    assert by_id["PO-1001/4"]["verdict"] == "clear"
    validate_document(doc)
    # a plain clear line is lean: what a user needs, nothing computed for nothing
    assert by_id["PO-1001/4"].keys() == {"id", "verdict", "decision", "item"}
    for result in doc["results"]:
        if result["verdict"] == "clear":
            continue
        assert {"id", "verdict", "maker", "score", "matches", "reasons", "decision",
                "item"} <= result.keys()
        for match in result["matches"]:
            assert {"entity", "list", "citation", "via"} <= match.keys()
    # unknown columns are kept and echoed
    assert by_id["PO-1001/1"]["item"]["extra"] == {"cost_centre": "FAC-12"}


def test_fail_on_review_and_clear_file(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text("vendor,mfr,desc\nCDW,ANNKE,NVR kit\n", encoding="utf-8")
    assert main(["screen", str(items), "--format", "json", "-o", str(tmp_path / "a")]) == 0
    assert main(["screen", str(items), "--fail-on", "review", "--format", "json",
                 "-o", str(tmp_path / "b")]) == 1
    clean = tmp_path / "clean.csv"
    clean.write_text("supplier,description\nDell,Laptop\n", encoding="utf-8")
    assert main(["screen", str(clean), "--format", "csv", "-o", str(tmp_path / "c")]) == 0
    rows = (tmp_path / "c").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("id,verdict,maker,score") and rows[1].startswith("line-2,clear")


def test_json_input(tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    items.write_text(json.dumps({"items": [{"id": "a", "brand": "EZVIZ", "po": "7"},
                                           {"id": "b", "supplier": "Bosch"}]}),
                     encoding="utf-8")
    parsed = read_line_items(items)
    assert parsed[0].extra == {"po": "7"} and parsed[1].supplier == "Bosch"


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "empty"),
    (b"foo,bar\n1,2\n", "no column to screen"),
    (b"supplier,vendor\na,b\n", "duplicate header"),
    (b"id,supplier\n1,a\n1,b\n", "line 3, field 'id': duplicate id"),
    (b"supplier,brand\n\"unterminated,x\n", "line"),
    (b"supplier,brand\na,b,c,d\n", "line 2: 4 cells"),
])
def test_bad_input_names_file_line_field(tmp_path: Path, content: bytes,
                                         expected: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    out = tmp_path / "out.json"
    result = run_cli("screen", str(bad), "--format", "json", "--output", str(out))
    assert result.returncode == 2, result.stderr
    assert str(bad) in result.stderr.replace("\n", "")
    assert expected in result.stderr.replace("\n", " ").replace("  ", " ")
    assert not out.exists(), "no partial output on error"


def test_huge_cell_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "huge.csv"
    bad.write_text("supplier,description\nacme," + "x" * 10_000_000 + "\n", encoding="utf-8")
    result = run_cli("screen", str(bad), "--format", "json")
    assert result.returncode == 2
    assert "line 2, field 'description'" in result.stderr.replace("\n", "")


def test_usage_errors_exit_2() -> None:
    assert run_cli("screen").returncode == 2
    assert run_cli("screen", "--sample", "--fail-on", "maybe").returncode == 2
    assert run_cli("screen", "--sample", "--format", "pdf").returncode == 2
    assert run_cli("no-such-command").returncode == 2
