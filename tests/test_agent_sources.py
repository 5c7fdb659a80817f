"""`passive` and `import` are site agents too (127.0.13.x): `--site` files their documents
under a site, `--push URL --token-file F` sends them to a real central service on loopback,
spooling while it is away, and the centre stores each document once, under its site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _server_support import free_port, running

from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store
from tests.passive_frames import CaptureWriter, udp

HOST = "127.0.13.1"
ROOT = Path(__file__).resolve().parent.parent
NMAP_XML = ROOT / "fixtures" / "import" / "nmap-sV-lab.xml"
HIK_MAC = "44:19:b6:6d:24:0a"
SADP_REPLY = (  # a Hikvision SADP inquiry answer, as the device multicasts it
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n<ProbeMatch>\r\n<Uuid>0F2A</Uuid>\r\n'
    b"<Types>inquiry</Types>\r\n<DeviceType>138153</DeviceType>\r\n"
    b"<DeviceDescription>DS-2CD2143G2-I</DeviceDescription>\r\n"
    b"<DeviceSN>DS-2CD2143G2-I20220315AAWR123456789</DeviceSN>\r\n"
    b"<MAC>44-19-b6-6d-24-0a</MAC>\r\n<SoftwareVersion>V5.7.3build 220315</SoftwareVersion>\r\n"
    b"</ProbeMatch>\r\n")


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store, str]]:
    folder = tmp_path_factory.mktemp("centre13")
    store = Store(f"sqlite:///{folder / 'centre.db'}")
    _, token = store.tokens.add("clinic-agent", ["ingest"])
    with running(create_app(store, ScreeningContext.load()), HOST) as base:
        yield base, store, token
    store.close()


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entityscan", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def saved_scans(store: Store, site: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while len(store.inventory.scans(site=site)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return store.inventory.scans(site=site)


def test_import_and_passive_push_under_their_site_and_catch_up_once(
        centre: tuple[str, Store, str], tmp_path: Path) -> None:
    base, store, token = centre
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    capture = tmp_path / "clinic.pcap"
    writer = CaptureWriter(capture)
    writer.add(udp("10.248.13.10", "239.255.255.250", 37020, 37020, SADP_REPLY, src_mac=HIK_MAC))
    writer.close()
    env = {**os.environ, "ENTITYSCAN_DATA_DIR": str(tmp_path / "agent")}
    env.pop("ENTITYSCAN_DB", None)
    env.pop("ENTITYSCAN_SITE", None)

    # the centre is away: the import's document waits in the spool
    away = f"http://{HOST}:{free_port(HOST)}"
    imported = cli("import", str(NMAP_XML), "--site", "Clinic-2", "--push", away,
                   "--token-file", str(token_file), "-f", "json", env=env)
    assert imported.returncode == 1, imported.stderr  # the lab's Hikvision/Dahua are flagged
    imported_doc = json.loads(imported.stdout)
    assert imported_doc["site"] == "clinic-2"
    assert imported_doc["document_id"].startswith("clinic-2:")
    assert "wait in" in imported.stderr and token not in imported.stderr + imported.stdout
    assert cli("push", "--status", env=env).returncode == 1
    assert store.inventory.scans(site="clinic-2") == []

    # the next run, a capture, finds the centre back: both go, oldest first, once each
    passive = cli("passive", str(capture), "--site", "clinic-2", "--push", base,
                  "--token-file", str(token_file), "-f", "json", env=env)
    assert passive.returncode == 1, passive.stderr  # the Hikvision camera is flagged
    passive_doc = json.loads(passive.stdout)
    assert passive_doc["site"] == "clinic-2" and passive_doc["kind"] == "network"
    assert "sent 2 document(s)" in passive.stderr
    scans = saved_scans(store, "clinic-2", 2)
    assert [s["document_id"] for s in scans] == [passive_doc["document_id"],
                                                imported_doc["document_id"]]  # newest first
    assert cli("push", "--status", env=env).returncode == 0  # nothing waits any more
    (device,) = store.inventory.devices(site="clinic-2", query="44:19:b6:6d:24:0a")
    assert device["verdict"] == "flagged"

    # the same import again is recognised by the centre, not stored twice
    again = tmp_path / "again.json"
    again.write_text(imported.stdout)
    resent = cli("push", str(again), env=env)
    assert resent.returncode == 0 and "1 it already had" in resent.stderr
    assert len(saved_scans(store, "clinic-2", 2)) == 2

    # a bad agent setup stops the run before anything is read or screened
    loose = tmp_path / "loose"
    loose.write_text(token)
    loose.chmod(0o644)
    refused = cli("passive", str(capture), "--push", base, "--token-file", str(loose), env=env)
    assert refused.returncode == 2 and "readable by group or others" in refused.stderr
    assert refused.stdout == ""
    alone = cli("import", str(NMAP_XML), "--token-file", str(token_file), env=env)
    assert alone.returncode == 2 and "--token-file goes with --push URL" in alone.stderr
    bad_site = cli("import", str(NMAP_XML), "--site", "a/b", env=env)
    assert bad_site.returncode == 2 and "may hold only letters" in bad_site.stderr
