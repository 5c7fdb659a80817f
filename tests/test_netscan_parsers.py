"""Discovery and probe parsers on captured-format payloads, and on odd, malformed and hostile
input.  The payload formats are the public ones the signature rules cite (SADP: Skylight Cyber
2023 write-up, MatrixEditor/hiktools; DHIP: julienblitte/UniversalScanner Dahua2.cs; WS-Discovery
scopes: ONVIF Core Specification; see scanners/signatures/SOURCES.md)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from entityscan.scanners import discovery
from entityscan.scanners.discovery import dhip, mdns, sadp, ssdp, wsd
from entityscan.scanners.discovery.base import DiscoveryReply
from entityscan.scanners.discovery.xmlsafe import UnsafeXML, find_text, local, parse_xml
from entityscan.scanners.probes.http import realm_of, title_of
from entityscan.scanners.probes.neighbours import eui64_mac, normalise_mac, read_arp
from entityscan.scanners.probes.rtsp import parse_response
from entityscan.scanners.probes.tls import subject_and_issuer

SADP_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n<ProbeMatch>\r\n'
    b"<Uuid>8A6F1C42-3B1D-4E55-9C1A-2F7E0D4B9A10</Uuid>\r\n<Types>inquiry</Types>\r\n"
    b"<DeviceType>138153</DeviceType>\r\n<DeviceDescription>DS-2CD2143G2-I</DeviceDescription>\r\n"
    b"<DeviceSN>DS-2CD2143G2-I20220315AAWRJ12345678</DeviceSN>\r\n<CommandPort>8000</CommandPort>\r\n"
    b"<HttpPort>80</HttpPort>\r\n<MAC>c0-56-e3-11-22-33</MAC>\r\n"
    b"<IPv4Address>192.168.1.64</IPv4Address>\r\n<SoftwareVersion>V5.7.3build 220315"
    b"</SoftwareVersion>\r\n<OEMInfo>N/A</OEMInfo>\r\n<Activated>true</Activated>\r\n"
    b"</ProbeMatch>\r\n")

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<ProbeMatch><DeviceSN>&lol3;</DeviceSN></ProbeMatch>")

WSD_MATCH = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<env:Header><wsa:MessageID>urn:uuid:1</wsa:MessageID><wsa:RelatesTo>uuid:2</wsa:RelatesTo>
<d:AppSequence InstanceId="1" MessageNumber="not-a-number"/></env:Header>
<env:Body><d:ProbeMatches><d:ProbeMatch>
<wsa:EndpointReference><wsa:Address>urn:uuid:54575fd6-1dd2-11b2-a8b6-4419b66d240a</wsa:Address>
</wsa:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/MAC/44:19:b6:6d:24:0a
 onvif://www.onvif.org/hardware/DS-2CD2143G2-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I
 onvif://www.onvif.org/location/city/hangzhou</d:Scopes>
<d:XAddrs>http://192.168.1.64/onvif/device_service http://[fe80::4619:b6ff:fe6d:240a]/onvif/device_service</d:XAddrs>
<d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"""


def test_sadp_probe_is_inquiry_only() -> None:
    (probe,) = sadp.build_probes()
    root = parse_xml(probe)
    assert root.tag == "Probe" and root.findtext("Types") == "inquiry"
    uuid_text = root.findtext("Uuid")
    assert uuid_text and uuid_text == uuid_text.upper() and len(uuid_text) == 36
    for verb in (b"update", b"getcode", b"reset", b"Activate"):
        assert verb not in probe


def test_sadp_reply_with_crlf_and_leading_space() -> None:
    (reply,) = sadp.parse_reply(b"  \r\n" + SADP_REPLY, "192.0.2.1")
    fields = reply.fields
    assert fields["DeviceDescription"] == "DS-2CD2143G2-I"
    assert fields["MAC"] == "c0-56-e3-11-22-33"
    assert fields["SoftwareVersion"] == "V5.7.3build 220315"
    assert "<ProbeMatch>" in fields["raw"]


