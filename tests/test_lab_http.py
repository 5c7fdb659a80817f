"""Simulated HTTP/HTTPS/RTSP over real loopback sockets."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509

from entityscan.scanners.lab import Lab, load_profiles, run_lab_in_thread
from tests.lab.clients import header_map, rtsp_exchange

CREDS = ("admin", "Lab-Passw0rd!")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with run_lab_in_thread(load_profiles(), base="127.30.1.10") as running:
        yield running


def raw_http(address: str, port: int, requests: list[bytes]) -> list[bytes]:
    """Send requests one after another on ONE connection; return each raw response."""
    out = []
    with socket.create_connection((address, port), timeout=5) as sock:
        for request in requests:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += sock.recv(65536)
            out.append(head + b"\r\n\r\n" + body)
    return out


def test_hikvision_web_stack(lab: Lab) -> None:
    dev = lab.device("hikvision-ipc")
    with httpx.Client(timeout=5) as client:
        root = client.get(dev.url("http", "/"))
        assert root.status_code == 200 and root.headers["server"] == "App-webs/"
        assert "/doc/page/login.asp" in root.text
        assert client.get(dev.url("http", "/doc/page/login.asp")).status_code == 200
        info = client.get(dev.url("http", "/ISAPI/System/deviceInfo"))
        assert info.status_code == 401
        challenge = info.headers["www-authenticate"]
        assert challenge.startswith('Digest realm="IP Camera(') and 'qop="auth"' in challenge
        assert re.search(r'realm="IP Camera\(\w{5}\)"', challenge)
        ok = client.get(dev.url("http", "/ISAPI/System/deviceInfo"),
                        auth=httpx.DigestAuth(*CREDS))
        assert ok.status_code == 200
        assert f"<serialNumber>{dev.serial}</serialNumber>" in ok.text
        assert "<model>DS-2CD2143G2-I</model>" in ok.text
        wrong = client.get(dev.url("http", "/ISAPI/System/deviceInfo"),
                           auth=httpx.DigestAuth("admin", "guess"))
        assert wrong.status_code == 401
        assert client.get(dev.url("http", "/no/such/page")).status_code == 404
        head = client.head(dev.url("http", "/"))
        assert head.status_code == 200 and head.content == b""
        assert client.post(dev.url("http", "/")).status_code == 405


def test_server_headers_and_realms_per_platform(lab: Lab) -> None:
    cases = {"hikvision-nvr": ("DNVRS-Webs", 'Digest realm="Hikvision"'),
             "hikvision-intercom": ("Hikvision-Webs", 'Digest realm="hikvision"'),
             "lts-ipc": ("Hikvision-Webs", 'Digest realm="IP Camera(')}
    with httpx.Client(timeout=5) as client:
        for name, (server, realm) in cases.items():
            dev = lab.device(name)
            reply = client.get(dev.url("http", "/ISAPI/System/deviceInfo"))
            assert reply.headers["server"] == server
            assert reply.headers["www-authenticate"].startswith(realm)
        xm = client.get(lab.device("xiongmai-dvr").url("http", "/"))
        assert xm.headers["server"] == "uc-httpd 1.0.0"
        assert "<title>NETSurveillance WEB</title>" in xm.text
        plain = client.get(lab.device("plain-web").url("http", "/"))
        assert plain.headers["server"].startswith("nginx/")


def test_dahua_web_stack_shape(lab: Lab) -> None:
    dev = lab.device("dahua-ipc")
    (root,) = raw_http(dev.address, dev.ports["http"],
                       [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])
    head, _, body = root.partition(b"\r\n\r\n")
    assert b"\r\nCONTENT-TYPE: text/html" in head  # upper-case header names
    assert body.startswith(b"\xef\xbb\xbf<!DOCTYPE html>")  # BOM first
    with httpx.Client(timeout=5) as client:
        login = client.post(dev.url("http", "/RPC2_Login"), json={
            "method": "global.login", "params": {"userName": "admin", "password": "",
                                                 "clientType": "Web3.0"}, "id": 1})
        assert login.json()["params"]["realm"] == f"Login to {dev.serial}"
        box = client.get(dev.url("http", "/cgi-bin/magicBox.cgi?action=getSystemInfo"))
        assert box.status_code == 401
        assert box.headers["www-authenticate"].startswith(f'Digest realm="Login to {dev.serial}"')
        amcrest = lab.device("amcrest-ipc")
        box = client.get(amcrest.url("http", "/cgi-bin/magicBox.cgi?action=getSystemInfo"),
                         auth=httpx.DigestAuth(*CREDS))
        fields = dict(line.split("=", 1) for line in box.text.split())
        assert fields["deviceType"] == "IP4M-1041B"
        assert fields["updateSerial"].startswith("IPC-")  # the Dahua model underneath


def test_keep_alive_serves_many_requests_on_one_connection(lab: Lab) -> None:
    dev = lab.device("hikvision-ipc")
    request = b"GET /SDK/webLanguage HTTP/1.1\r\nHost: x\r\n\r\n"
    replies = raw_http(dev.address, dev.ports["http"], [request] * 25)
    assert len(replies) == 25
    assert all(r.startswith(b"HTTP/1.1 200 OK") and b"Connection: keep-alive" in r
               for r in replies)


def test_many_concurrent_connections_are_all_served(lab: Lab) -> None:
    devices = [d for d in lab.devices if d.profile.http is not None and d.profile.hostile is None]

    async def fetch(address: str, port: int) -> bytes:
        reader, writer = await asyncio.open_connection(address, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return data[:15]

    async def run() -> list[bytes]:
        return await asyncio.gather(*(fetch(d.address, d.ports["http"])
                                      for d in devices * 16))

    starts = asyncio.run(run())
    # Some web stacks answer in HTTP/1.0 (a Hikvision shape); every answer is a 200.
    assert len(starts) >= 300 and set(starts) <= {b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"}
    assert b"HTTP/1.1 200 OK" in starts


def test_https_presents_the_profile_certificate(lab: Lab) -> None:
    dev = lab.device("hikvision-ipc")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((dev.address, dev.ports["https"]), timeout=5) as raw, \
            context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert tls.recv(4096).startswith(b"HTTP/1.1 200 OK")
    cert = x509.load_der_x509_certificate(der)
    subject = {a.oid._name: a.value for a in cert.subject}
    assert subject["commonName"] == "www.hikvision.com"
    assert subject["organizationalUnitName"] == "DVRNVR"
    assert subject["organizationName"] == "HIKVISION"
    assert cert.issuer == cert.subject  # self-signed


def _digest(method: str, uri: str, challenge: str) -> str:
    realm = re.search(r'realm="([^"]*)"', challenge).group(1)  # type: ignore[union-attr]
    nonce = re.search(r'nonce="([^"]*)"', challenge).group(1)  # type: ignore[union-attr]
    ha1 = hashlib.md5(f"{CREDS[0]}:{realm}:{CREDS[1]}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return (f'Digest username="{CREDS[0]}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}"')


def test_rtsp_hikvision_options_open_describe_needs_digest(lab: Lab) -> None:
    dev = lab.device("hikvision-ipc")
    url = dev.url("rtsp", "/Streaming/Channels/101")
    options = rtsp_exchange(dev.address, dev.ports["rtsp"],
                            f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n")
    assert options.startswith("RTSP/1.0 200 OK") and "DESCRIBE" in header_map(options)["public"]
    describe = rtsp_exchange(dev.address, dev.ports["rtsp"],
                             f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n")
    headers = header_map(describe)
    assert describe.startswith("RTSP/1.0 401") and headers["cseq"] == "2"
    assert headers["www-authenticate"].startswith('Digest realm="IP Camera(')
    authed = rtsp_exchange(dev.address, dev.ports["rtsp"],
                           f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 3\r\nAuthorization: "
                           f"{_digest('DESCRIBE', url, headers['www-authenticate'])}\r\n\r\n")
    assert authed.startswith("RTSP/1.0 200 OK") and "m=video" in authed


def test_rtsp_dahua_server_and_realm(lab: Lab) -> None:
    dev = lab.device("dahua-ipc")
    reply = rtsp_exchange(dev.address, dev.ports["rtsp"],
                          f"OPTIONS {dev.url('rtsp', '/')} RTSP/1.0\r\nCSeq: 7\r\n\r\n")
    headers = header_map(reply)
    assert reply.startswith("RTSP/1.0 401")
    assert headers["server"] == "Dahua Rtsp Server"
    assert headers["www-authenticate"].startswith(f'Digest realm="Login to {dev.serial}"')


def test_a_lab_stops_cleanly_and_frees_its_ports() -> None:
    profiles = load_profiles(["plain-web"])
    for _ in range(2):  # the second run can only bind if the first released everything
        with run_lab_in_thread(profiles, base="127.30.1.200") as lab:
            dev = lab.devices[0]
            assert httpx.get(dev.url("http", "/"), timeout=5).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(dev.url("http", "/"), timeout=2)
