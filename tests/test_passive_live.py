"""`entityscan passive --interface IF --duration S`: a live capture (root, tcpdump) inside the
namespace lab's client namespace, while a client that is not entityscan asks the devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entityscan.scanners.lab import load_profiles
from tests.lab.capture import CaptureLab, capture_skip_reason

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.netns, pytest.mark.skipif(capture_skip_reason() is not None,
                                                    reason=capture_skip_reason() or "")]


def test_live_capture_in_a_namespace(tmp_path: Path) -> None:
    profiles = load_profiles(["hikvision-ipc", "lorex-ipc", "axis-cam"])
    with CaptureLab(profiles, capture=tmp_path / "side.pcap") as lab:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        listener = subprocess.Popen(
            ["ip", "netns", "exec", lab.scanner, sys.executable, "-m", "entityscan", "passive",
             "--interface", "eth0", "--duration", "6", "-f", "json"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)  # tcpdump is listening
        config = {"devices": [{"address": d.address, "ports": d.ports,
                               "username": d.profile.credentials.username,
                               "password": d.profile.credentials.password}
                              for d in lab.devices]}
        poll = lab.run_in_scanner([sys.executable, "-m", "tests.lab.vms_poller",
                                   json.dumps(config)], timeout=60)
        assert poll.returncode == 0, poll.stderr
        out, err = listener.communicate(timeout=60)
    assert listener.returncode == 1, err[-2000:]
    doc = json.loads(out)
    verdicts = {d["addresses"][0]: (d["attributed_maker"], d["verdict"])
                for d in doc["devices"] if d["addresses"]}
    hik, lorex, axis = lab.devices
    assert verdicts[hik.address] == ("Hikvision", "flagged")
    assert verdicts[lorex.address] == ("Dahua", "flagged")
    assert verdicts[axis.address][1] == "clear"
    assert doc["parameters"]["interface"] == "eth0" and doc["parameters"]["packets"] > 0
    assert doc["targets"] == ["live:eth0"]