def test_sadp_ignores_probes_and_refuses_bombs() -> None:
    assert sadp.parse_reply(sadp.build_probes()[0], "192.0.2.1") == []
    assert sadp.parse_reply(b"<ProbeMatch><Uuid>x</Uuid></ProbeMatch>", "192.0.2.1") == []
    with pytest.raises(ValueError, match="not a SADP reply"):
        sadp.parse_reply(b"<Other/>", "192.0.2.1")
    with pytest.raises(UnsafeXML) as info:
        sadp.parse_reply(BILLION_LAUGHS, "192.0.2.1")
    assert info.value.hostile
    with pytest.raises(UnsafeXML) as info:
        sadp.parse_reply(b"<ProbeMatch><MAC>", "192.0.2.1")
    assert not info.value.hostile
    with pytest.raises(UnsafeXML, match="exceeds"):
        parse_xml(b"<a>" + b"x" * 400_000 + b"</a>")


def test_dhip_frame_and_search_only() -> None:
    (probe,) = dhip.build_probes()
    head = struct.unpack("<I4sIIIIII", probe[:32])
    body = probe[32:]
    assert head == (0x20, b"DHIP", 0, 0, len(body), 0, len(body), 0)
    assert json.loads(body)["method"] == "DHDiscover.search"
    for verb in (b"setConfig", b"DevInit", b"PasswdFind"):
        assert verb not in probe


def test_dhip_reply_parsed_after_header_with_trailing_nul() -> None:
    body = (b'{ "mac" : "00:1f:54:aa:bb:cc", "method" : "client.notifyDevInfo", "params" : '
            b'{ "deviceInfo" : { "DeviceClass" : "NVR", "DeviceType" : "N842A6", "Manufacturer"'
            b' : "General", "SerialNo" : "ND0219110012345", "Vendor" : "Lorex", "Version" : '
            b'"2.800.0000002.0.R", "IPv4Address" : {"IPAddress": "192.168.1.108"}, '
            b'"Port": 35000 } } }\n\x00\x00')
    (reply,) = dhip.parse_reply(dhip.frame(body), "192.0.2.9")
    assert reply.fields["Vendor"] == "Lorex" and reply.fields["MAC"] == "00:1f:54:aa:bb:cc"
    assert reply.fields["IPv4Address"] == "192.168.1.108" and reply.fields["Port"] == "35000"
    assert reply.fields["raw"].startswith("{")


@pytest.mark.parametrize("garbage", [
    b"\x00", b"DHIP", b"\x20\x00\x00\x00DHIP" + b"\xff" * 40,
    dhip.frame(b'{"method": "DHDiscover.search", "params": {}}'),
    dhip.frame(b'{"method": "client.notifyDevInfo", "params": []}'),
    dhip.frame(b"[1, 2, 3]"),
])
def test_dhip_garbage_yields_nothing_or_a_clean_error(garbage: bytes) -> None:
    # Garbage raises ValueError (the collector counts it); our own search echoed is ignored.
    if b"DHDiscover.search" in garbage:
        assert dhip.parse_reply(garbage, "192.0.2.9") == []
    else:
        with pytest.raises(ValueError):
            dhip.parse_reply(garbage, "192.0.2.9")


def test_wsd_probes_are_typed_both_ways() -> None:
    probes = wsd.build_probes()
    assert len(probes) == 2
    assert b"dn:NetworkVideoTransmitter" in probes[0] and b"tds:Device" in probes[1]
    for probe, wanted in zip(probes, ("dn:NetworkVideoTransmitter", "tds:Device"), strict=True):
        root = parse_xml(probe)
        assert local(root.tag) == "Envelope"
        assert find_text(root, "Body", "Probe", "Types") == wanted


def test_wsd_probe_match_with_percent_encoded_scopes() -> None:
    (reply,) = wsd.parse_reply(WSD_MATCH, "192.168.1.64")
    scopes = reply.fields["scopes"]
    assert scopes["name"] == ["HIKVISION DS-2CD2143G2-I"]
    assert scopes["hardware"] == ["DS-2CD2143G2-I"]
    assert scopes["location/city"] == ["hangzhou"]
    assert scopes["mac"] == ["44:19:b6:6d:24:0a"]
    assert reply.fields["endpoint"].endswith("4419b66d240a")
    assert "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I" in reply.fields["scope_uris"]
    assert wsd.xaddr_for(reply, "192.168.1.64") == ("http", 80, "/onvif/device_service")


