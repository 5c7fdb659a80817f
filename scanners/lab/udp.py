"""UDP discovery responders: WS-Discovery (3702), Hikvision SADP (37020), Dahua DHIP (37810).

Each device binds its own address; with `multicast=True` (namespaces) it also binds the
protocol's group address and joins it on its own interface.  Replies always leave from the
device's unicast socket, so their source is the device's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import struct
from collections.abc import Callable
from xml.sax.saxutils import escape

from entityscan.scanners.lab import hostile, onvif
from entityscan.scanners.lab.device import SimDevice

log = logging.getLogger(__name__)

WSD_GROUP = "239.255.255.250"
SADP_GROUP = "239.255.255.250"
DHIP_GROUP = "239.255.255.251"
DHIP_HEADER = struct.Struct("<I4sIIIIII")  # 0x20 | "DHIP" | 0 | 0 | len | 0 | len | 0
MAX_DATAGRAM = 65507

Handler = Callable[[bytes, tuple[str, int], bool], list[tuple[bytes, tuple[str, int]]]]


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler, via_multicast: bool,
                 reply_sock: Callable[[], asyncio.DatagramTransport | None]) -> None:
        self.handler = handler
        self.via_multicast = via_multicast
        self.reply_sock = reply_sock
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            replies = self.handler(data, addr, self.via_multicast)
        except Exception:  # a simulator bug must not kill the responder
            log.exception("responder failed on a datagram from %s", addr)
            return
        out = self.reply_sock()
        if out is None:
            return
        for payload, dest in replies:
            with contextlib.suppress(OSError):
                out.sendto(payload, dest)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: nothing to do
        pass


def _unicast_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    # Multicast replies (SADP) leave through this device's interface, never another.
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    sock.setblocking(False)
    return sock


def _group_socket(group: str, port: int, address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((group, port))  # bound to the group: only that group's datagrams arrive
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(group) + socket.inet_aton(address))
    sock.setblocking(False)
    return sock


def _same(endpoint: _Endpoint) -> _Endpoint:
    return endpoint


def open_sockets(address: str, port: int, group: str | None) -> list[socket.socket]:
    """The unicast socket, plus the group socket when `group` is given."""
    socks = [_unicast_socket(address, port)]
    if group is not None:
        try:
            socks.append(_group_socket(group, port, address))
        except OSError:
            socks[0].close()
            raise
    return socks


async def open_responder(socks: list[socket.socket], handler: Handler
                         ) -> list[asyncio.DatagramTransport]:
    """Serve `handler` on sockets from `open_sockets`; replies leave from the first."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.DatagramTransport] = []

    def first() -> asyncio.DatagramTransport | None:
        return transports[0] if transports else None

    for index, sock in enumerate(socks):
        endpoint = _Endpoint(handler, index > 0, first)
        transport, _ = await loop.create_datagram_endpoint(functools.partial(_same, endpoint),
                                                           sock=sock)
        transports.append(transport)
    return transports


# -- WS-Discovery ----------------------------------------------------------------------
def wsd_handler(device: SimDevice) -> Handler:
    counter = [0]

    def handle(data: bytes, addr: tuple[str, int], _multicast: bool
               ) -> list[tuple[bytes, tuple[str, int]]]:
        probe = onvif.parse_probe(data)
        if probe is None:
            return []
        spec = device.profile.hostile
        if spec is not None and spec.wsd == "flood":
            return [(p, addr) for p in hostile.wsd_flood(
                probe.message_id, spec.flood_count, device.address,
                device.ports.get("http", 80))]
        if spec is not None and spec.wsd == "xml-bomb":
            return [(onvif.probe_matches_bomb(probe), addr)]
        counter[0] += 1
        reply = onvif.probe_matches(device, probe, counter[0])
        return [(reply, addr)] if reply is not None else []

    return handle


