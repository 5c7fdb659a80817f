"""`entityscan demo` end to end as a whole process: a dozen-plus simulated devices on loopback
(127.40.20.0/24 here), scanned and screened; the table on stdout, the JSON report on disk with
every device matching the lab's ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_scans_screens_and_reports(tmp_path: Path) -> None:
    report = tmp_path / "entityscan-demo.json"
    result = subprocess.run([sys.executable, "-m", "entityscan", "demo", "--base", "127.40.20.10",
                             "--report", str(report)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "entityscan network" in result.stdout and "flagged" in result.stdout
    assert f"report written to {report}" in " ".join(result.stderr.split())
    doc = json.loads(report.read_text())
    assert doc["schema"] == "entityscan.scan/1"
    assert len(doc["devices"]) >= 12
    truth = doc["lab"]
    assert truth["total"] == len(doc["devices"])
    assert truth["correct"] == truth["total"], [d for d in truth["devices"] if not d["correct"]]
    labels = {d["label"] for d in truth["devices"]}
    assert {"HIKVISION", "Dahua", "EZVIZ", "Lorex", "Amcrest"} <= labels  # relabels included
    flagged = {d["device"] for d in truth["devices"] if d["verdict"] == "flagged"}
    assert {"hikvision-ipc", "dahua-ipc", "ezviz-cam", "lorex-ipc"} <= flagged
    assert "axis-cam" not in flagged and "plain-web" not in flagged


def test_demo_refuses_a_non_loopback_base(tmp_path: Path) -> None:
    from entityscan.cli import main

    assert main(["demo", "--base", "10.0.0.1", "--report", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
