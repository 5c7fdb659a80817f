"""`entityscan screen` at scale: streamed formats, worker processes, batched reactions and
audit entries, lean results, bounded memory, and what large inputs must never do."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from entityscan import itemstream, streamout
from entityscan.cli import main
from entityscan.errors import InputError
from entityscan.lineitems import LineItemFile, read_line_items
from entityscan.reports import load_document, render_html, validate_document
from entityscan.store import Store

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "es_stream_policy"
POLICY = textwrap.dedent('''
    """Test plugin: `mode` amend flags every line whose id ends in 7, veto caps every line at
    clear; every entityscan_findings call is recorded."""
    import json

    from entityscan import AddedMatch, Amendment, Match, Verdict, hookimpl


    @hookimpl
    def entityscan_screen_item(item, finding, settings):
        if settings.options.get("mode") == "veto":
            return Amendment(cap=Verdict.CLEAR, reason="approved test bench")
        if item.id.endswith("7"):
            return Amendment(reason="watched", add=(AddedMatch(
                match=Match(entity="Watched", entry_id="inhouse:w", list="INHOUSE",
                            list_name="In-house", via="plugin", field="id", value=item.id,
                            score=99.0), verdict=Verdict.FLAGGED, maker="Watched"),))
        return None


    @hookimpl
    def entityscan_findings(events, context, settings):
        with open(settings.options["record"], "a", encoding="utf-8") as out:
            out.write(json.dumps({"audit_id": context.get("audit_id"),
                                  "ids": [e.finding.subject for e in events]}) + "\\n")
''')


@pytest.fixture()
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{PLUGIN}.py").write_text(POLICY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    record = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("ENTITYSCAN_OPT_RECORD", str(record))
    monkeypatch.setenv("ENTITYSCAN_OPT_MODE", "amend")
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ENTITYSCAN_DB", raising=False)
    monkeypatch.delenv("ENTITYSCAN_PLUGINS", raising=False)
    return record


BRANDS = ("Bosch", "Axis", "EZVIZ", "Dell", "ANNKE", "Hikvision", "Cisco", "Lorex")


def write_items(path: Path, count: int, *, start: int = 0) -> None:
    """`count` lines: a few listed brands among many others; parts and descriptions from
    small pools, so the matcher's memo stays small and memory is the reader's and writer's."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "supplier", "brand", "description", "part_number", "cost_centre"])
        for n in range(start, start + count):
            out.writerow([f"PO-{n}", f"Supplier {n % 97}", BRANDS[n % len(BRANDS)],
                          f"camera kit {n % 300}", f"AB-{n % 500}", f"CC-{n % 7}"])


def screen(*args: str) -> int:
    return main(["screen", *args])


def ndjson_results(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "summary"
    assert all(line["type"] == "result" for line in lines[1:-1])
    return lines[1:-1]


def test_streamed_formats_agree_in_input_order_across_jobs(tmp_path: Path,
                                                           policy: Path) -> None:
    items = tmp_path / "items.csv"
    write_items(items, 4500)  # three chunks: the workers really run
    outputs = {}
    for fmt in ("json", "ndjson", "csv"):
        for jobs in ("1", "2"):
            out = tmp_path / f"out-{jobs}.{fmt}"
            assert screen(str(items), "--plugin", PLUGIN, "-f", fmt, "-o", str(out),
                          "--jobs", jobs) == 1
            outputs[fmt, jobs] = out
    document = load_document(outputs["json", "2"])  # valid for `entityscan report`
    results = document["results"]
    assert [r["id"] for r in results] == [f"PO-{n}" for n in range(4500)]
    assert json.loads(outputs["json", "1"].read_text(encoding="utf-8"))["results"] == results
    assert "Procurement screening report" in render_html({**document,
                                                          "results": results[:50]})
    for jobs in ("1", "2"):
        streamed = ndjson_results(outputs["ndjson", jobs])
        assert [{k: v for k, v in r.items() if k != "type"} for r in streamed] == results
        with outputs["csv", jobs].open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["id"], r["verdict"], r["cost_centre"]) for r in rows] == [
            (r["id"], r["verdict"], r["item"]["extra"]["cost_centre"]) for r in results]
    # the plugin's amendment applied in the workers as in one process
    by_id = {r["id"]: r for r in results}
    assert by_id["PO-4497"]["verdict"] == "flagged"
    assert by_id["PO-4497"]["matches"][-1]["list"] == "INHOUSE"
    summary = document["summary"]
    assert summary["total"] == 4500
    assert summary["flagged"] == sum(r["verdict"] == "flagged" for r in results)


