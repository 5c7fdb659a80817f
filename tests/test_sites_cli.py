"""Sites on the command line: `usb --site`, `store import --site` (and a document imported
twice), `diff --site`, `store scans --site`, `store prune`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.store import Store

LSUSB = Path(__file__).resolve().parent.parent / "fixtures" / "lsusb"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ENTITYSCAN_DB", raising=False)
    monkeypatch.delenv("ENTITYSCAN_SITE", raising=False)
    return tmp_path / "data"


def usb_doc(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, *site: str) -> Path:
    code = main(["usb", "--from-lsusb", str(LSUSB / host), "-f", "json", *site])
    assert code in (0, 1)
    out = tmp_path / f"{host}-{len(list(tmp_path.glob('*.json')))}.json"
    out.write_text(capsys.readouterr().out)
    return out


def test_sites_through_import_diff_scans_and_prune(data: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    kiosk = usb_doc(tmp_path, capsys, "kiosk-7.txt", "--site", "Lobby")
    assert json.loads(kiosk.read_text())["site"] == "lobby"
    monkeypatch.setenv("ENTITYSCAN_SITE", "depot")
    depot = usb_doc(tmp_path, capsys, "gw-depot-3.txt")  # the default site from the env
    assert json.loads(depot.read_text())["site"] == "depot"
    depot_again = usb_doc(tmp_path, capsys, "gw-depot-3.txt")
    assert main(["store", "import", str(kiosk), str(depot), str(depot_again)]) in (0, 1)
    out = capsys.readouterr().out
    assert "(site lobby)" in out and out.count("(site depot)") == 2
    # the same file again: recognised by its document id, not stored twice
    assert main(["store", "import", str(kiosk), "-f", "json"]) in (0, 1)
    (report,) = json.loads(capsys.readouterr().out)
    assert report["duplicate"] is True
    # a document of one site is not filed under another
    assert main(["store", "import", str(kiosk), "--site", "depot"]) == 2
    assert "belongs to site 'lobby'" in capsys.readouterr().err
    assert main(["store", "scans", "--site", "depot", "-f", "json"]) == 0
    depot_scans = json.loads(capsys.readouterr().out)
    assert [s["site"] for s in depot_scans] == ["depot", "depot"]
    # the latest scan overall is the depot's; --site lobby diffs the lobby's
    assert main(["diff", "--site", "lobby", "-f", "json"]) in (0, 1)
    diff = json.loads(capsys.readouterr().out)
    assert diff["site"] == "lobby" and diff["scan_a"] is None
    assert main(["diff", "-f", "json"]) in (0, 1)
    diff = json.loads(capsys.readouterr().out)
    assert diff["site"] == "depot" and diff["scan_a"] == depot_scans[1]["id"]
    assert main(["store", "prune", "--keep", "1", "--dry-run"]) == 0
    assert f"would drop the snapshots of 1 scan(s): {depot_scans[1]['id']}" in \
        capsys.readouterr().out
    assert main(["store", "prune", "--keep", "1"]) == 0
    assert "the audit log is untouched" in capsys.readouterr().out
    with Store(f"sqlite:///{data / 'entityscan.db'}") as store:
        assert store.count("audit_log") == 3 and store.audit.verify().intact
    assert main(["diff", "-f", "json"]) == 2
    assert "removed by retention" in capsys.readouterr().err
    assert main(["store", "prune", "--older-than", "forever"]) == 2
    assert main(["usb", "--from-lsusb", str(LSUSB / "kiosk-7.txt"), "--site", "a b"]) == 2
    assert "may hold only letters" in capsys.readouterr().err
