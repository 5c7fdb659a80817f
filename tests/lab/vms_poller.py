"""A VMS-like client that is not entityscan: discovers cameras by multicast, logs in over ONVIF
with the site's credentials, pulls RTSP and opens the HTTPS page (TLS 1.2), as a video
management system does.  Run inside the lab's client namespace; its traffic is what the
passive tests record.  Standard library and `tests.lab.clients` only.

    python -m tests.lab.vms_poller '{"devices": [{"address": "10.247.0.10", "ports":
        {"http": 80, "rtsp": 554, "https": 443}, "username": "admin", "password": "…"}]}'
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
import sys
import time
from typing import Any

from tests.lab.clients import DHIP_SEARCH, header_map, sadp_inquiry, soap, wsd_probe

GROUP, DHIP_GROUP = "239.255.255.250", "239.255.255.251"


def discover(wait: float = 1.5) -> int:
    """WS-Discovery (both probe types), SADP inquiry and DHIP search, by multicast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.settimeout(0.2)
    for types in ("dn:NetworkVideoTransmitter", "tds:Device"):
        sock.sendto(wsd_probe(types)[1], (GROUP, 3702))
    sock.sendto(sadp_inquiry()[1], (GROUP, 37020))
    sock.sendto(DHIP_SEARCH, (DHIP_GROUP, 37810))
    answers = 0
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            sock.recvfrom(65535)
            answers += 1
        except TimeoutError:
            continue
    sock.close()
    return answers


def onvif(address: str, port: int, username: str, password: str) -> list[int]:
    statuses = []
    for operation, creds in (("GetSystemDateAndTime", False), ("GetDeviceInformation", True),
                             ("GetNetworkInterfaces", True)):
        body = soap(operation, username, password) if creds else soap(operation)
        connection = http.client.HTTPConnection(address, port, timeout=3)
        try:
            connection.request("POST", "/onvif/device_service", body=body, headers={
                "Content-Type": "application/soap+xml; charset=utf-8"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        except OSError:
            statuses.append(0)
        finally:
            connection.close()
    return statuses


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def rtsp(address: str, port: int, username: str, password: str) -> int:
    """OPTIONS, DESCRIBE (401), DESCRIBE with digest credentials; the final status."""
    url = f"rtsp://{address}:{port}/Streaming/Channels/101"
    with socket.create_connection((address, port), timeout=3) as sock:
        def exchange(request: str) -> str:
            sock.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(header_map(head.decode("latin-1") + "\r\n\r\n").get(
                "content-length", "0") or 0)
            while len(rest) < length:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
            return head.decode("latin-1")

        exchange(f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: VMS/1.0\r\n\r\n")
        first = exchange(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n")
        challenge = header_map(first + "\r\n\r\n").get("www-authenticate", "")
        params = dict(part.strip().split("=", 1) for part in
                      challenge.partition(" ")[2].split(",") if "=" in part)
        params = {k.strip(): v.strip().strip('"') for k, v in params.items()}
        if "nonce" not in params:
            return int(first.split()[1]) if first.startswith("RTSP/") else 0
        ha1 = _md5(f"{username}:{params.get('realm', '')}:{password}")
        response = _md5(f"{ha1}:{params['nonce']}:{_md5(f'DESCRIBE:{url}')}")
        authorization = (f'Digest username="{username}", realm="{params.get("realm", "")}", '
                         f'nonce="{params["nonce"]}", uri="{url}", response="{response}"')
        final = exchange(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 3\r\nAccept: application/sdp\r\n"
                         f"Authorization: {authorization}\r\n\r\n")
        return int(final.split()[1]) if final.startswith("RTSP/") else 0


def https_page(address: str, port: int) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # the VMS's TLS stack
    connection = http.client.HTTPSConnection(address, port, timeout=3, context=context)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, ssl.SSLError):
        return 0
    finally:
        connection.close()


def poll(config: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {"discovery_answers": discover(), "devices": {}}
    for device in config["devices"]:
        address, ports = device["address"], device["ports"]
        done: dict[str, Any] = {}
        if "http" in ports:
            done["onvif"] = onvif(address, ports["http"], device["username"],
                                  device["password"])
        if "rtsp" in ports:
            try:
                done["rtsp"] = rtsp(address, ports["rtsp"], device["username"],
                                    device["password"])
            except OSError as exc:
                done["rtsp"] = str(exc)
        if "https" in ports:
            done["https"] = https_page(address, ports["https"])
        report["devices"][address] = done
    return report


if __name__ == "__main__":
    print(json.dumps(poll(json.loads(sys.argv[1]))))