def test_wsd_odd_replies() -> None:
    assert wsd.parse_reply(wsd.build_probes()[0], "192.0.2.1") == []  # our own probe echoed
    assert wsd.parse_reply(b"<Envelope/>", "192.0.2.1") == []
    with pytest.raises(ValueError, match="not a SOAP envelope"):
        wsd.parse_reply(b"<html/>", "192.0.2.1")
    with pytest.raises(UnsafeXML):
        wsd.parse_reply(b"\xff\xfe<garbage", "192.0.2.1")
    with pytest.raises(UnsafeXML):
        wsd.parse_reply(BILLION_LAUGHS.replace(b"ProbeMatch", b"Envelope"), "192.0.2.1")


# --- what replies mean: each protocol's observe(), looked up by discovery.observe -------------

def _signals(obs) -> list[tuple[str, str, str]]:
    return [(sig.kind, sig.field, sig.value) for sig in obs.signals]


def test_every_discovery_protocol_has_a_reader() -> None:
    readers = discovery.OBSERVERS
    assert readers == {"sadp": sadp.observe, "dhip": dhip.observe, "wsd": wsd.observe,
                       "mdns": mdns.observe, "ssdp": ssdp.observe}


def test_sadp_reply_means() -> None:
    (reply,) = sadp.parse_reply(SADP_REPLY, "192.0.2.1")
    obs = discovery.observe(reply)
    assert _signals(obs)[0] == ("sadp", "reply", reply.fields["raw"])
    assert _signals(obs)[1:] == [
        ("sadp", "DeviceType", "138153"), ("sadp", "OEMInfo", "N/A"),
        ("model", "DeviceDescription", "DS-2CD2143G2-I"),
        ("firmware", "SoftwareVersion", "V5.7.3build 220315"),
        ("serial", "DeviceSN", "DS-2CD2143G2-I20220315AAWRJ12345678")]
    assert obs.facts == {"model": "DS-2CD2143G2-I", "serial": "DS-2CD2143G2-I20220315AAWRJ12345678",
                         "mac": "c0-56-e3-11-22-33", "firmware": "V5.7.3build 220315"}
    assert obs.errors == [] and not obs.hostile


def test_dhip_reply_means_and_a_generic_vendor_is_no_brand() -> None:
    body = (b'{"mac": "08:ed:ed:12:34:56", "method": "client.notifyDevInfo", "params": '
            b'{"deviceInfo": {"DeviceClass": "IPC", "DeviceType": "IPC-HDW5442TM-AS", '
            b'"Manufacturer": "Private", "SerialNo": "6G0A5B7PAZ12345", "Vendor": "%s", '
            b'"Version": "2.800.0000000.0.R"}}}')
    (reply,) = dhip.parse_reply(dhip.frame(body % b"Dahua"), "192.0.2.9")
    obs = discovery.observe(reply)
    assert _signals(obs)[1:] == [
        ("dhip", "Vendor", "Dahua"), ("dhip", "Manufacturer", "Private"),
        ("dhip", "DeviceClass", "IPC"), ("model", "DeviceType", "IPC-HDW5442TM-AS"),
        ("firmware", "Version", "2.800.0000000.0.R"), ("serial", "SerialNo", "6G0A5B7PAZ12345")]
    assert obs.facts == {"brand": "Dahua", "model": "IPC-HDW5442TM-AS",
                         "serial": "6G0A5B7PAZ12345", "mac": "08:ed:ed:12:34:56",
                         "firmware": "2.800.0000000.0.R", "device_class": "IPC"}
    (general,) = dhip.parse_reply(dhip.frame(body % b"General"), "192.0.2.9")
    assert "brand" not in discovery.observe(general).facts


def test_wsd_reply_means() -> None:
    (reply,) = wsd.parse_reply(WSD_MATCH, "192.168.1.64")
    obs = discovery.observe(reply)
    assert {kind for kind, _, _ in _signals(obs)} == {"onvif_scope"}
    assert [value for _, _, value in _signals(obs)] == reply.fields["scope_uris"]
    assert obs.facts == {"model": "DS-2CD2143G2-I", "wsd_name": "HIKVISION DS-2CD2143G2-I",
                         "mac": "44:19:b6:6d:24:0a",
                         "onvif": "http://192.168.1.64/onvif/device_service"}


