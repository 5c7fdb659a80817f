"""`entityscan import`: nmap XML, masscan JSON and Zeek logs feed the same rules, attribution
and document as a scan; a malformed line or file is reported as `file:line` and the rest is
still read."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.scanners.importers import import_files
from entityscan.scanners.importers.nmap import fingerprint_responses
from entityscan.scanners.lab.tlscert import certificate_pem

ROOT = Path(__file__).resolve().parent.parent
NMAP_LAB = ROOT / "fixtures" / "import" / "nmap-sV-lab.xml"
HIK_SUBJECT = "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"


def _der(subject: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(certificate_pem(subject)[0]).public_bytes(
        Encoding.DER)


def _devices(doc: dict) -> dict[str, dict]:
    return {d["addresses"][0] if d["addresses"] else d["id"]: d for d in doc["devices"]}


def test_nmap_xml_of_the_lab(tmp_path: Path) -> None:
    out = tmp_path / "import.json"
    assert main(["import", str(NMAP_LAB), "-f", "json", "-o", str(out)]) == 1
    doc = json.loads(out.read_text())
    from entityscan.reports import validate_document

    validate_document(doc)
    devices = _devices(doc)
    makers = {a: (d["attributed_maker"], d["verdict"]) for a, d in devices.items()}
    assert makers == {"10.247.0.12": ("Axis", "clear"), "10.247.0.14": ("Dahua", "flagged"),
                      "10.247.0.21": ("Hikvision", "flagged"),
                      "10.247.0.25": ("Dahua", "flagged")}
    hik = devices["10.247.0.21"]
    assert hik["id"] == "mac:44:19:b6:6d:24:0a" and hik["discovered_by"] == ["nmap"]
    rules = {e["rule"] for e in hik["evidence"]}
    assert "tls_subject/hikvision-default-certificate" in rules  # from the ssl-cert PEM
    assert "http_server/hikvision-app-webs" in rules
    dahua_rules = {e["rule"] for e in devices["10.247.0.14"]["evidence"]}
    assert "rtsp_server/dahua-rtsp-server" in dahua_rules  # only in a service fingerprint
    assert doc["parameters"]["files"] == {str(NMAP_LAB): "nmap"}
    assert devices["10.247.0.21"]["observed"]["first"] <= devices["10.247.0.21"]["observed"][
        "last"]


def test_service_fingerprint_responses_are_unescaped() -> None:
    fingerprint = ('SF-Port554-TCP:V=7.93%I=7%D=12/5%Time=1%P=x86_64-pc-linux-gnu%r(RTSP\n'
                   'SF:Request,3A,"RTSP/1\\.0\\x20401\\x20Unauthorized\\r\\nServer:\\x20Dahua\\x20'
                   'Rtsp\\x20Server\\r\\n\\r\\n");')
    (response,) = fingerprint_responses(fingerprint)
    assert response == b"RTSP/1.0 401 Unauthorized\r\nServer: Dahua Rtsp Server\r\n\r\n"


def test_a_broken_file_is_reported_by_line_and_the_rest_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = NMAP_LAB.read_text()
    cut = tmp_path / "cut.xml"
    # cut inside the third <host> element: the two hosts before it are still read
    third = text.index("<host ", text.index("<host ", text.index("<host ") + 1) + 1)
    cut.write_text(text[:third + 400])
    masscan = tmp_path / "masscan.json"
    masscan.write_text(
        "[\n"
        '{   "ip": "10.250.9.5",   "timestamp": "1700000000", "ports": [ {"port": 80, '
        '"proto": "tcp", "service": {"name": "http.server", "banner": "DNVRS-Webs"} } ] }\n'
        ",\n"
        '{ "ip": "10.250.9.6", "ports": [ {"port": 80, }\n'
        "]\n")
    out = tmp_path / "out.json"
    code = main(["import", str(cut), str(masscan), "-f", "json", "-o", str(out)])
    err = capsys.readouterr().err
    line = text[:third + 400].count("\n") + 1
    assert code == 2
    assert f"{cut}:{line}: malformed nmap XML" in err
    assert f"{masscan}:4: not a JSON record" in err
    assert "2 of 2 files had unreadable parts" in err
    devices = _devices(json.loads(out.read_text()))
    assert devices["10.250.9.5"]["attributed_maker"] == "Hikvision"
    assert len(devices) == 3  # two nmap hosts before the cut, one masscan host


def test_masscan_banners(tmp_path: Path) -> None:
    cert = base64.b64encode(_der(HIK_SUBJECT)).decode()
    records = [
        {"ip": "10.250.8.1", "timestamp": "1700000000", "ports": [
            {"port": 80, "proto": "tcp", "service": {
                "name": "http", "banner": "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest "
                                          'realm="Login to 3K01234PAZ00001", nonce="1"\r\n'
                                          "Content-Length: 0\r\n\r\n"}}]},
        {"ip": "10.250.8.2", "timestamp": "1700000001", "ports": [
            {"port": 443, "proto": "tcp", "service": {"name": "X509", "banner": cert}}]},
        {"ip": "10.250.8.3", "timestamp": "1700000002", "ports": [
            {"port": 80, "proto": "tcp", "service": {"name": "title",
                                                      "banner": "NETSurveillance WEB"}}]},
    ]
    path = tmp_path / "masscan.json"
    path.write_text("[\n" + "\n,\n".join(json.dumps(r) for r in records) + "\n]\n")
    ndjson = tmp_path / "masscan.ndjson"
    ndjson.write_text(json.dumps({"ip": "10.250.8.4", "timestamp": "1700000003", "port": 80,
                                  "proto": "tcp", "rec_type": "banner", "data": {
                                      "service_name": "http.server",
                                      "banner": "App-webs/"}}) + "\n")
    inventory = import_files([path, ndjson])
    makers = {d.addresses[0]: d.maker for d in inventory.devices}
    assert makers == {"10.250.8.1": "Dahua", "10.250.8.2": "Hikvision", "10.250.8.3": "Xiongmai",
                      "10.250.8.4": "Hikvision"}
    assert inventory.errors == []


ZEEK_TSV = {
    "software.log": ("software", ["ts", "host", "host_p", "software_type", "name",
                                  "unparsed_version"],
                     [["1700000000.1", "10.250.7.1", "80", "HTTP::SERVER", "DNVRS-Webs",
                       "DNVRS-Webs"],
                      ["1700000000.2", "10.250.7.9", "-", "HTTP::BROWSER", "Firefox",
                       "Mozilla/5.0"]]),
    "http.log": ("http", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                          "method", "uri", "status_code", "resp_mime_types"],
                 [["1700000001.0", "C1", "10.250.7.9", "40000", "10.250.7.2", "80", "GET",
                   "/cgi-bin/magicBox.cgi?action=getSystemInfo", "401", "(empty)"],
                  ["1700000001.5", "C2", "10.250.7.9", "40001", "10.250.7.2", "80", "GET",
                   "/ISAPI/System/deviceInfo", "404", "text/html"]]),
    "dhcp.log": ("dhcp", ["ts", "uids", "client_addr", "server_addr", "mac", "host_name",
                          "assigned_addr", "msg_types"],
                 [["1700000002.0", "C3", "-", "10.250.7.254", "c0:56:e3:11:22:44",
                   "DS-2CD2043G0-I", "10.250.7.3", "DISCOVER,OFFER,REQUEST,ACK"]]),
    "ssl.log": ("ssl", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                        "version", "server_name", "cert_chain_fps"],
                [["1700000003.0", "C4", "10.250.7.9", "40002", "10.250.7.4", "443", "TLSv12",
                  "cam4.example", "f00d,beef"]]),
    "known_services.log": ("known_services", ["ts", "host", "port_num", "port_proto",
                                              "service"],
                           [["1700000004.0", "10.250.7.5", "554", "tcp", "RTSP"]]),
}


def _tsv(path: Path, log: str, fields: list[str], rows: list[list[str]]) -> None:
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
             "#unset_field\t-", f"#path\t{log}", "#fields\t" + "\t".join(fields),
             "#types\t" + "\t".join("string" for _ in fields)]
    lines += ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n#close\t2023-11-14-22-00-00\n")


def test_zeek_logs_tsv_and_json(tmp_path: Path) -> None:
    for name, (log, fields, rows) in ZEEK_TSV.items():
        _tsv(tmp_path / name, log, fields, rows)
    x509 = tmp_path / "x509.log"  # JSON, and read before nothing: certificates join at the end
    x509.write_text(json.dumps({"ts": 1700000003.0, "fingerprint": "f00d",
                                "certificate.subject": HIK_SUBJECT,
                                "certificate.issuer": HIK_SUBJECT}) + "\n{broken\n")
    paths = [tmp_path / n for n in ZEEK_TSV] + [x509]
    inventory = import_files(paths)
    devices = {d.addresses[0] if d.addresses else d.key(): d for d in inventory.devices}
    assert devices["10.250.7.1"].maker == "Hikvision"          # software.log Server
    assert devices["10.250.7.2"].maker == "Dahua"              # magicBox path answered 401
    assert devices["10.250.7.3"].maker == "Hikvision"          # dhcp host name, MAC
    assert devices["10.250.7.3"].key() == "mac:c0:56:e3:11:22:44"
    assert devices["10.250.7.4"].maker == "Hikvision"          # x509 via ssl cert_chain_fps
    assert devices["10.250.7.5"].maker is None and devices["10.250.7.5"].model_extra[
        "open_ports"] == [554]
    assert "10.250.7.9" not in devices                         # the browsing client
    assert [e.message for e in inventory.errors] == [
        f"{x509}:2: not a JSON log line (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))"]
    assert all(d.model_extra["discovered_by"] == ["zeek"] for d in inventory.devices)


def test_zeek_bad_lines_are_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "software.log"
    log, fields, rows = ZEEK_TSV["software.log"]
    _tsv(path, log, fields, [*rows, ["1700000009.0", "10.250.7.8"]])
    inventory = import_files([path, tmp_path / "missing.log"])
    messages = [e.message for e in inventory.errors]
    assert messages[0] == f"{path}:10: 2 values for 6 fields"
    assert "missing.log: cannot read" in messages[1]
    assert [d.maker for d in inventory.devices] == ["Hikvision"]


def test_not_a_known_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    assert main(["import", str(path)]) == 2
    assert f"{path}: not a format entityscan import reads" in capsys.readouterr().err


def test_an_endless_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    from entityscan.scanners.importers import common

    path = tmp_path / "software.log"
    log, fields, rows = ZEEK_TSV["software.log"]
    _tsv(path, log, fields, rows)
    with path.open("a") as out:  # a line ten times the cap, then a good line again
        out.write("x" * (10 * common.MAX_LINE) + "\n")
        out.write("\t".join(["1700000010.0", "10.250.7.7", "80", "HTTP::SERVER", "App-webs/",
                             "App-webs/"]) + "\n")
    inventory = import_files([path])
    assert [e.message for e in inventory.errors] == [
        f"{path}:11: line longer than {common.MAX_LINE} bytes, skipped"]
    assert sorted(d.addresses[0] for d in inventory.devices) == ["10.250.7.1", "10.250.7.7"]


def test_a_vendor_port_nmap_could_only_name_from_its_answer_is_evidence(tmp_path: Path) -> None:
    """A hardened relabel: its web server says only `Webs`, but nmap named port 8000 from the
    Hikvision SDK's own status frame, which the XML does not keep; nmap's other names (the web
    server's) stay descriptive."""
    xml = tmp_path / "hardened.xml"
    xml.write_text(
        '<?xml version="1.0"?><nmaprun><host><status state="up"/>'
        '<address addr="10.247.9.24" addrtype="ipv4"/><ports>'
        '<port protocol="tcp" portid="80"><state state="open"/>'
        '<service name="http" product="Webs"/></port>'
        '<port protocol="tcp" portid="8000"><state state="open"/>'
        '<service name="ipcam" product="Hikvision IPCam control port"/></port>'
        '<port protocol="tcp" portid="81"><state state="open"/>'
        '<service name="http" product="Hikvision-Webs lookalike"/></port>'
        '</ports></host></nmaprun>', encoding="utf-8")
    out = tmp_path / "import.json"
    assert main(["import", str(xml), "-f", "json", "-o", str(out), "--fail-on", "review"]) == 1
    (device,) = json.loads(out.read_text())["devices"]
    judged = [e for e in device["evidence"] if e["probe"] == "nmap" and e["indicates"]]
    assert [(e["rule"], e["value"], e["certainty"]) for e in judged] == [
        ("nmap_service/hikvision-sdk-port-named-by-nmap", "Hikvision IPCam control port",
         "medium")]
    assert device["attributed_maker"] == "Hikvision" and device["verdict"] == "review"


def test_hosts_past_the_table_bound_are_said_not_dropped(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The host table is bounded (65,536 hosts); an import past it says how much it did not
    keep instead of returning fewer devices in silence.  The bound is lowered to keep the file
    small."""
    from entityscan.scanners.passive import hosts
    monkeypatch.setattr(hosts, "MAX_HOSTS", 4)
    xml = tmp_path / "many.xml"
    xml.write_text('<?xml version="1.0"?><nmaprun>' + "".join(
        f'<host><status state="up"/><address addr="10.250.9.{n}" addrtype="ipv4"/><ports>'
        f'<port protocol="tcp" portid="80"><state state="open"/><service name="http"/></port>'
        f'</ports></host>' for n in range(1, 8)) + "</nmaprun>", encoding="utf-8")
    inventory = import_files([xml])
    assert len(inventory.devices) == 4
    (error,) = inventory.errors
    assert "more than 4 hosts" in error.message and "3 observations" in error.message
