"""The field probes on real loopback sockets (127.62.5.0/24): service greetings, the vendor
binary services, SSDP and the UPnP description, SNMP with the user's own community or v3 user,
and hostile answers to each, all through the real scanner."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from entityscan.scanners.credentials import Credentials, CredentialsError
from entityscan.scanners.lab import load_profiles, run_lab_in_thread
from entityscan.scanners.probes.banner import read_greeting, strip_telnet_options
from entityscan.scanners.probes.http import make_client
from entityscan.scanners.probes.upnp import probe_description
from entityscan.scanners.scan import PortPlan, ScanOptions, scan

PROFILES = ["hiwatch-ipc", "intelbras-ipc", "truvision-nvr", "axis-cam", "home-router",
            "hostile-xml-bomb", "hostile-huge", "hostile-silent", "hostile-drip"]
BASE = "127.62.5."
PLAN = PortPlan.parse(["http:8080,https:8443,rtsp:8554,sdk:8000,sdk:37777,telnet:2323,"
                       "ftp:2121,ssh:2222,ssdp:1900,snmp:1161"])
CREDENTIALS = (f"snmp {BASE}0/24 v2c site-ro-7Qx\n"
               f"snmp {BASE}11 v3 auditor sha lab-auth-key-9f2c aes lab-priv-key-41aa\n")


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    with run_lab_in_thread(load_profiles(PROFILES), base=f"{BASE}10") as running:
        yield running


@pytest.fixture(scope="module")
def scanned(lab: Any) -> dict[str, Any]:
    started = time.monotonic()
    inventory = scan([f"{BASE}10-{BASE}{9 + len(PROFILES)}"], ScanOptions(
        timeout=30, multicast=False, ports=PLAN, credentials=Credentials.parse(CREDENTIALS)))
    devices = {a: d for d in inventory.devices for a in d.addresses}
    return {"elapsed": time.monotonic() - started,
            "by_name": {sim.name: devices[sim.address] for sim in lab.devices}}


def rules(device: Any, probe: str) -> set[str]:
    return {e.rule or "" for e in device.evidence if e.probe == probe}


def test_greetings_are_read_never_answered(scanned: dict[str, Any]) -> None:
    by_name = scanned["by_name"]
    assert "telnet_banner/hikvision-factory-hostname" in rules(by_name["truvision-nvr"],
                                                                "telnet")
    assert "ftp_banner/axis-camera-ftp" in rules(by_name["axis-cam"], "ftp")
    assert "ssh_banner/ssh-identification" in rules(by_name["home-router"], "ssh")
    assert strip_telnet_options(b"\xff\xfd\x01\xff\xfa\x18\x01\xff\xf0ok\xff\xff") == b"ok\xff"


def test_vendor_binary_services_identify_themselves(scanned: dict[str, Any]) -> None:
    by_name = scanned["by_name"]
    assert "sdk_reply/hikvision-sdk-status-frame" in rules(by_name["hiwatch-ipc"], "sdk")
    assert "sdk_reply/dahua-dvrip-realm" in rules(by_name["intelbras-ipc"], "sdk")


def test_upnp_description_and_snmp_give_maker_model_and_mac(scanned: dict[str, Any],
                                                            lab: Any) -> None:
    by_name = scanned["by_name"]
    hiwatch = by_name["hiwatch-ipc"]
    assert "serial/hikvision-serial" in {e.rule for e in hiwatch.evidence if e.probe == "upnp"}
    assert "snmp/hikvision-enterprise" in rules(hiwatch, "snmp")
    intelbras = by_name["intelbras-ipc"]  # v3 user with SHA and AES
    assert "snmp/dahua-enterprise" in rules(intelbras, "snmp")
    for name in ("hiwatch-ipc", "intelbras-ipc"):  # loopback has no neighbour table: SNMP's MAC
        assert by_name[name].mac == lab.device(name).mac
        assert by_name[name].maker == lab.device(name).expected.maker
        assert by_name[name].confidence >= 0.75
    axis = by_name["axis-cam"]
    assert axis.maker == "Axis" and "snmp/axis-enterprise" in rules(axis, "snmp")
    # The home router's 15-character serial and BOM page claim nothing any more.
    assert by_name["home-router"].maker is None


def test_a_wrong_community_gets_silence_not_guesses(lab: Any) -> None:
    wrong = Credentials.parse(f"snmp {BASE}10 v2c not-the-community\n")
    inventory = scan([f"{BASE}10"], ScanOptions(timeout=15, multicast=False, ports=PLAN,
                                                credentials=wrong))
    (device,) = inventory.devices
    assert not any(e.probe == "snmp" for e in device.evidence)
    assert any(e.startswith(f"snmp {BASE}10:1161: no answer with the configured v2c")
               for e in device.errors)
    assert not any("not-the-community" in e for e in device.errors)


@pytest.mark.parametrize("community", ["public", "PRIVATE"])
def test_factory_communities_are_refused(community: str) -> None:
    with pytest.raises(CredentialsError, match="line 1: the community is a factory default"):
        Credentials.parse(f"snmp * v2c {community}\n")
    creds = Credentials.parse("snmp 10.0.0.0/8 v3 ops sha k3y-1 aes k3y-2\n* a b\n")
    assert sorted(creds.secrets()) == ["b", "k3y-1", "k3y-2"]
    assert "k3y" not in repr(creds) + repr(creds.snmp) + str(creds.snmp[0])


def test_hostile_answers_cost_only_their_caps(scanned: dict[str, Any]) -> None:
    by_name = scanned["by_name"]
    bomb, huge = by_name["hostile-xml-bomb"], by_name["hostile-huge"]
    assert bomb.hostile and bomb.maker is None  # type: ignore[attr-defined]
    assert any("upnp" in e and "refused" in e for e in bomb.errors)
    assert any("description larger than 64 KiB" in e for e in huge.errors)
    for name in ("hostile-silent", "hostile-drip"):
        assert not by_name[name].readable and by_name[name].maker is None
    assert scanned["elapsed"] < 20  # the slow ones were cut at their own 2.5 s caps


def test_description_urls_on_other_hosts_are_never_fetched() -> None:
    hits: list[str] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((f"{BASE}200", 18190), Elsewhere)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        async def probe() -> Any:
            client = make_client(1)
            try:
                return await probe_description(client, f"{BASE}201",
                                               f"http://{BASE}200:18190/desc.xml")
            finally:
                await client.aclose()

        obs = asyncio.run(probe())
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []
    assert obs.errors == [f"upnp {BASE}201: description URL 'http://{BASE}200:18190/desc.xml' "
                          "is not on the answering host; not fetched"]


def test_a_silent_greeting_is_an_error_not_a_hang(lab: Any) -> None:
    silent = lab.device("hostile-silent")
    started = time.monotonic()
    obs = asyncio.run(read_greeting(silent.address, silent.ports["telnet"], "telnet"))
    assert time.monotonic() - started < 2.5
    assert obs.signals == [] and obs.errors == [
        f"telnet {silent.address}:{silent.ports['telnet']}: connected, but the service said "
        "nothing"]
