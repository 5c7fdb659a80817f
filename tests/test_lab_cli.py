"""`python -m entityscan.scanners.lab` and `run_lab_in_process`: a simulator in its own process."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from entityscan.scanners.lab import Lab, LabError, load_profiles, replicate, run_lab_in_process
from tests.conftest import ROOT


def test_cli_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "entityscan.scanners.lab", "--profile", "dahua-ipc", "--address",
         "127.30.5.10", "--variant", "2"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[:3] == ["READY", "dahua-ipc#2", "127.30.5.10"]
        variant = load_profiles(["dahua-ipc"])[0].variant(2)
        assert ready[3] == variant.mac
        reply = httpx.get("http://127.30.5.10:8080/cgi-bin/magicBox.cgi?action=getSystemInfo",
                          timeout=5)
        assert reply.headers["www-authenticate"].startswith(
            f'Digest realm="Login to {variant.serial}"')
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_cli_reports_bad_input_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "entityscan.scanners.lab", "--profile", "no-such", "--address",
         "127.30.5.11"],
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no device profile named 'no-such'")


def test_run_lab_in_process() -> None:
    profiles = replicate(load_profiles(["hikvision-ipc", "plain-web"]), 4)
    with run_lab_in_process(profiles, base="127.30.5.20") as lab, \
            httpx.Client(timeout=5) as client:
        servers = [client.get(d.url("http", "/")).headers.get("server") for d in lab.devices]
    assert servers == ["App-webs/", "nginx/1.22.1"] * 2


def test_lab_refuses_addresses_it_must_not_use() -> None:
    profiles = load_profiles(["plain-web", "dahua-ipc"])
    with pytest.raises(LabError, match=r"leave 127\.0\.0\.0/8"):
        Lab.loopback(profiles, base="10.230.0.10")
    with pytest.raises(LabError, match=r"leave 127\.0\.0\.0/8"):
        Lab.loopback(profiles, base="127.255.255.255")
    with pytest.raises(LabError, match=r"two devices on 127\.30\.5\.40"):
        Lab([(profiles[0], "127.30.5.40"), (profiles[1], "127.30.5.40")])


def test_netns_lab_skips_with_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.lab import netns

    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.skip_reason() == "network-namespace lab needs root (CI runs as root)"
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert netns.skip_reason() == "network-namespace lab needs `ip` from iproute2"