def test_mdns_reply_means() -> None:
    reply = DiscoveryReply("mdns", "192.168.1.64", {
        "type": "_CGI._tcp", "name": "HIKVISION DS-2CD2143G2-I - 12345678",
        "server": "DS-2CD2143G2-I20220315AAWRJ12345678.local", "port": 80, "txt": {}})
    assert _signals(discovery.observe(reply)) == [
        ("mdns", "instance", "HIKVISION DS-2CD2143G2-I - 12345678._CGI._tcp.local."),
        ("mdns", "type", "_CGI._tcp.local."),
        ("mdns", "srv", "DS-2CD2143G2-I20220315AAWRJ12345678.local.")]


def test_a_protocol_without_a_reader_is_an_error_not_silence() -> None:
    obs = discovery.observe(DiscoveryReply("llmnr", "192.0.2.1", {"server": "x"}))
    assert obs.signals == [] and obs.facts == {}
    assert obs.errors == ["llmnr: no reader for this discovery protocol's replies"]


def test_http_and_rtsp_header_helpers() -> None:
    assert realm_of('Digest qop="auth", realm="IP Camera(C1234)", nonce="x"') == \
        "IP Camera(C1234)"
    assert realm_of('Basic realm=Hikvision') == "Hikvision"
    assert realm_of(None) is None and realm_of("Bearer") is None
    assert title_of(b"<html><TITLE>\n NETSurveillance  WEB </title>") == "NETSurveillance WEB"
    assert title_of(b"<html>") is None
    status, headers = parse_response(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n"
                                     b"Server: Dahua Rtsp Server\r\n"
                                     b'WWW-Authenticate: Digest realm="Login to 4L0A1B2C3D"'
                                     b"\r\n\r\n")
    assert status == 401 and headers["server"] == "Dahua Rtsp Server"
    assert parse_response(b"HTTP/1.1 200 OK\r\n\r\n") is None
    assert parse_response(b"RTSP/1.0 abc\r\n\r\n") is None


def test_macs_and_neighbour_table(tmp_path: Path) -> None:
    assert normalise_mac("44-19-B6-6D-24-0A") == "44:19:b6:6d:24:0a"
    assert normalise_mac("4419.b66d.240a") == "44:19:b6:6d:24:0a"
    assert normalise_mac("00:00:00:00:00:00") is None and normalise_mac("xyz") is None
    assert eui64_mac("fe80::4619:b6ff:fe6d:240a") == "44:19:b6:6d:24:0a"
    assert eui64_mac("fe80::1") is None and eui64_mac("10.0.0.1") is None
    arp = tmp_path / "arp"
    arp.write_text("IP address  HW type  Flags  HW address         Mask  Device\n"
                   "10.240.0.10  0x1     0x2    44:19:b6:6d:24:0a  *     eth0\n"
                   "10.240.0.11  0x1     0x0    00:00:00:00:00:00  *     eth0\n")
    assert read_arp(arp) == {"10.240.0.10": "44:19:b6:6d:24:0a"}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_tls_subject_from_der(tmp_path: Path) -> None:
    subject = "/CN=www.hikvision.com/OU=DVRNVR/O=HIKVISION/L=HangZhou/ST=ZheJiang/C=CN"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-days", "1",
                    "-subj", subject, "-keyout", str(tmp_path / "k.pem"), "-outform", "DER",
                    "-out", str(tmp_path / "c.der")], check=True, capture_output=True)
    got, issuer = subject_and_issuer((tmp_path / "c.der").read_bytes())
    assert got == "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
    assert issuer == got
    with pytest.raises(ValueError, match="truncated DER"):
        subject_and_issuer(b"\x30\x82\xff\xff\x01")


def test_onvif_library_imported_safely() -> None:
    import logging

    from entityscan.scanners.probes.onvif import _import_onvif

    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    onvif = _import_onvif()
    assert (root.level, list(root.handlers)) == before  # the library's basicConfig undone
    settings = onvif.settings.DEFAULT_SETTINGS
    assert settings.forbid_entities and settings.forbid_dtd and settings.forbid_external
    assert not settings.xml_huge_tree