# -- SADP ------------------------------------------------------------------------------
def sadp_fields(device: SimDevice) -> dict[str, str]:
    spec = device.profile.sadp
    assert spec is not None
    tokens = device.tokens
    fields: dict[str, str | None] = {
        "DeviceType": spec.device_type, "DeviceDescription": tokens["model"],
        "DeviceSN": tokens["serial"], "CommandPort": "8000",
        "HttpPort": tokens["http_port"], "MAC": tokens["mac_dash"],
        "IPv4Address": device.address, "IPv4SubnetMask": tokens["netmask"],
        "IPv4Gateway": tokens["gateway"], "IPv6Address": "::", "IPv6Gateway": "::",
        "IPv6MaskLen": "64", "DHCP": "false", "AnalogChannelNum": "0",
        "DigitalChannelNum": "1", "SoftwareVersion": "", "DSPVersion": "",
        "BootTime": "2024-01-02 03:04:05", "Encrypt": "true", "ResetAbility": "false",
        "DiskNumber": "0", "Activated": "true", "PasswordResetAbility": "true",
        "PasswordResetModeSecond": "true", "DeviceLock": "true", "SDKServerStatus": "true",
        "SDKOverTLSServerStatus": "false", "SDKOverTLSPort": "8443", "OEMInfo": "N/A",
    }
    fields.update(device.render_obj(spec.fields))
    return {k: v for k, v in fields.items() if v is not None}


def sadp_reply(device: SimDevice, probe_uuid: str, types: str) -> bytes:
    spec = device.profile.sadp
    assert spec is not None
    newline = "\r\n" if spec.crlf else "\n"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<ProbeMatch>",
             f"<Uuid>{escape(probe_uuid)}</Uuid>", f"<Types>{escape(types)}</Types>"]
    lines += [f"<{k}>{escape(v)}</{k}>" for k, v in sadp_fields(device).items()]
    lines.append("</ProbeMatch>")
    text = newline.join(lines) + newline
    return ((newline + "   ") if spec.leading_whitespace else "").encode() + text.encode()


def sadp_handler(device: SimDevice, ports_sadp: int) -> Handler:
    def handle(data: bytes, addr: tuple[str, int], multicast: bool
               ) -> list[tuple[bytes, tuple[str, int]]]:
        try:
            root, _ = onvif.parse_xml(data.strip())
        except onvif.XmlRejected:
            return []
        if root.tag != "Probe":
            return []  # ProbeMatch from another device, or a verb we never answer
        types = (root.findtext("Types") or "").strip()
        if types.lower() != "inquiry":
            return []  # update/getcode/reset change devices: a simulated one ignores them
        probe_uuid = (root.findtext("Uuid") or "").strip()
        spec = device.profile.hostile
        payload = (hostile.sadp_bomb(probe_uuid) if spec is not None and spec.sadp == "xml-bomb"
                   else sadp_reply(device, probe_uuid, types))
        # Real devices answer a multicast inquiry to the group, a unicast one to the sender.
        dest = (SADP_GROUP, ports_sadp) if multicast else addr
        return [(payload, dest)]

    return handle


# -- DHIP ------------------------------------------------------------------------------
def dhip_frame(body: bytes) -> bytes:
    return DHIP_HEADER.pack(0x20, b"DHIP", 0, 0, len(body), 0, len(body), 0) + body


def dhip_reply(device: SimDevice) -> bytes:
    spec = device.profile.dhip
    assert spec is not None
    body = {"mac": device.mac, "method": "client.notifyDevInfo",
            "params": {"deviceInfo": device.render_obj(spec.device_info)}}
    info = body["params"]["deviceInfo"]  # type: ignore[index]
    for key in ("HttpPort", "HttpsPort"):
        if isinstance(info.get(key), str) and info[key].isdigit():
            info[key] = int(info[key])
    return dhip_frame(json.dumps(body).encode() + b"\n")


def is_dhip_search(data: bytes) -> bool:
    if len(data) < DHIP_HEADER.size:
        return False
    _, magic, _, _, length, _, _, _ = DHIP_HEADER.unpack_from(data)
    if magic != b"DHIP":
        return False
    body = data[DHIP_HEADER.size:DHIP_HEADER.size + min(length, 8192)]
    try:
        request = json.loads(body.rstrip(b"\x00\n\r ").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(request, dict) and request.get("method") == "DHDiscover.search"


def dhip_handler(device: SimDevice) -> Handler:
    def handle(data: bytes, addr: tuple[str, int], _multicast: bool
               ) -> list[tuple[bytes, tuple[str, int]]]:
        spec = device.profile.dhip
        assert spec is not None
        hostile_spec = device.profile.hostile
        if hostile_spec is not None and hostile_spec.dhip == "garbage":
            return [(g, addr) for g in hostile.dhip_garbage()]
        # Only the search verb; setConfig/DevInit/PasswdFind are never acted on.
        if is_dhip_search(data) or (spec.answer_any_byte and data and data[:1] != b"\x20"):
            return [(dhip_reply(device), addr)]
        return []

    return handle
