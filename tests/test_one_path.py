"""What is printed is what is stored: `scan`, `usb` and `screen`, each with a plugin that vetoes
every finding and with one that amends every finding, with and without `--save`.

For every run the printed document, the written document, the stored findings, the diff and
the hook payloads must name the same verdict for every device or line item (the bug this
guards against: `scan --plugin P --save` printed the plugin's verdicts and stored others).
The scan runs against simulated devices on loopback (127.40.30.0/24).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entityscan.cli import main
from entityscan.reports import validate_document
from entityscan.scanners.lab import Lab, load_profiles, run_lab_in_thread
from entityscan.store import Store

ROOT = Path(__file__).resolve().parent.parent
LAB_BASE = "127.40.30.10"
LSUSB = ROOT / "fixtures" / "lsusb" / "kiosk-7.txt"  # 2 flagged, 2 clear devices
PLUGIN = "es_one_path_policy"

POLICY = textwrap.dedent('''
    """A policy plugin for the one-path tests: `mode` veto caps everything at clear, `mode`
    amend adds a flagged match to everything; every reaction hook's payload is recorded."""
    import json

    from entityscan import AddedMatch, Amendment, Match, Verdict, hookimpl


    def _amend(settings, subject):
        if settings.options.get("mode") == "veto":
            return Amendment(cap=Verdict.CLEAR, reason="approved test bench")
        return Amendment(reason="on the in-house watch list", add=(AddedMatch(
            match=Match(entity="Watched Maker", entry_id="inhouse:watched", list="INHOUSE",
                        list_name="In-house watch list", via="plugin", field="subject",
                        value=subject, score=99.0),
            verdict=Verdict.FLAGGED, maker="Watched Maker"),))


    def _record(settings, payload):
        with open(settings.options["record"], "a", encoding="utf-8") as out:
            out.write(json.dumps(payload, default=str) + "\\n")


    @hookimpl
    def entityscan_screen_item(item, finding, settings):
        return _amend(settings, item.id)


    @hookimpl
    def entityscan_screen_device(device, finding, settings):
        return _amend(settings, device.key())


    @hookimpl
    def entityscan_findings(events, context, settings):
        _record(settings, {"hook": "findings", "audit_id": context.get("audit_id"),
                           "verdicts": {e.finding.subject: e.finding.verdict.value
                                        for e in events}})


    @hookimpl
    def entityscan_scan_completed(scan_id, document, settings):
        _record(settings, {"hook": "scan_completed", "scan_id": scan_id,
                           "verdicts": {d["id"]: d["verdict"] for d in document["devices"]}})


    @hookimpl
    def entityscan_inventory_changed(diff, settings):
        _record(settings, {"hook": "inventory_changed",
                           "newly_flagged": sorted(d["key"] for d in diff["newly_flagged"])})