def test_clear_lines_are_lean_and_vetoed_lines_keep_their_matches(
        tmp_path: Path, policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = tmp_path / "items.csv"
    items.write_text("id,supplier,brand\nA,Dell,\nB,CDW,EZVIZ\n", encoding="utf-8")
    out = tmp_path / "out.json"
    assert screen(str(items), "--plugin", PLUGIN, "-f", "json", "-o", str(out)) == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate_document(doc)
    plain, flagged = doc["results"]
    assert plain == {"id": "A", "verdict": "clear", "decision": "allow",
                     "item": {"supplier": "Dell"}}
    assert flagged["verdict"] == "flagged" and flagged["matches"] and flagged["reasons"]
    monkeypatch.setenv("ENTITYSCAN_OPT_MODE", "veto")
    assert screen(str(items), "--plugin", PLUGIN, "-f", "json", "-o", str(out)) == 0
    vetoed = json.loads(out.read_text(encoding="utf-8"))["results"][1]
    assert vetoed["verdict"] == "clear"
    assert vetoed["matches"], "a vetoed line still shows what was vetoed"
    assert any("lowered the verdict" in r for r in vetoed["reasons"])


def test_reactions_and_audit_entries_come_in_bounded_batches(
        tmp_path: Path, policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(itemstream, "HOOK_BATCH", 4)
    monkeypatch.setattr(itemstream, "AUDIT_BATCH", 2000)
    items = tmp_path / "items.csv"
    write_items(items, 4500)
    out = tmp_path / "out.ndjson"
    assert screen(str(items), "--plugin", PLUGIN, "-f", "ndjson", "-o", str(out), "--save",
                  "--jobs", "2") == 1
    results = ndjson_results(out)
    summary = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
    audit_ids = summary["audit_ids"]
    assert len(audit_ids) == 3 and summary["audit_id"] == audit_ids[0]  # 2000 + 2000 + 500
    calls = [json.loads(line) for line in policy.read_text(encoding="utf-8").splitlines()]
    assert all(1 <= len(c["ids"]) <= 4 for c in calls)
    found = [i for c in calls for i in c["ids"]]
    assert found == [r["id"] for r in results if r["verdict"] != "clear"]
    with Store(f"sqlite:///{tmp_path / 'data' / 'entityscan.db'}") as store:
        recorded: dict[str, tuple[int, str]] = {}
        for audit_id in audit_ids:
            entry = store.audit.entry(audit_id)
            assert entry is not None
            for row in entry["result"]["results"]:
                recorded[row["subject"]] = (audit_id, row["verdict"])
    assert {k: v[1] for k, v in recorded.items()} == {r["id"]: r["verdict"] for r in results}
    for call in calls:  # each call names the entry that recorded its findings
        assert {recorded[i][0] for i in call["ids"]} == {call["audit_id"]}


def test_whole_document_formats_refuse_large_inputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(streamout, "WHOLE_DOCUMENT_LIMIT", 10)
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    items = tmp_path / "items.csv"
    write_items(items, 10)
    assert screen(str(items), "-f", "html", "-o", str(tmp_path / "ok.html")) == 1
    assert "Procurement screening report" in (tmp_path / "ok.html").read_text(encoding="utf-8")
    write_items(items, 11)
    for fmt in ("html", "cyclonedx", "table"):
        out = tmp_path / f"out.{fmt}"
        capsys.readouterr()
        assert screen(str(items), "-f", fmt, "-o", str(out)) == 2
        message = " ".join(capsys.readouterr().err.split())
        assert "limited to 10 line items" in message and "ndjson or csv" in message
        assert not out.exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_memory_does_not_grow_with_the_number_of_lines(tmp_path: Path) -> None:
    """Peak RSS of the whole run, 15,000 lines against 60,000: the old code held every
    result and the whole document (~35 KB a line on findings, ~8 KB on clear lines)."""
    env = {**os.environ, "ENTITYSCAN_DATA_DIR": str(tmp_path / "data")}
    peaks = {}
    for count in (15_000, 60_000):
        items = tmp_path / f"items-{count}.csv"
        write_items(items, count)
        code = ("import resource, subprocess, sys; "
                "subprocess.run(sys.argv[1:], check=False); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        run = subprocess.run(
            [sys.executable, "-c", code, sys.executable, "-m", "entityscan", "screen",
             str(items), "-f", "json", "-o", str(tmp_path / "out.json"), "--jobs", "1"],
            capture_output=True, text=True, timeout=300, env=env, check=True)
        peaks[count] = int(run.stdout.split()[-1]) / 1024
        doc = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        assert doc["summary"]["total"] == count
    assert peaks[60_000] - peaks[15_000] < 30, peaks


def test_duplicate_ids_found_among_many_and_nothing_is_written(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    write_items(items, 9000)
    with items.open("a", encoding="utf-8") as handle:
        handle.write("PO-4321,Late supplier,Bosch,,,\n")
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-m", "entityscan", "screen", str(items), "-f",
                             "json", "-o", str(out), "--jobs", "2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, "ENTITYSCAN_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 2, result.stderr
    assert "line 9002, field 'id': duplicate id 'PO-4321'" in " ".join(result.stderr.split())
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.json")]


def test_save_records_nothing_for_an_input_that_fails_late(tmp_path: Path,
                                                          policy: Path) -> None:
    items = tmp_path / "items.csv"
    write_items(items, 4500)
    with items.open("a", encoding="utf-8") as handle:
        handle.write('PO-x,"unterminated,Bosch\n')
    assert screen(str(items), "-f", "json", "-o", str(tmp_path / "o.json"), "--save") == 2
    db = tmp_path / "data" / "entityscan.db"
    if db.exists():
        with Store(f"sqlite:///{db}") as store:
            assert store.audit.entries() == []


def test_json_input_streams_with_big_numbers_and_positions(tmp_path: Path) -> None:
    good = tmp_path / "items.json"
    good.write_text(json.dumps({"source": "erp", "items": [
        {"id": 123456789012345678901234567890, "brand": "EZVIZ", "po": 7},
        {"id": "b", "supplier": "Bosch", "extra": {"site": "x"}}], "count": 2}),
        encoding="utf-8")
    parsed = read_line_items(good)
    assert parsed[0].id == "123456789012345678901234567890"
    assert parsed[0].extra == {"po": "7"} and parsed[1].extra == {"site": "x"}
    assert LineItemFile(good).extra_columns() == ["po", "site"]
    cases = {
        '[\n {"id": "a", "brand": "x"},\n {"id": "b" "brand": "y"}\n]':
            "line 3, column 13: invalid JSON",  # where json.loads says too
        '[{"id": "a", "brand": "x"}, 5]': "item 2 (line 1): expected an object, got int",
        '[{"id": "a", "brand": "x"},\n{"id": "a", "brand": "y"}]':
            "item 2 (line 2), field 'id': duplicate id 'a'",
        '{"items": "none"}': 'expected a list of line items or {"items": [...]}',
    }
    for text, expected in cases.items():
        bad = tmp_path / "bad.json"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            read_line_items(bad)
        assert expected in str(caught.value), (text, str(caught.value))


def test_not_utf8_far_into_a_file_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "items.csv"
    write_items(bad, 50_000)  # well past the first megabyte
    with bad.open("ab") as handle:
        handle.write(b"PO-z,Caf\xe9 Supply,Bosch,,,\n")
    with pytest.raises(InputError) as caught:
        read_line_items(bad)
    assert "line 50002: not UTF-8 text (byte 0xe9" in str(caught.value)


def test_json_input_to_csv_has_every_extra_column(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"id": "a", "brand": "Dell", "site": "x"},
                                 {"id": "b", "brand": "Bosch", "=cmd": "=1+1"}]),
                     encoding="utf-8")
    out = tmp_path / "out.csv"
    assert screen(str(items), "-f", "csv", "-o", str(out)) == 0
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][-2:] == ["site", "'=cmd"]  # a header a spreadsheet would run is defused
    assert rows[1][-2:] == ["x", ""] and rows[2][-2:] == ["", "'=1+1"]


def test_line_items_are_built_exactly_as_model_construct_builds_them() -> None:
    from entityscan import lineitems

    rows = [("PO-1", "Acme", None, "Bosch", "dome", "AB-1", {"cc": "7"}),
            ("PO-2", None, None, None, None, "X", {}),
            ("行-3", "海康威视", "m", "b", "d", "p", {"é": "ü"})]
    for raw in rows:
        fast, reference = lineitems.to_item(raw), lineitems._construct(raw)
        assert fast == reference and fast.model_dump() == reference.model_dump()
        assert fast.model_fields_set == reference.model_fields_set
    # the pinned pydantic stores models as the fast path expects, so it is the one in use
    assert lineitems.to_item is lineitems._construct_fast


def test_a_pipeline_that_stops_reading_ends_the_run_with_a_message(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    write_items(items, 4500)  # ~1.5 MB of ndjson: more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "entityscan", "screen", str(items), "-f",
                             "ndjson"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ENTITYSCAN_DATA_DIR": str(tmp_path / "d")})
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["type"] == "header"
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 2
    assert "standard output was closed" in err and "Traceback" not in err
