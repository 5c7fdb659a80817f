"""Realistic scan and screen documents for the report tests, built through the real path.

Devices are hand-built `Inventory`/`Device`/`Evidence` records (what the scanners produce),
attributed by `entityscan.scanners.attribution`, screened by
`entityscan.screening.screen_inventory` and turned into documents by
`entityscan.output.scan_document` -- the same path `entityscan scan` takes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from entityscan.lineitems import read_line_items
from entityscan.output import scan_document, screen_document
from entityscan.scanners.attribution import attribute
from entityscan.scanners.inventory import Certainty, Device, Evidence, Inventory, ScanError
from entityscan.screening import ScreeningContext, screen_inventory, screen_items

SOLID, MEDIUM, UNCERTAIN = Certainty.SOLID, Certainty.MEDIUM, Certainty.UNCERTAIN
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">'


def _ev(probe: str, field: str, value: str, indicates: str | None = None,
        certainty: Certainty = MEDIUM, kind: str = "platform", rule: str | None = None,
        source: str | None = None) -> Evidence:
    return Evidence(probe=probe, field=field, value=value, indicates=indicates,
                    certainty=certainty, kind=kind, rule=rule, source=source)


def _network_devices() -> list[Device]:
    return [
        Device(addresses=["10.20.1.64"], mac="bc:ad:28:11:22:33", brand="HIKVISION",
               model="DS-2CD2143G2-I", firmware="V5.7.3 build 220112",
               serial="DS-2CD2143G2-I20220101AAWRJ12345678",
               device_class="camera", evidence=[
                   _ev("sadp", "DeviceType", "DS-2CD2143G2-I", "Hikvision", SOLID,
                       rule="sadp-inquiry-reply",
                       source="Skylight Cyber 2023 write-up on Hikvision intercoms"),
                   _ev("http", "Server", "App-webs/", "Hikvision", MEDIUM, rule="http-app-webs"),
                   _ev("oui", "mac", "bc:ad:28", "Hikvision", SOLID, kind="registrant",
                       rule="oui", source="IEEE MA-L registry"),
                   _ev("onvif", "Manufacturer", "HIKVISION", "Hikvision", MEDIUM, kind="label"),
               ]),
        Device(addresses=["10.20.1.65"], mac="3c:ef:8c:44:55:66", brand="Amcrest",
               model="IP8M-2496EB", firmware="V2.800.0000000.7.R", serial="9K0A1B2PAZ12345",
               device_class="camera", evidence=[
                   _ev("dhip", "DHDiscover.search", "deviceType=IPC-HFW2831T", "Dahua", SOLID,
                       rule="dhip-discover"),
                   _ev("http", "WWW-Authenticate", 'Digest realm="Login to 9K0A1B2PAZ12345"',
                       "Dahua", MEDIUM, rule="realm-login-to-serial"),
                   _ev("onvif", "Manufacturer", "Amcrest", None, MEDIUM, kind="label"),
               ]),
        Device(addresses=["10.20.1.70"], mac="00:40:8c:aa:bb:cc", brand="AXIS",
               model="P3265-LVE", firmware="10.12.182", serial="ACCC8E123456",
               device_class="camera", evidence=[
                   _ev("mdns", "_axis-video._tcp", "AXIS P3265-LVE - ACCC8E123456", "Axis",
                       MEDIUM, kind="label"),
                   _ev("oui", "mac", "00:40:8c", "Axis", SOLID, kind="registrant"),
               ]),
        Device(addresses=["10.20.2.10"], mac="e0:ca:3c:01:02:03", brand="LTS",
               model="LTN8916-P16", firmware="V4.30.005", device_class="nvr", evidence=[
                   _ev("http", "Server", "webserver", None, UNCERTAIN),
                   _ev("rtsp", "Server", "Hikvision-Webs", "Hikvision", UNCERTAIN,
                       rule="rtsp-server"),
               ]),
        Device(addresses=["10.20.2.11"], mac="00:11:22:33:44:55", brand=HOSTILE,
               model="<b>bold</b> & \"quoted\"", firmware="1.0'); alert(1); //",
               serial="=HYPERLINK(\"http://evil.invalid\")", device_class="camera", evidence=[
                   _ev("http", "title", HOSTILE, None, UNCERTAIN, kind="label"),
               ]),
        Device(addresses=["10.20.2.12"], readable=False,
               errors=["http: no answer within 3.0 s", "rtsp: connection reset"], evidence=[]),
        Device(addresses=["192.168.7.20", "fe80::1"], mac="f8:4d:fc:10:20:30", brand="EZVIZ",
               model="CS-C6N", firmware="V5.3.0 build 210309", device_class="camera",
               evidence=[
                   _ev("mdns", "_http._tcp", "EZVIZ CS-C6N", "Hikvision", MEDIUM, kind="label"),
                   _ev("oui", "mac", "f8:4d:fc", "Hikvision", SOLID, kind="registrant"),
               ]),
    ]


@cache
def context() -> ScreeningContext:
    return ScreeningContext.load()


def scan_doc() -> dict[str, Any]:
    """An `entityscan.scan/1` document of a small mixed network."""
    start = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    inventory = Inventory(
        kind="network", targets=["10.20.1.0/24", "10.20.2.0/24", "192.168.7.20"],
        started=start, finished=start + timedelta(seconds=41),
        parameters={"timeout": 3.0, "rate": 200, "multicast": True,
                    "credentials_file": "/etc/entityscan/creds", "password": "hunter2"},
        devices=[attribute(d) for d in _network_devices()],
        errors=[ScanError(target="10.20.2.12", probe="http", message="no answer within 3.0 s")],
    )
    return scan_document(inventory, screen_inventory(inventory, context()), context().lists)


def usb_doc() -> dict[str, Any]:
    """An `entityscan.scan/1` document of a USB check on two hosts."""
    devices = [
        Device(host="ws-014", vid="2bdf", pid="0289", addresses=["1-2"], brand="HIK 1080P Camera",
               model="HIK 1080P Camera", serial="HK01", device_class="usb-camera", evidence=[
                   _ev("usb", "idVendor", "2bdf", "Hikvision", SOLID, kind="registrant"),
                   _ev("usb", "iProduct", "HIK 1080P Camera", "Hikvision", MEDIUM, kind="label"),
               ]),
        Device(host="ws-015", vid="046d", pid="085b", addresses=["3-1"], brand="Logitech",
               model="C925e", device_class="usb-camera", evidence=[
                   _ev("usb", "idVendor", "046d", "Logitech", SOLID, kind="registrant"),
               ]),
    ]
    inventory = Inventory(kind="usb", targets=["ws-014", "ws-015"],
                          devices=[attribute(d) for d in devices],
                          finished=datetime.now(UTC))
    return scan_document(inventory, screen_inventory(inventory, context()), context().lists)


def screen_doc() -> dict[str, Any]:
    """An `entityscan.screen/1` document of the bundled sample purchase order."""
    from entityscan.commands.screen import sample_path

    items = read_line_items(sample_path())
    return screen_document(items, screen_items(items, context()), context().lists,
                           source=str(sample_path()))
