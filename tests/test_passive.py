"""`entityscan passive` on captures built frame by frame (dpkt): every source of passive
evidence reaches the bundled rules and the active scan's attribution, devices are keyed by
MAC, and what is not a restricted maker's stays clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.scanners.lab.tlscert import certificate_pem
from entityscan.scanners.passive import PassiveScan, read_captures
from entityscan.scanners.passive.capture import read_capture
from tests.lab.clients import dhip_frame
from tests.passive_frames import (
    CaptureWriter,
    arp_reply,
    dhcp_request,
    tcp,
    tcp_stream,
    tls_server_flight,
    udp,
)

CLIENT = "10.248.0.2"
HIK_MAC = "44:19:b6:6d:24:0a"
HIK_SUBJECT = "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
SADP_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n<ProbeMatch>\r\n<Uuid>0F2A</Uuid>\r\n'
    b"<Types>inquiry</Types>\r\n<DeviceType>138153</DeviceType>\r\n"
    b"<DeviceDescription>DS-2CD2143G2-I</DeviceDescription>\r\n"
    b"<DeviceSN>DS-2CD2143G2-I20220315AAWR123456789</DeviceSN>\r\n"
    b"<MAC>44-19-b6-6d-24-0a</MAC>\r\n<SoftwareVersion>V5.7.3build 220315</SoftwareVersion>\r\n"
    b"</ProbeMatch>\r\n")
DHIP_BODY = json.dumps({"mac": "00:1f:54:6a:b2:90", "method": "client.notifyDevInfo",
                        "params": {"deviceInfo": {"DeviceClass": "IPC",
                                                  "DeviceType": "E841CA-E",
                                                  "SerialNo": "ND0219050043217",
                                                  "Vendor": "Lorex", "Manufacturer": "General",
                                                  "Version": "2.800.0000000.2.R"}}}).encode()
WSD_HELLO = (
    b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope '
    b'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
    b"<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</a:Action></s:Header>"
    b"<s:Body><d:Hello><a:EndpointReference><a:Address>urn:uuid:1</a:Address>"
    b"</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>"
    b"onvif://www.onvif.org/name/Dahua onvif://www.onvif.org/hardware/IPC-HFW2431S-S-S2 "
    b"onvif://www.onvif.org/location/country/china "
    b"onvif://www.onvif.org/extension/unique_identifier/1</d:Scopes>"
    b"<d:XAddrs>http://10.248.0.14/onvif/device_service</d:XAddrs>"
    b"<d:MetadataVersion>1</d:MetadataVersion></d:Hello></s:Body></s:Envelope>")


def _mdns_answer() -> bytes:
    from zeroconf import DNSOutgoing, DNSPointer, DNSService, const

    instance = "HIKVISION DS-7608NI-K2 - 123456789._CGI._tcp.local."
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    out.add_answer_at_time(DNSPointer("_CGI._tcp.local.", const._TYPE_PTR, const._CLASS_IN,
                                      4500, instance), 0)
    out.add_answer_at_time(DNSService(instance, const._TYPE_SRV, const._CLASS_IN, 120, 0, 0,
                                      80, "DS-7608NI-K20200101AAWR123456789.local."), 0)
    return out.packets()[0]


def _certificate_der(subject: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem, _ = certificate_pem(subject)
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def _http(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _by_address(devices: list[dict]) -> dict[str, dict]:
    return {d["addresses"][0] if d["addresses"] else d["id"]: d for d in devices}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One capture with a device per kind of passive evidence, and negative controls."""
    path = tmp_path_factory.mktemp("passive") / "site.pcapng"
    w = CaptureWriter(path, ng=True)
    # .10 Hikvision: SADP reply multicast to the group (the device's own MAC)
    w.add(udp("10.248.0.10", "239.255.255.250", 37020, 37020, SADP_REPLY, src_mac=HIK_MAC))
    # .11 Lorex (Dahua platform): DHIP reply
    w.add(udp("10.248.0.11", CLIENT, 37810, 50000, dhip_frame(DHIP_BODY + b"\n"),
              src_mac="00:1f:54:6a:b2:90"))
    # .12 Hikvision web stack: a 401 in 7-byte segments, delivered out of order, once twice
    w.add(tcp(CLIENT, "10.248.0.12", 41000, 80,
              b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: x\r\n\r\n", seq=1))
    segments = tcp_stream("10.248.0.12", CLIENT, 80, 41000, _http(
        "401 Unauthorized", {"Server": "App-webs/", "WWW-Authenticate":
                             'Digest realm="IP Camera(12345)", qop="auth", nonce="abc"'}),
        segment=7, src_mac="02:00:00:00:00:12")
    segments[2], segments[5] = segments[5], segments[2]
    w.add(segments[0], segments[1], *segments[1:])
    # .13 Hikvision default certificate over TLS 1.2, in 500-byte segments
    w.add(*tcp_stream("10.248.0.13", CLIENT, 443, 41001,
                      tls_server_flight(_certificate_der(HIK_SUBJECT)), segment=500,
                      src_mac="02:00:00:00:00:13"))
    # .14 Dahua scopes in a WS-Discovery Hello
    w.add(udp("10.248.0.14", "239.255.255.250", 3702, 3702, WSD_HELLO,
              src_mac="02:00:00:00:00:14"))
    # .15 Hikvision NVR's mDNS answer
    w.add(udp("10.248.0.15", "224.0.0.251", 5353, 5353, _mdns_answer(),
              src_mac="02:00:00:00:00:15"))
    # DHCP: a camera asking for .16 with a model-shaped host name
    w.add(dhcp_request("c0:56:e3:11:22:33", hostname="DS-2CD2043G0-I",
                       vendor="udhcp 1.19.4", requested="10.248.0.16"))
    # .17 seen only in ARP, with a Hikvision OUI: a lead (review), not proof
    w.add(arp_reply("10.248.0.17", "44:19:b6:00:00:17", CLIENT))
    # .18 ONVIF GetDeviceInformation answered to a poller
    w.add(tcp(CLIENT, "10.248.0.18", 41002, 80, b"POST /onvif/device_service HTTP/1.1\r\n\r\n",
              seq=1))
    w.add(*tcp_stream("10.248.0.18", CLIENT, 80, 41002, _http("200 OK", {
        "Content-Type": "application/soap+xml"}, (
        b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Body>'
        b"<tds:GetDeviceInformationResponse><tds:Manufacturer>HIKVISION</tds:Manufacturer>"
        b"<tds:Model>DS-2CD2T47G2-L</tds:Model><tds:FirmwareVersion>V5.7.11 build 220714"
        b"</tds:FirmwareVersion><tds:SerialNumber>DS-2CD2T47G2-L20220714AAWRJ12345678"
        b"</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId>"
        b"</tds:GetDeviceInformationResponse></s:Body></s:Envelope>")),
        src_mac="02:00:00:00:00:18", segment=300))
    # .19 announces itself over SSDP; a client fetched its UPnP description
    w.add(udp("10.248.0.19", "239.255.255.250", 1900, 1900, (
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
        b"NTS: ssdp:alive\r\nSERVER: Linux/3.10 UPnP/1.0 Portable SDK for UPnP devices/1.6.6"
        b"\r\nLOCATION: http://10.248.0.19:49152/description.xml\r\n\r\n"),
        src_mac="02:00:00:00:00:19"))
    w.add(tcp(CLIENT, "10.248.0.19", 41005, 49152, b"GET /description.xml HTTP/1.1\r\n\r\n",
              seq=1))
    w.add(*tcp_stream("10.248.0.19", CLIENT, 49152, 41005, _http("200 OK", {
        "Content-Type": "text/xml"}, (
        b'<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>'
        b"<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>"
        b"<manufacturer>HIKVISION</manufacturer><modelName>DS-2CD2143G2-I</modelName>"
        b"<serialNumber>DS-2CD2143G2-I20220315AAWR999999999</serialNumber></device></root>")),
        src_mac="02:00:00:00:00:19"))
    # negative controls: .30 Axis web server, .31 Xiongmai (Chinese, not listed)
    w.add(*tcp_stream("10.248.0.30", CLIENT, 80, 41003, _http("200 OK", {
        "Server": "lighttpd/1.4.53"}, b"<html><title>AXIS</title></html>"),
        src_mac="00:40:8c:11:22:33"))
    w.add(*tcp_stream("10.248.0.31", CLIENT, 80, 41004, _http("200 OK", {
        "Server": "uc-httpd 1.0.0"}, b"<html><title>NETSurveillance WEB</title></html>"),
        src_mac="02:00:00:00:00:31"))
    # .32: a web server's inner page that starts with a BOM (the Dahua front-page tell) is
    # not the front page: no body evidence from it
    w.add(tcp(CLIENT, "10.248.0.32", 41006, 80, b"GET /help/page.html HTTP/1.1\r\n\r\n", seq=1))
    w.add(*tcp_stream("10.248.0.32", CLIENT, 80, 41006, _http("200 OK", {
        "Content-Type": "text/html"}, "\ufeff<!DOCTYPE html><html></html>".encode()),
        src_mac="02:00:00:00:00:32"))
    # a far web server (global address, behind the router) with a Hikvision certificate: a
    # vendor's site a user visited, not equipment on this network
    w.add(*tcp_stream("203.0.113.7", CLIENT, 443, 41007,
                      tls_server_flight(_certificate_der(HIK_SUBJECT)),
                      src_mac="02:aa:aa:aa:aa:aa"))
    w.add(*tcp_stream("151.101.1.7", CLIENT, 443, 41008,
                      tls_server_flight(_certificate_der(HIK_SUBJECT)),
                      src_mac="02:aa:aa:aa:aa:aa"))
    # a router: one MAC sending from many addresses (far hosts) is never a device's MAC
    for n in range(8):
        w.add(*tcp_stream(f"198.51.100.{n + 1}", CLIENT, 80, 42000 + n,
                          _http("200 OK", {"Server": "App-webs/"}),
                          src_mac="02:aa:aa:aa:aa:aa"))
    w.close()
    return path


@pytest.fixture(scope="module")
def document(site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("doc") / "passive.json"
    assert main(["passive", str(site), "--format", "json", "--output", str(out)]) == 1
    return json.loads(out.read_text())


def test_every_source_of_passive_evidence_attributes(document: dict) -> None:
    devices = _by_address(document["devices"])
    expected = {"10.248.0.10": "Hikvision", "10.248.0.11": "Dahua", "10.248.0.12": "Hikvision",
                "10.248.0.13": "Hikvision", "10.248.0.14": "Dahua", "10.248.0.15": "Hikvision",
                "10.248.0.16": "Hikvision", "10.248.0.18": "Hikvision",
                "10.248.0.19": "Hikvision"}
    for address, maker in expected.items():
        device = devices[address]
        assert (device["attributed_maker"], device["verdict"]) == (maker, "flagged"), address
        assert device["discovered_by"] == ["passive"]
    rules = {a: {e["rule"] or "" for e in devices[a]["evidence"]} for a in expected}
    assert "sadp/sadp-probe-match" in rules["10.248.0.10"]
    assert "http_path/hikvision-isapi" in rules["10.248.0.12"]
    assert "http_realm/hikvision-realm-ip-camera" in rules["10.248.0.12"]
    assert any(r.startswith("tls_subject/") for r in rules["10.248.0.13"])
    assert any(r.startswith("onvif_scope/") for r in rules["10.248.0.14"])
    assert any(r.startswith("mdns/") for r in rules["10.248.0.15"])
    assert any(r.startswith("onvif_info/") for r in rules["10.248.0.18"])
    assert devices["10.248.0.11"]["brand"] == "Lorex"
    assert devices["10.248.0.19"]["observed"]["protocols"] == ["http", "ssdp"]
    assert {"label/hikvision", "model/hikvision-fixed-camera"} <= rules["10.248.0.19"]
    assert devices["10.248.0.18"]["serial"] == "DS-2CD2T47G2-L20220714AAWRJ12345678"


def test_the_document_is_a_valid_scan_document(document: dict) -> None:
    from entityscan.reports import validate_document

    validate_document(document)
    assert document["schema"] == "entityscan.scan/1" and document["kind"] == "network"
    assert document["parameters"]["mode"] == "passive"


def test_devices_are_keyed_by_mac_with_their_time_span(document: dict) -> None:
    devices = _by_address(document["devices"])
    assert devices["10.248.0.10"]["id"] == f"mac:{HIK_MAC}"
    dhcp = devices["10.248.0.16"]
    assert dhcp["id"] == "mac:c0:56:e3:11:22:33" and dhcp["model"] == "DS-2CD2043G0-I"
    assert dhcp["observed"]["packets"] == 1 and dhcp["observed"]["first"].startswith("2023-")
    assert {e["field"] for e in dhcp["evidence"]} >= {"host name", "vendor class",
                                                       "parameter request list"}
    web = devices["10.248.0.12"]["observed"]
    assert web["protocols"] == ["http"] and web["first"] < web["last"]
    assert web["packets"] > 10  # every 7-byte segment counted
    assert document["started"] < document["finished"]


def test_leads_stay_leads_and_controls_stay_clear(document: dict) -> None:
    devices = _by_address(document["devices"])
    assert devices["10.248.0.17"]["verdict"] == "review"  # Hikvision OUI alone
    assert devices["10.248.0.30"]["verdict"] == "clear"
    assert devices["10.248.0.31"]["verdict"] == "clear"
    assert devices["10.248.0.32"]["attributed_maker"] is None
    routed = [d for a, d in devices.items() if a.startswith("198.51.100.")]
    assert routed and all(d["mac"] is None for d in routed)  # the router's MAC is no one's
    flagged = {a for a, d in devices.items() if d["verdict"] == "flagged"}
    assert "10.248.0.30" not in flagged and "10.248.0.31" not in flagged


def test_far_servers_are_counted_not_listed_unless_asked(document: dict, site: Path,
                                                          tmp_path: Path) -> None:
    listed = _by_address(document["devices"])
    assert "151.101.1.7" not in listed  # global address, no MAC of its own, no chatter
    assert "203.0.113.7" in listed  # documentation range: not global, so it is listed
    assert document["parameters"]["remote_hosts_not_listed"] == 1
    out = tmp_path / "all.json"
    assert main(["passive", str(site), "--include-remote", "-f", "json", "-o", str(out)]) == 1
    everything = _by_address(json.loads(out.read_text())["devices"])
    assert everything["151.101.1.7"]["attributed_maker"] == "Hikvision"


def test_tls13_hides_the_certificate_and_sni_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "tls13.pcap"
    w = CaptureWriter(path)
    hello = bytearray(tls_server_flight(_certificate_der(HIK_SUBJECT)))
    # a TLS 1.3 ServerHello: supported_versions (43) chooses 0x0304
    server_hello = (b"\x03\x03" + b"\x22" * 32 + b"\x00" + b"\x13\x01" + b"\x00" +
                    b"\x00\x06" + b"\x00\x2b\x00\x02\x03\x04")
    message = b"\x02" + len(server_hello).to_bytes(3, "big") + server_hello
    record = b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message
    w.add(*tcp_stream("10.248.0.40", CLIENT, 443, 43000, record + b"\x17\x03\x03\x00\x05" +
                      bytes(hello[:5]), src_mac="02:00:00:00:00:40"))
    # server_name extension: type 0, length 14; list length 12; host_name (0), length 9
    ext = b"\x00\x00\x00\x0e\x00\x0c\x00\x00\x09cam.local"
    client_hello = (b"\x03\x03" + b"\x33" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
                    + len(ext).to_bytes(2, "big") + ext)
    chm = b"\x01" + len(client_hello).to_bytes(3, "big") + client_hello
    w.add(tcp(CLIENT, "10.248.0.41", 43001, 443,
              b"\x16\x03\x01" + len(chm).to_bytes(2, "big") + chm, seq=1))
    w.add(*tcp_stream("10.248.0.41", CLIENT, 443, 43001,
                      tls_server_flight(_certificate_der(HIK_SUBJECT)),
                      src_mac="02:00:00:00:00:41"))
    w.close()
    devices = {d.addresses[0]: d for d in read_captures([path]).devices}
    assert "10.248.0.40" not in devices or not any(
        e.rule and e.rule.startswith("tls_subject") for e in devices["10.248.0.40"].evidence)
    shown = {(e.field, e.value) for e in devices["10.248.0.41"].evidence}
    assert ("server name (SNI) clients asked for", "cam.local") in shown
    assert devices["10.248.0.41"].maker == "Hikvision"


def test_pcap_and_pcapng_read_alike(site: Path, tmp_path: Path) -> None:
    with open(site, "rb") as stream:
        packets = list(read_capture(stream, name="site"))
    classic = tmp_path / "site.pcap"
    w = CaptureWriter(classic)
    w.add(*(p.data for p in packets))
    w.close()
    one = read_captures([site])
    two = read_captures([classic])
    assert [d.key() for d in one.devices] == [d.key() for d in two.devices]
    assert [d.maker for d in one.devices] == [d.maker for d in two.devices]


def test_a_response_nobody_finished_is_still_read_at_the_end() -> None:
    from tests.passive_frames import packed

    job = PassiveScan()
    from entityscan.scanners.passive.capture import Packet

    frames = tcp_stream("10.248.0.50", CLIENT, 8080, 44000,
                        b"HTTP/1.0 200 OK\r\nServer: DNVRS-Webs\r\n\r\n<html>", fin=False)
    job.feed(Packet(1.0 + n, 1, f) for n, f in enumerate(frames))
    assert packed("10.248.0.50") in job.table.spans
    devices = job.inventory().devices
    assert [d.maker for d in devices] == ["Hikvision"]


PLUGIN = """
from pathlib import Path
from entityscan import hookimpl

@hookimpl
def entityscan_screen_device(device, finding, settings):
    with Path(settings.options["seen_file"]).open("a") as out:
        out.write(device.key() + "\\n")
"""


@pytest.mark.parametrize("fmt", ["csv", "html", "cyclonedx", "table"])
def test_every_scan_format_save_and_plugin(site: Path, tmp_path: Path, fmt: str,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / f"p14_seen_{fmt}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ENTITYSCAN_OPT_SEEN_FILE", str(tmp_path / "seen.txt"))
    out = tmp_path / f"out.{fmt}"
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["passive", str(site), "-f", fmt, "-o", str(out), "--save", "--db", db,
                 "--plugin", f"p14_seen_{fmt}"]) == 1
    text = out.read_text()
    assert "10.248.0.10" in text and "Hikvision" in text
    assert "saved as scan 1" in capsys.readouterr().err
    assert f"mac:{HIK_MAC}" in (tmp_path / "seen.txt").read_text().split()


def test_gzip_captures_and_standard_input(site: Path, tmp_path: Path) -> None:
    import gzip
    import subprocess
    import sys

    packed_site = tmp_path / "site.pcapng.gz"
    packed_site.write_bytes(gzip.compress(site.read_bytes()))
    plain = {d.key() for d in read_captures([site]).devices}
    assert {d.key() for d in read_captures([packed_site]).devices} == plain
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "entityscan", "passive", "-", "-f", "json"],
                            input=site.read_bytes(), capture_output=True, timeout=120,
                            cwd=root, check=False)
    assert result.returncode == 1, result.stderr[-1000:]
    doc = json.loads(result.stdout)
    assert {d["id"] for d in doc["devices"]} == plain and doc["targets"] == ["<stdin>"]
