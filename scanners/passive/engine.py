"""The passive scan: captured packets -> observations per host -> the same inventory an active
scan builds (`entityscan.scan/1`), without sending a packet.

    inventory = read_captures([Path("span.pcapng")], PassiveOptions(signatures=rules))
    inventory = capture_live("eth0", 60, PassiveOptions())          # root, tcpdump

Each file streams through a bounded reader (`capture`), each frame through the header reader
(`frames`); TCP responses are reassembled within caps (`streams`, `tls`), UDP chatter read by
the discovery protocols' own parsers (`chatter`), and every observation lands on its host
(`hosts`), whose devices are built, merged and attributed as an active scan's are.  A corrupt
file is reported (file and byte offset) in the inventory's errors and the other files are
still read; nothing here raises for bad input.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Inventory, ScanError
from entityscan.scanners.passive import chatter
from entityscan.scanners.passive.capture import CaptureError, Packet, Readable, read_capture
from entityscan.scanners.passive.frames import ARP, SUPPORTED_LINKTYPES, TCP, UDP, dissect
from entityscan.scanners.passive.hosts import HostTable, address_text
from entityscan.scanners.passive.responses import observe_response
from entityscan.scanners.passive.streams import Response, StreamTable
from entityscan.scanners.passive.tls import client_server_name, server_handshake
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.tls import subject_and_issuer
from entityscan.scanners.signals import RuleSet

#: UDP ports whose datagrams are read (discovery, mDNS, SSDP, DHCP).
CHATTER_PORTS = frozenset({3702, 37020, 37810, 5353, 1900, 67, 68})
#: What a live capture keeps by default: ARP, the chatter ports and TCP (kernel-side BPF).
DEFAULT_FILTER = ("arp or tcp or (udp and (port 3702 or port 37020 or port 37810 or "
                  "port 5353 or port 1900 or port 67 or port 68))")
SYN_ACK = 0x12


@dataclass
class PassiveOptions:
    #: A signature set to judge signals with (default: the bundled rules).
    signatures: RuleSet | None = None
    #: Also list hosts with global addresses seen only as far servers (web sites and clouds
    #: the network's users reached are not its equipment; by default they are only counted).
    include_remote: bool = False


class PassiveScan:
    """Feed packets, then take the inventory."""

    def __init__(self, options: PassiveOptions | None = None) -> None:
        self.options = options or PassiveOptions()
        self.table = HostTable()
        self.streams = StreamTable(self._response, self._tls)
        self.errors: list[ScanError] = []
        self.first: float | None = None
        self.last: float | None = None
        self.packets = 0
        self.sources: list[str] = []
        self._bad_links: set[int] = set()

    # -- input -------------------------------------------------------------------------------
    def read_file(self, path: Path) -> None:
        """Every packet of one capture file (`-`: standard input; gzip-compressed captures
        are read as they decompress); a corrupt file ends with an error recorded."""
        name = "<stdin>" if str(path) == "-" else str(path)
        self.sources.append(name)
        try:
            with contextlib.ExitStack() as stack:
                raw: BinaryIO = sys.stdin.buffer if name == "<stdin>" else \
                    stack.enter_context(open(path, "rb"))
                stream: BinaryIO | gzip.GzipFile = raw
                if _peek(raw) == b"\x1f\x8b":
                    stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
                self.feed(read_capture(stream, name=name))
        except CaptureError as exc:
            self.error(str(exc), target=name,
                       probe="capture-truncated" if exc.truncated else "capture")
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            self.error(f"{name}: corrupt gzip compression ({exc}); the packets before it "
                       "were read", target=name, probe="capture")
        except OSError as exc:
            self.error(f"{name}: cannot read: {exc.strerror or exc}", target=name,
                       probe="capture")

    def feed(self, packets: Iterable[Packet]) -> None:
        table, streams, seen, bind = self.table, self.streams, self.table.seen, self.table.bind
        first, last, count = self.first, self.last, self.packets
        try:
            for packet in packets:
                count += 1
                frame = dissect(packet.linktype, packet.data)
                if frame is None:
                    if packet.linktype not in SUPPORTED_LINKTYPES:
                        self._bad_link(packet.linktype)
                    continue
                ts = packet.timestamp
                if ts > 0:  # simple packet blocks carry no time
                    if first is None or ts < first:
                        first = ts
                    if last is None or ts > last:
                        last = ts
                src, proto = frame.src, frame.proto
                if proto == TCP:
                    seen(src, ts)
                    if frame.src_mac is not None and table.ip_mac.get(src) != frame.src_mac:
                        bind(src, frame.src_mac, from_arp=False)
                    if frame.flags & SYN_ACK == SYN_ACK:
                        self._open_port(src, frame.sport)
                    elif frame.payload[:1] == b"\x16" and frame.payload[5:6] == b"\x01":
                        self._client_hello(frame.dst, frame.payload)
                    streams.segment(src, frame.sport, frame.dst, frame.dport, frame.seq,
                                    frame.flags, frame.payload)
                elif proto == UDP:
                    seen(src, ts)
                    if frame.src_mac is not None and table.ip_mac.get(src) != frame.src_mac:
                        bind(src, frame.src_mac, from_arp=False)
                    if frame.sport in CHATTER_PORTS or frame.dport in CHATTER_PORTS:
                        self._datagram(src, frame.sport, frame.dport, frame.payload, ts)
                elif proto == ARP:
                    seen(src, ts)
                    bind(src, frame.payload, from_arp=True)
        finally:
            self.first, self.last, self.packets = first, last, count

    # -- observations ------------------------------------------------------------------------
    def _open_port(self, src: bytes, port: int) -> None:
        host = self.table.host(address_text(src), minor=True)
        if host is not None and len(host.candidate.open_ports) < 64:
            host.candidate.open_ports.add(port)

    def _datagram(self, src: bytes, sport: int, dport: int, payload: bytes,
                  timestamp: float) -> None:
        source = address_text(src)
        try:
            heard = chatter.read_datagram(sport, dport, payload, source)
        except Exception:  # hostile bytes: counted on the sender, never raised
            protocol = _protocol_of(sport, dport)
            host = self.table.host(source)
            if host is not None:
                host.garbage[protocol] = host.garbage.get(protocol, 0) + 1
            return
        if heard is None or (not heard.replies and heard.observations is None):
            return
        if heard.client_mac:  # DHCP: about the client's MAC, maybe before it has an address
            host = self.table.host(heard.address or f"mac:{heard.client_mac}")
            if host is not None:
                host.mac = heard.client_mac
                host.seen_at(timestamp)  # its packets come from 0.0.0.0: timed by message
        else:
            host = self.table.host(source)
        if host is not None:
            host.add(heard.protocol, heard.observations, heard.replies)

    def _response(self, response: Response) -> None:
        host = self.table.host(address_text(response.server))
        if host is None:
            return
        obs = observe_response(response.protocol, response.port, response.status,
                               response.headers, response.body, response.request)
        host.candidate.open_ports.add(response.port)
        host.add(response.protocol, obs)

    def _tls(self, server: bytes, port: int, data: bytes) -> None:
        shown = server_handshake(data)
        host = self.table.host(address_text(server))
        if host is None or shown.version is None:
            return
        obs = Observations()
        obs.answered = True
        obs.fact("tls_version", f"0x{shown.version:04x}")
        if shown.certificate:
            try:
                subject, issuer = subject_and_issuer(shown.certificate[:65536])
            except (ValueError, IndexError):
                obs.errors.append(f"tls port {port}: unreadable certificate")
            else:
                obs.signal("tls_subject", subject, "tls", f"port {port} certificate subject")
                if issuer and issuer != subject:
                    obs.signal("tls_subject", issuer, "tls", f"port {port} certificate issuer")
        host.candidate.open_ports.add(port)
        host.add("tls", obs)

    def _client_hello(self, server: bytes, payload: bytes) -> None:
        name = client_server_name(payload)
        if name:
            host = self.table.host(address_text(server), minor=True)
            if host is not None:
                host.candidate.observations.fact("tls_server_name", name)

    def _bad_link(self, linktype: int) -> None:
        if linktype not in self._bad_links:
            self._bad_links.add(linktype)
            self.error(f"link type {linktype} is not read (supported: Ethernet, Linux cooked, "
                       "raw IP, BSD loopback); its packets were skipped")

    def error(self, message: str, target: str | None = None, probe: str = "passive") -> None:
        """`probe` is `capture` for a file that could not be read (from a point on),
        `capture-truncated` for one that only ends mid-record, else `passive`."""
        self.errors.append(ScanError(target=target, probe=probe, message=message))

    # -- result ------------------------------------------------------------------------------
    def inventory(self, parameters: dict[str, object] | None = None) -> Inventory:
        self.streams.finish_all()
        devices = self.table.devices(self.options.signatures,
                                     include_remote=self.options.include_remote)
        devices.sort(key=lambda d: (not d.addresses, _sort_key(d.addresses)))
        if self.streams.dropped:
            self.error(f"{self.streams.dropped} TCP flows were dropped to stay within the "
                       "reassembly memory budget; their responses were not read")
        if self.table.untracked:
            self.error(f"more than {len(self.table.hosts)} hosts: observations of "
                       f"{self.table.untracked} more were not kept")
        now = datetime.now(UTC)
        started = _time(self.first) or now
        return Inventory(
            kind="network", targets=list(self.sources), started=started,
            finished=_time(self.last) or started, devices=devices, errors=self.errors,
            parameters={"mode": "passive", "packets": self.packets,
                        "hosts_seen": len(self.table.spans),
                        "remote_hosts_not_listed": self.table.remote_skipped,
                        **(parameters or {})})


def _peek(stream: BinaryIO) -> bytes:
    """The first two bytes, left unread (a buffered file or pipe)."""
    peek = getattr(stream, "peek", None)
    return peek(2)[:2] if callable(peek) else b""


def _protocol_of(sport: int, dport: int) -> str:
    for port, name in ((3702, "wsd"), (37020, "sadp"), (37810, "dhip"), (5353, "mdns"),
                       (1900, "ssdp"), (67, "dhcp"), (68, "dhcp")):
        if port in (sport, dport):
            return name
    return "udp"


def _sort_key(addresses: list[str]) -> tuple[int, int]:
    import ipaddress

    try:
        ip = ipaddress.ip_address(addresses[0])
        return ip.version, int(ip)
    except (ValueError, IndexError):
        return 9, 0


def _time(timestamp: float | None) -> datetime | None:
    if timestamp is None or timestamp <= 0:
        return None
    return datetime.fromtimestamp(timestamp, UTC)


def read_captures(paths: Iterable[Path], options: PassiveOptions | None = None) -> Inventory:
    """The inventory of what `paths` (pcap or pcapng files) show."""
    job = PassiveScan(options)
    for path in paths:
        job.read_file(Path(path))
    return job.inventory({"files": [str(p) for p in job.sources]})


def capture_live(interface: str, duration: float, options: PassiveOptions | None = None, *,
                 bpf: str = DEFAULT_FILTER,
                 on_start: Callable[[], None] | None = None) -> Inventory:
    """Listen on `interface` for `duration` seconds (root; tcpdump captures with the
    kernel-side BPF filter `bpf` and hands over a pcap stream, read as it arrives)."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise ScannerError("live capture needs tcpdump (apt-get install tcpdump); or record "
                           "a capture elsewhere and run `entityscan passive FILE`")
    argv = [tcpdump, "-i", interface, "-w", "-", "-U", "-n", "-s", "65535", "-B", "8192",
            "--immediate-mode", bpf]
    job = PassiveScan(options)
    job.sources.append(f"live:{interface}")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE,  # noqa: S603
                               stderr=subprocess.PIPE)
    timer = threading.Timer(duration, _stop, args=(process,))
    timer.start()
    try:
        if on_start is not None:
            on_start()
        assert process.stdout is not None
        job.feed(_live_packets(process.stdout, interface))
    except CaptureError as exc:
        job.error(str(exc), target=interface)
    finally:
        timer.cancel()
        _stop(process)
        stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
        process.wait(timeout=10)
    if process.returncode not in (0, -15) and job.packets == 0:
        raise ScannerError(f"tcpdump on {interface} failed: {stderr.strip()[-300:]}")
    return job.inventory({"interface": interface, "duration": duration, "filter": bpf})


def _live_packets(stream: Readable, interface: str) -> Iterator[Packet]:
    try:
        yield from read_capture(stream, name=f"live:{interface}")
    except CaptureError as exc:
        if "empty" not in str(exc):  # tcpdump stopped before its first packet: no packets
            raise


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()  # our own child, by its handle
