"""Multicast discovery probes, run INSIDE the scanner namespace of a netns lab.

    python -m tests.lab.mcast_probe {wsd,sadp,dhip,touch,mdns} --source 10.230.0.2 [...]

Prints one JSON object: {"replies": [{"from": ip, "to_group": bool, "id": …}, …]}.
Independent of the scanner code on purpose: it checks the lab, not the product.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
import uuid

import defusedxml.ElementTree as SafeET

from tests.lab.clients import DHIP_SEARCH, sadp_inquiry, wsd_probe

GROUPS = {"wsd": ("239.255.255.250", 3702), "sadp": ("239.255.255.250", 37020),
          "dhip": ("239.255.255.251", 37810)}


def _sender(source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(source))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    return sock


def _group_listener(group: str, port: int, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((group, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(group) + socket.inet_aton(source))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    return sock


def _collect(socks: list[socket.socket], wait: float) -> list[tuple[bytes, str, bool]]:
    import select

    out = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(socks, [], [], left)
        for sock in readable:
            data, (address, _) = sock.recvfrom(65535)
            out.append((data, address, sock is not socks[0]))
    return out


def _identify(kind: str, data: bytes) -> str | None:
    try:
        if kind == "dhip":
            body = json.loads(data[32:].rstrip(b"\x00\n"))
            return body["params"]["deviceInfo"]["SerialNo"]
        root = SafeET.fromstring(data.strip())
        if kind == "sadp":
            return root.findtext("DeviceSN") if root.tag == "ProbeMatch" else None
        xaddrs = root.find(".//{http://schemas.xmlsoap.org/ws/2005/04/discovery}XAddrs")
        return xaddrs.text if xaddrs is not None else None
    except Exception:  # garbage is counted, not fatal
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["wsd", "sadp", "dhip", "touch", "mdns"])
    parser.add_argument("--source", required=True)
    parser.add_argument("--types", default="dn:NetworkVideoTransmitter")
    parser.add_argument("--wait", type=float, default=1.5)
    parser.add_argument("--targets", nargs="*", default=[])
    parser.add_argument("--service", action="append", default=[])
    args = parser.parse_args()
    if args.kind == "touch":  # unicast to each target so the neighbour table fills
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((args.source, 0))
        for target in args.targets:
            sock.sendto(b"\x00", (target, 9))
        time.sleep(args.wait)
        print(json.dumps({"replies": []}))
        return
    if args.kind == "mdns":
        print(json.dumps({"replies": _browse(args.source, args.service, args.wait)}))
        return
    group, port = GROUPS[args.kind]
    sender = _sender(args.source)
    socks = [sender]
    if args.kind == "sadp":  # devices answer a multicast inquiry to the group
        socks.append(_group_listener(group, port, args.source))
    if args.kind == "wsd":
        _, payload = wsd_probe(args.types, message_id=f"urn:uuid:{uuid.uuid4()}")
    elif args.kind == "sadp":
        _, payload = sadp_inquiry()
    else:
        payload = DHIP_SEARCH
    sender.sendto(payload, (group, port))
    replies = [{"from": address, "to_group": to_group, "id": _identify(args.kind, data)}
               for data, address, to_group in _collect(socks, args.wait)]
    print(json.dumps({"replies": replies}))


def _browse(source: str, services: list[str], wait: float) -> list[dict[str, object]]:
    import asyncio

    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    async def run() -> list[dict[str, object]]:
        zc = AsyncZeroconf(interfaces=[source], ip_version=IPVersion.V4Only)
        names: list[tuple[str, str]] = []
        browser = AsyncServiceBrowser(
            zc.zeroconf, services,
            handlers=[lambda zeroconf, service_type, name, state_change:
                      names.append((service_type, name))])
        await asyncio.sleep(wait)
        out = []
        for service_type, name in sorted(set(names)):
            info = AsyncServiceInfo(service_type, name)
            if await info.async_request(zc.zeroconf, 2000):
                out.append({"from": info.parsed_addresses()[0], "to_group": True,
                            "id": name, "server": info.server})
        await browser.async_cancel()
        await zc.async_close()
        return out

    return asyncio.run(run())



if __name__ == "__main__":
    main()