''')


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    profiles = {p.name: p for p in load_profiles()}
    chosen = [profiles["hikvision-ipc"], profiles["dahua-ipc"], profiles["axis-cam"],
              profiles["bosch-cam"]]
    with run_lab_in_thread(chosen, base=LAB_BASE) as running:
        yield running


@pytest.fixture()
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{PLUGIN}.py").write_text(POLICY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    record = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("ENTITYSCAN_OPT_RECORD", str(record))
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ENTITYSCAN_DB", raising=False)
    monkeypatch.delenv("ENTITYSCAN_PLUGINS", raising=False)
    return record


def scan_args(lab: Lab) -> list[str]:
    ports = lab.port_plan
    last = lab.devices[-1].address.rsplit(".", 1)[1]
    return ["scan", f"{LAB_BASE}-{last}", "--no-multicast", "--timeout", "20",
            "--ports", f"http:{ports.http},https:{ports.https},rtsp:{ports.rtsp},"
                       f"wsd:{ports.wsd},sadp:{ports.sadp},dhip:{ports.dhip}"]


def run(argv: list[str], mode: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    monkeypatch.setenv("ENTITYSCAN_OPT_MODE", mode)
    capsys.readouterr()
    code = main([*argv, "--plugin", PLUGIN, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def verdicts_of(document: dict[str, Any]) -> dict[str, str]:
    validate_document(document)  # decision, applied_decision, scan_id, audit_id included
    rows = document.get("devices", document.get("results"))
    assert rows, "the document lists nothing"
    return {row["id"]: row["verdict"] for row in rows}


def hook_calls(record: Path) -> dict[str, list[dict[str, Any]]]:
    calls: dict[str, list[dict[str, Any]]] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        payload = json.loads(line)
        calls.setdefault(payload.pop("hook"), []).append(payload)
    record.unlink()
    return calls


def expected_verdict(mode: str) -> str:
    return "clear" if mode == "veto" else "flagged"


INVENTORY_COMMANDS = {
    "scan": lambda lab: scan_args(lab),
    "usb": lambda lab: ["usb", "--from-lsusb", str(LSUSB)],
}


@pytest.mark.parametrize("mode", ["veto", "amend"])
@pytest.mark.parametrize("command", sorted(INVENTORY_COMMANDS))
def test_inventory_printed_written_stored_diffed_and_hooked_alike(
        command: str, mode: str, lab: Lab, policy: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    argv = INVENTORY_COMMANDS[command](lab)
    want = expected_verdict(mode)

    # without --save: printed document and hooks agree; nothing is stored
    code, printed, _ = run(argv, mode, monkeypatch, capsys)
    verdicts = verdicts_of(printed)
    assert set(verdicts.values()) == {want}
    assert code == (1 if want == "flagged" else 0)
    calls = hook_calls(policy)
    assert [c["verdicts"] for c in calls["scan_completed"]] == [verdicts]
    assert calls["scan_completed"][0]["scan_id"] is None
    assert calls.get("findings", [{"verdicts": {}}])[0]["verdicts"] == {
        k: v for k, v in verdicts.items() if v != "clear"}
    assert "inventory_changed" not in calls
    assert not (tmp_path / "data" / "entityscan.db").exists()

    # with --save: the written document, the store, the diff and the hooks all agree
    written = tmp_path / "doc.json"
    code, printed, err = run([*argv, "--save"], mode, monkeypatch, capsys)
    assert code == (1 if want == "flagged" else 0)
    assert verdicts_of(printed) == verdicts
    assert main([*argv, "--plugin", PLUGIN, "--format", "json", "--output", str(written),
                 "--save"]) == code
    document = json.loads(written.read_text(encoding="utf-8"))
    assert verdicts_of(document) == verdicts
    newly = sorted(k for k, v in verdicts.items() if v == "flagged")
    assert f"{len(newly)} newly flagged" in err
    with Store(f"sqlite:///{tmp_path / 'data' / 'entityscan.db'}") as store:
        stored = {row["key"]: row["verdict"] for row in store.inventory.devices(limit=1000)}
        first_diff = store.inventory.diff(None, printed["scan_id"])
        second_diff = store.inventory.diff(None, document["scan_id"])
        recorded = store.findings.list(scan_id=document["scan_id"], limit=1000)
    assert stored == verdicts
    assert sorted(d["key"] for d in first_diff["newly_flagged"]) == newly
    assert second_diff["newly_flagged"] == [] and second_diff["changed"] == []
    assert {r["subject"]: r["verdict"] for r in recorded} == {
        k: v for k, v in verdicts.items() if v != "clear"}
    calls = hook_calls(policy)
    assert [c["scan_id"] for c in calls["scan_completed"]] == [printed["scan_id"],
                                                               document["scan_id"]]
    assert all(c["verdicts"] == verdicts for c in calls["scan_completed"])
    # the first save finds every device new; the second changes nothing, so it is not called
    assert [c["newly_flagged"] for c in calls["inventory_changed"]] == [newly]
    assert [c["audit_id"] for c in calls.get("findings", [])] == (
        [printed["audit_id"], document["audit_id"]] if newly else [])


@pytest.mark.parametrize("mode", ["veto", "amend"])
def test_screen_printed_written_stored_and_hooked_alike(
        mode: str, policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    items = tmp_path / "po.csv"
    items.write_text("id,supplier,brand,part_number\n"
                     "PO-1,CDW,EZVIZ,\n"
                     "PO-2,CDW,,DS-2CD2143G2-I\n"
                     "PO-3,CDW,Bosch,\n"
                     "PO-4,Dell,,\n", encoding="utf-8")
    want = expected_verdict(mode)

    code, printed, _ = run(["screen", str(items)], mode, monkeypatch, capsys)
    verdicts = verdicts_of(printed)
    assert verdicts == dict.fromkeys(("PO-1", "PO-2", "PO-3", "PO-4"), want)
    assert code == (1 if want == "flagged" else 0)
    calls = hook_calls(policy) if policy.exists() else {}
    assert [c["verdicts"] for c in calls.get("findings", [])] == (
        [verdicts] if want == "flagged" else [])

    written = tmp_path / "screen.json"
    assert main(["screen", str(items), "--plugin", PLUGIN, "--format", "json", "--output",
                 str(written), "--save"]) == code
    document = json.loads(written.read_text(encoding="utf-8"))
    assert verdicts_of(document) == verdicts
    with Store(f"sqlite:///{tmp_path / 'data' / 'entityscan.db'}") as store:
        entry = store.audit.entry(document["audit_id"])
        recorded = store.findings.list(limit=1000)
    assert entry is not None
    assert {r["subject"]: r["verdict"] for r in entry["result"]["results"]} == verdicts
    assert {r["subject"]: r["verdict"] for r in recorded} == {
        k: v for k, v in verdicts.items() if v != "clear"}
    calls = hook_calls(policy) if policy.exists() else {}
    assert [(c["audit_id"], c["verdicts"]) for c in calls.get("findings", [])] == (
        [(document["audit_id"], verdicts)] if want == "flagged" else [])
