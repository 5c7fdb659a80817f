"""Simulated vendor discovery (SADP, DHIP) and mDNS over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Iterator

import defusedxml.ElementTree as SafeET
import httpx
import pytest

from entityscan.scanners.lab import Lab, load_profiles, run_lab_in_thread
from tests.lab.clients import DHIP_SEARCH, dhip_frame, sadp_inquiry, udp_exchange

CLIENT = "127.30.3.1"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with run_lab_in_thread(load_profiles(), base="127.30.3.10") as running:
        yield running


def sadp(lab: Lab, name: str, verb: str = "inquiry") -> list[bytes]:
    dev = lab.device(name)
    probe_uuid, payload = sadp_inquiry(verb=verb)
    replies = udp_exchange(CLIENT, (dev.address, dev.ports["sadp"]), payload)
    for data, source in replies:
        assert source == (dev.address, dev.ports["sadp"])
        assert f"<Uuid>{probe_uuid}</Uuid>".encode() in data
    return [data for data, _ in replies]


def test_sadp_unicast_inquiry_gets_a_probe_match(lab: Lab) -> None:
    dev = lab.device("hikvision-ipc")
    (data,) = sadp(lab, "hikvision-ipc")
    root = SafeET.fromstring(data)
    assert root.tag == "ProbeMatch"
    fields = {child.tag: (child.text or "") for child in root}
    assert fields["Types"] == "inquiry"
    assert fields["DeviceDescription"] == "DS-2CD2143G2-I"
    assert fields["DeviceSN"] == dev.serial
    assert fields["MAC"] == dev.mac.replace(":", "-")
    assert fields["IPv4Address"] == dev.address
    assert fields["HttpPort"] == str(dev.ports["http"])
    assert fields["SoftwareVersion"] == "V5.7.3build 220315"
    assert fields["OEMInfo"] == "N/A" and fields["DeviceType"].isdigit()


def test_sadp_line_endings_and_whitespace_vary(lab: Lab) -> None:
    (nvr,) = sadp(lab, "hikvision-nvr")
    assert b"\r\n<DeviceSN>" in nvr
    (intercom,) = sadp(lab, "hikvision-intercom")
    assert intercom[:1].isspace() and SafeET.fromstring(intercom.strip()).tag == "ProbeMatch"
    (annke,) = sadp(lab, "annke-ipc")
    assert b"<OEMInfo>" not in annke  # dropped where nothing was observed


def test_sadp_other_verbs_and_other_devices_stay_silent(lab: Lab) -> None:
    for verb in ("update", "getcode", "reset"):
        assert sadp(lab, "hikvision-ipc", verb) == []
    assert "sadp" not in lab.device("dahua-ipc").ports
    assert "sadp" not in lab.device("axis-cam").ports


def dhip(lab: Lab, name: str, payload: bytes = DHIP_SEARCH) -> list[dict]:
    dev = lab.device(name)
    out = []
    for data, source in udp_exchange(CLIENT, (dev.address, dev.ports["dhip"]), payload):
        assert source == (dev.address, dev.ports["dhip"])
        head, magic, _, _, length, _, length2, _ = struct.unpack("<I4sIIIIII", data[:32])
        assert (head, magic, length) == (0x20, b"DHIP", length2)
        assert len(data) == 32 + length
        out.append(json.loads(data[32:].rstrip(b"\x00\n")))
    return out


def test_dhip_search_gets_device_info(lab: Lab) -> None:
    dev = lab.device("dahua-ipc")
    (reply,) = dhip(lab, "dahua-ipc")
    assert reply["method"] == "client.notifyDevInfo" and reply["mac"] == dev.mac
    info = reply["params"]["deviceInfo"]
    assert info["DeviceClass"] == "IPC" and info["Vendor"] == "Dahua"
    assert info["SerialNo"] == dev.serial and info["Version"] == "2.800.0000000.0.R"
    assert info["IPv4Address"]["IPAddress"] == dev.address
    assert info["HttpPort"] == dev.ports["http"] and info["Port"] == 37777


@pytest.mark.parametrize(("name", "vendor", "manufacturer", "device_class"), [
    ("amcrest-ipc", "Amcrest", "Private", "IPC"),
    ("lorex-ipc", "Lorex", "General", "IPC"),
    ("dahua-nvr", "Dahua", "Private", "NVR"),
    ("dahua-vto", "Dahua", "General", "VTO"),
    ("imou-cam", "IMOU", "General", "IPC"),
])
def test_dhip_relabels_show_their_label(lab: Lab, name: str, vendor: str, manufacturer: str,
                                        device_class: str) -> None:
    (reply,) = dhip(lab, name)
    info = reply["params"]["deviceInfo"]
    assert (info["Vendor"], info["Manufacturer"], info["DeviceClass"]) == (
        vendor, manufacturer, device_class)


def test_dhip_spaced_request_form_and_other_verbs(lab: Lab) -> None:
    spaced = dhip_frame(b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", '
                        b'"uni" : 1 } }\n')
    assert len(dhip(lab, "dahua-ipc", spaced)) == 1
    set_config = dhip_frame(b'{"method":"DHDiscover.setConfig","params":{}}')
    assert dhip(lab, "dahua-ipc", set_config) == []
    assert dhip(lab, "dahua-ipc", b"\x01") == []          # ordinary units ignore a byte
    assert len(dhip(lab, "dahua-vto", b"\x01")) == 1      # this one answers any byte


def test_mdns_services_are_advertised() -> None:
    """Registration is slow (~1.6 s), so this test runs its own small lab with mDNS on."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    profiles = load_profiles(["hikvision-ipc", "axis-cam", "dahua-ipc"])

    async def run() -> dict[str, AsyncServiceInfo]:
        async with Lab.loopback(profiles, base="127.30.3.100", mdns=True) as lab:
            hik, axis = lab.device("hikvision-ipc"), lab.device("axis-cam")
            zc = AsyncZeroconf(interfaces=["127.30.3.99"], ip_version=IPVersion.V4Only)
            try:
                found = {}
                for service_type, instance in (
                        ("_CGI._tcp.local.", f"HIKVISION DS-2CD2143G2-I - "
                                             f"{hik.tokens['serial_tail9']}"),
                        ("_axis-video._tcp.local.", f"AXIS P3245-LVE - {axis.serial}")):
                    info = AsyncServiceInfo(service_type, f"{instance}.{service_type}")
                    assert await info.async_request(zc.zeroconf, 3000)
                    found[service_type] = info
                return found
            finally:
                await zc.async_close()

    found = asyncio.run(run())
    hik = found["_CGI._tcp.local."]
    assert hik.server == "DS-2CD2143G2-I20220315AAWR123456789.local."
    assert hik.properties == {b"path": b"/"}
    assert hik.parsed_addresses() == ["127.30.3.100"]
    assert found["_axis-video._tcp.local."].properties[b"macaddress"] == b"ACCC8E4F12A0"


def test_unactivated_hikvision(lab: Lab) -> None:
    (data,) = sadp(lab, "hikvision-ipc-inactive")
    assert b"<Activated>false</Activated>" in data
    dev = lab.device("hikvision-ipc-inactive")
    reply = httpx.get(dev.url("http", "/ISAPI/System/deviceInfo"), timeout=5)
    assert "<subStatusCode>notActivated</subStatusCode>" in reply.text
    assert "wsd" not in dev.ports  # ONVIF is off until activation
