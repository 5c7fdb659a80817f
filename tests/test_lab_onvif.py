"""Simulated ONVIF: SOAP device service with WS-Security, and WS-Discovery over UDP."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import httpx
import pytest
from onvif import ONVIFCamera  # onvif-zeep-async, a declared dependency: never skipped
from zeep.exceptions import Fault

from entityscan.scanners.lab import Lab, load_profiles, run_lab_in_thread
from tests.lab.clients import soap, udp_exchange, wsd_probe

CREDS = ("admin", "Lab-Passw0rd!")
CLIENT = "127.30.2.1"
NS = {"env": "http://www.w3.org/2003/05/soap-envelope",
      "tds": "http://www.onvif.org/ver10/device/wsdl", "tt": "http://www.onvif.org/ver10/schema",
      "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
      "wsd": "http://schemas.xmlsoap.org/ws/2005/04/discovery"}


HTTP = httpx.Client(timeout=5)  # one client: building one costs ~0.1 s (TLS context)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with run_lab_in_thread(load_profiles(), base="127.30.2.10") as running:
        yield running


def post(lab: Lab, name: str, payload: bytes) -> tuple[int, Element]:
    dev = lab.device(name)
    reply = HTTP.post(dev.url("http", "/onvif/device_service"), content=payload, timeout=5,
                       headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    return reply.status_code, SafeET.fromstring(reply.content)


def test_system_date_and_time_needs_no_credentials(lab: Lab) -> None:
    status, root = post(lab, "hikvision-ipc", soap("GetSystemDateAndTime"))
    assert status == 200
    year = root.find(".//tt:UTCDateTime/tt:Date/tt:Year", NS)
    assert year is not None and int(year.text or 0) == datetime.now(UTC).year


def test_device_information_with_the_users_digest(lab: Lab) -> None:
    status, root = post(lab, "hikvision-ipc", soap("GetDeviceInformation", *CREDS))
    assert status == 200
    info = {local.tag.split("}")[1]: local.text
            for local in root.find(".//tds:GetDeviceInformationResponse", NS) or []}
    assert info == {"Manufacturer": "HIKVISION", "Model": "DS-2CD2143G2-I",
                    "FirmwareVersion": "V5.7.3 build 220315",
                    "SerialNumber": lab.device("hikvision-ipc").serial, "HardwareId": "88"}
    status, root = post(lab, "dahua-ipc", soap("GetNetworkInterfaces", *CREDS))
    assert root.findtext(".//tt:HwAddress", namespaces=NS) == lab.device("dahua-ipc").mac
    status, root = post(lab, "amcrest-ipc", soap("GetDeviceInformation", *CREDS, text=True))
    assert root.findtext(".//tds:Manufacturer", namespaces=NS) == "Amcrest"


@pytest.mark.parametrize("payload", [
    soap("GetDeviceInformation"),                                    # no token
    soap("GetDeviceInformation", "admin", "wrong-password"),         # wrong password
    soap("GetDeviceInformation", "operator", CREDS[1]),              # wrong user
    soap("GetNetworkInterfaces", "admin", "wrong-password", text=True),
], ids=["none", "wrong-password", "wrong-user", "wrong-text"])
def test_wrong_or_missing_credentials_get_a_soap_fault(lab: Lab, payload: bytes) -> None:
    status, root = post(lab, "dahua-ipc", payload)
    assert status == 400
    assert root.findtext(".//env:Fault/env:Code/env:Subcode/env:Value",
                         namespaces=NS) == "ter:NotAuthorized"


def test_hikvision_refuses_offset_style_created(lab: Lab) -> None:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    status, _ = post(lab, "hikvision-ipc", soap("GetDeviceInformation", *CREDS,
                                                  created=created))
    assert status == 400
    status, _ = post(lab, "dahua-ipc", soap("GetDeviceInformation", *CREDS, created=created))
    assert status == 200


def test_device_clock_skew_must_be_corrected(lab: Lab) -> None:
    status, root = post(lab, "dahua-nvr", soap("GetSystemDateAndTime"))
    hour = int(root.findtext(".//tt:UTCDateTime/tt:Time/tt:Hour", namespaces=NS) or -1)
    assert hour == (datetime.now(UTC) + timedelta(hours=1)).hour
    assert post(lab, "dahua-nvr", soap("GetDeviceInformation", *CREDS))[0] == 400
    status, _ = post(lab, "dahua-nvr", soap("GetDeviceInformation", *CREDS,
                                            clock_offset=timedelta(hours=1)))
    assert status == 200


def test_bad_xml_and_doctype_are_refused(lab: Lab) -> None:
    status, _ = post(lab, "hikvision-ipc", b"<not-xml")
    assert status == 400
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    assert post(lab, "hikvision-ipc", bomb)[0] == 400


def test_onvif_zeep_client_interoperates(lab: Lab) -> None:
    async def run() -> tuple[str, str]:
        dev = lab.device("dahua-nvr")  # clock one hour off: adjust_time must handle it
        cam = ONVIFCamera(dev.address, dev.ports["http"], *CREDS, no_cache=True,
                          adjust_time=True)
        try:
            await cam.update_xaddrs()
            mgmt = await cam.create_devicemgmt_service()
            info = await mgmt.GetDeviceInformation()
        finally:
            await cam.close()
        bad = ONVIFCamera(dev.address, dev.ports["http"], "admin", "nope", no_cache=True,
                          adjust_time=True)
        try:
            await bad.update_xaddrs()
            await (await bad.create_devicemgmt_service()).GetDeviceInformation()
            outcome = "no fault"
        except Fault as exc:
            outcome = str(exc)
        finally:
            await bad.close()
        return info.Model, outcome

    level = logging.getLogger().level
    try:
        model, outcome = asyncio.run(run())
    finally:
        logging.getLogger().setLevel(level)  # the onvif package sets root logging to INFO
    assert model == "DHI-NVR4208-4KS2/L"
    assert outcome == "Sender not Authorized"


# -- WS-Discovery ----------------------------------------------------------------------
def probe(lab: Lab, name: str, types: str | None, scopes: str | None = None
          ) -> list[Element]:
    dev = lab.device(name)
    message_id, payload = wsd_probe(types, scopes=scopes)
    replies = udp_exchange(CLIENT, (dev.address, dev.ports["wsd"]), payload)
    out = []
    for data, source in replies:
        assert source == (dev.address, dev.ports["wsd"])  # from the device's own address
        root = SafeET.fromstring(data)
        assert root.findtext(".//wsa:RelatesTo", namespaces=NS) == message_id
        out.append(root)
    return out


def test_probe_match_fields(lab: Lab) -> None:
    (root,) = probe(lab, "hikvision-ipc", "dn:NetworkVideoTransmitter")
    dev = lab.device("hikvision-ipc")
    match = root.find(".//wsd:ProbeMatch", NS)
    assert match is not None
    address = match.findtext("wsa:EndpointReference/wsa:Address", namespaces=NS) or ""
    assert address.startswith("urn:uuid:")
    assert address.replace("-", "").endswith(dev.mac.replace(":", ""))  # Hikvision habit
    scopes = (match.findtext("wsd:Scopes", namespaces=NS) or "").split()
    assert "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I" in scopes
    assert "name/HIKVISION DS-2CD2143G2-I" in {unquote(s.split("org/", 1)[1]) for s in scopes}
    assert match.findtext("wsd:XAddrs", namespaces=NS) == dev.url("http",
                                                                  "/onvif/device_service")
    message_number = root.find(".//wsd:AppSequence", NS)
    assert message_number is not None and message_number.get("MessageNumber", "").isdigit()
    (dahua,) = probe(lab, "dahua-ipc", "tds:Device")
    dahua_scopes = dahua.findtext(".//wsd:Scopes", namespaces=NS) or ""
    assert "onvif://www.onvif.org/extension/unique_identifier/1" in dahua_scopes.split()


@pytest.mark.parametrize(("name", "types", "answers"), [
    ("hikvision-ipc", "dn:NetworkVideoTransmitter", True),
    ("hikvision-ipc", "tds:Device", True),
    ("hikvision-ipc", "dn:NetworkVideoTransmitter tds:Device", True),
    ("hikvision-ipc", None, True),
    ("hikvision-nvr", "dn:NetworkVideoTransmitter", False),   # answers only tds:Device
    ("hikvision-nvr", "tds:Device", True),
    ("hikvision-nvr", None, False),                           # ignores untyped probes
    ("hikvision-intercom", "tds:Device", False),
    ("hikvision-intercom", "dn:NetworkVideoTransmitter", True),
    ("imou-cam", "dn:NetworkVideoTransmitter tds:Device", False),
    ("dahua-nvr", "tds:Device", True),
])
def test_probe_types_filter(lab: Lab, name: str, types: str | None, answers: bool) -> None:
    assert len(probe(lab, name, types)) == (1 if answers else 0)


def test_probe_scopes_filter(lab: Lab) -> None:
    assert probe(lab, "dahua-ipc", None, "onvif://www.onvif.org/location/country")
    assert not probe(lab, "dahua-ipc", None, "onvif://www.onvif.org/location/city/hangzhou")


def test_non_probes_and_garbage_get_no_answer(lab: Lab) -> None:
    dev = lab.device("hikvision-ipc")
    for payload in (os.urandom(300), b"<Hello/>", b""):
        assert udp_exchange(CLIENT, (dev.address, dev.ports["wsd"]), payload, wait=0.2) == []
    # a ProbeMatches (another device's answer) must not be answered either
    (root,) = probe(lab, "dahua-ipc", None)
    assert udp_exchange(CLIENT, (dev.address, dev.ports["wsd"]), SafeET.tostring(root),
                        wait=0.2) == []


def test_onvif_without_a_web_ui(lab: Lab) -> None:
    """IMOU has no web pages, yet its ONVIF service answers on the HTTP port."""
    dev = lab.device("imou-cam")
    assert HTTP.get(dev.url("http", "/")).status_code == 404
    status, root = post(lab, "imou-cam", soap("GetDeviceInformation", *CREDS))
    assert status == 200 and root.findtext(".//tds:Manufacturer", namespaces=NS) == "IMOU"
