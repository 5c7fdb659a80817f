"""The network scan: discovery -> candidates -> probes -> evidence -> attribution -> inventory.

An async core (`scan_async`) under one overall deadline, with bounded concurrency overall and
per host and a rate limit on new packets and connections; a thin sync face (`scan`).  Progress
is reported through a callback so a command line can draw a bar.  A device that does not answer,
answers garbage, floods or stalls ends as `readable=False` with its errors; it never stops the
scan.  This module orchestrates; what replies mean is each discovery protocol's
(`entityscan.scanners.discovery`), and devices are assembled, merged and attributed in
`entityscan.scanners.assembly`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from entityscan.scanners.assembly import Candidate, build_device, merge_and_attribute
from entityscan.scanners.credentials import Credentials
from entityscan.scanners.discovery import dhip, mdns, sadp, wsd
from entityscan.scanners.discovery.base import DiscoveryReply, UdpDiscovery
from entityscan.scanners.discovery.sweep import sweep
from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Device, Inventory, ScanError
from entityscan.scanners.netutil import LocalInterface, RateLimiter, multicast_interfaces
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.http import insecure_context, make_client, probe_http
from entityscan.scanners.probes.neighbours import eui64_mac, neighbour_table
from entityscan.scanners.probes.onvif import probe_onvif
from entityscan.scanners.probes.rtsp import probe_rtsp
from entityscan.scanners.probes.tls import probe_tls
from entityscan.scanners.signals import RuleSet
from entityscan.scanners.targets import TargetSet

SERVICES = ("http", "https", "rtsp", "sdk", "other")

#: Which service a bare port number is assumed to speak.
WELL_KNOWN = {80: "http", 8080: "http", 88: "http", 8081: "http", 443: "https", 8443: "https",
              554: "rtsp", 8554: "rtsp", 8000: "sdk", 37777: "sdk"}


@dataclass(frozen=True)
class PortPlan:
    """TCP ports per service, and the UDP discovery ports (changeable for simulated labs)."""

    http: tuple[int, ...] = (80, 8080)
    https: tuple[int, ...] = (443, 8443)
    rtsp: tuple[int, ...] = (554, 8554)
    sdk: tuple[int, ...] = (8000, 37777)
    other: tuple[int, ...] = ()
    wsd: int = wsd.PORT
    sadp: int = sadp.PORT
    dhip: int = dhip.PORT

    @property
    def tcp(self) -> tuple[int, ...]:
        seen: dict[int, None] = {}
        for group in (self.http, self.https, self.rtsp, self.sdk, self.other):
            seen.update(dict.fromkeys(group))
        return tuple(seen)

    def service_of(self, port: int) -> str:
        for name in SERVICES:
            if port in getattr(self, name):
                return name
        return "other"

    @classmethod
    def parse(cls, specs: Iterable[str], base: PortPlan | None = None) -> PortPlan:
        """`80,443,554` or `http:10080,https:10443,rtsp:10554,wsd:13702` (comma or space
        separated).  Bare numbers get their usual service (443 https, 554 rtsp, else http);
        named UDP entries (wsd, sadp, dhip) move a discovery port."""
        groups: dict[str, list[int]] = {name: [] for name in SERVICES}
        udp: dict[str, int] = {}
        for spec in specs:
            for item in spec.replace(",", " ").split():
                name, sep, number = item.rpartition(":")
                try:
                    port = int(number)
                except ValueError:
                    raise ScannerError(f"port {item!r}: expected a number or SERVICE:NUMBER "
                                       f"(services: {', '.join(SERVICES)}, wsd, sadp, dhip)"
                                       ) from None
                if not 0 < port < 65536:
                    raise ScannerError(f"port {item!r}: must be between 1 and 65535")
                service = name.lower() if sep else WELL_KNOWN.get(port, "http")
                if service in ("wsd", "sadp", "dhip"):
                    udp[service] = port
                elif service in groups:
                    groups[service].append(port)
                else:
                    raise ScannerError(f"port {item!r}: unknown service {name!r}")
        base = base or cls()
        if not any(groups.values()):
            return cls(base.http, base.https, base.rtsp, base.sdk, base.other,
                       udp.get("wsd", base.wsd), udp.get("sadp", base.sadp),
                       udp.get("dhip", base.dhip))
        return cls(tuple(groups["http"]), tuple(groups["https"]), tuple(groups["rtsp"]),
                   tuple(groups["sdk"]), tuple(groups["other"]), udp.get("wsd", base.wsd),
                   udp.get("sadp", base.sadp), udp.get("dhip", base.dhip))


@dataclass(frozen=True)
class Progress:
    """One progress event: a phase, how far it is, and a short message."""

    phase: str
    done: int
    total: int | None
    message: str = ""


@dataclass
class ScanOptions:
    timeout: float = 60.0
    rate: float = 2000.0
    concurrency: int = 1024
    probe_concurrency: int = 64
    per_host: int = 4
    multicast: bool = True
    ports: PortPlan = field(default_factory=PortPlan)
    credentials: Credentials = field(default_factory=Credentials)
    discovery_wait: float = 1.5
    connect_timeout: float = 1.0
    device_budget: float = 12.0
    unicast_udp: bool = True
    progress: Callable[[Progress], None] | None = None
    #: A signature set to judge signals with (default: the bundled rules); a front end passes
    #: one built with its plugins' rule directories.
    signatures: RuleSet | None = None

    def describe(self) -> dict[str, object]:
        """Parameters for the inventory record (credentials only counted, never shown)."""
        return {"timeout": self.timeout, "rate": self.rate, "concurrency": self.concurrency,
                "per_host": self.per_host, "multicast": self.multicast,
                "tcp_ports": list(self.ports.tcp),
                "udp_ports": {"wsd": self.ports.wsd, "sadp": self.ports.sadp,
                              "dhip": self.ports.dhip},
                "credentials_entries": len(self.credentials.entries)}


#: A source sending more discovery datagrams than this is a flood, not a device answer.
FLOOD_THRESHOLD = 64
#: Without multicast, replies to unicast probes come quickly: wait this long after sending.
UNICAST_LINGER = 0.5
#: Seconds kept back from the deadline to assemble the inventory.
ASSEMBLY_MARGIN = 0.3


class _Scan:
    def __init__(self, targets: TargetSet, options: ScanOptions):
        self.targets = targets
        self.options = options
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + options.timeout
        self.candidates: dict[str, Candidate] = {}
        self.errors: list[ScanError] = []
        self.limiter = RateLimiter(options.rate)
        self.discoveries: list[UdpDiscovery] = []
        self.mdns_replies: list[DiscoveryReply] = []

    # --- helpers -------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.deadline - ASSEMBLY_MARGIN - self.loop.time()

    def emit(self, phase: str, done: int, total: int | None, message: str = "") -> None:
        if self.options.progress is not None:
            with contextlib.suppress(Exception):
                self.options.progress(Progress(phase, done, total, message))

    def candidate(self, address: str) -> Candidate:
        if address not in self.candidates:
            self.candidates[address] = Candidate(address)
        return self.candidates[address]

    def error(self, message: str, target: str | None = None, probe: str | None = None) -> None:
        self.errors.append(ScanError(target=target, probe=probe, message=message))

    # --- discovery -----------------------------------------------------------------------
    async def discover(self) -> None:
        opts = self.options
        ifaces: list[LocalInterface] = []
        if opts.multicast:
            ifaces = multicast_interfaces(self.targets.networks())
            if not ifaces:
                self.error("multicast discovery skipped: no local interface shares a subnet "
                           "with the targets (unicast probes still sent)", probe="multicast")
        self.discoveries = [wsd.discovery(opts.ports.wsd), sadp.discovery(opts.ports.sadp),
                            dhip.discovery(opts.ports.dhip)]
        for disc in self.discoveries:
            try:
                await disc.start(ifaces)
            except OSError as exc:
                self.error(f"{disc.protocol}: cannot open a UDP socket ({exc})",
                           probe=disc.protocol)
        live = [d for d in self.discoveries if d.is_open]
        mdns_task = None
        if ifaces:
            for disc in live:
                disc.send_multicast(ifaces)
            mdns_task = asyncio.create_task(mdns.browse(
                ifaces, min(opts.discovery_wait * 1.5, max(0.0, self.remaining() / 2)),
                lambda address: address in self.targets))

        total = self.targets.upper_bound * (len(opts.ports.tcp) +
                                            (len(live) if opts.unicast_udp else 0))
        done = 0

        def attempted() -> None:
            nonlocal done
            done += 1
            if done % 64 == 0 or done == total:
                self.emit("sweep", done, total)

        def pairs() -> Iterator[tuple[str, int]]:
            for address in self.targets:
                text = str(address)
                for port in opts.ports.tcp:
                    yield text, port

        last_send = self.loop.time()

        async def unicast_udp() -> None:
            nonlocal last_send
            for address in self.targets:
                text = str(address)
                for disc in live:
                    await self.limiter.wait()
                    disc.send_unicast(text)
                    last_send = self.loop.time()
                    attempted()

        def on_open(address: str, port: int) -> None:
            self.candidate(address).open_ports.add(port)

        jobs: list[Coroutine[Any, Any, object]] = [
            sweep(pairs(), concurrency=opts.concurrency, limiter=self.limiter,
                  connect_timeout=opts.connect_timeout, on_open=on_open, on_attempt=attempted)]
        if opts.unicast_udp and live:
            jobs.append(unicast_udp())
        started = self.loop.time()
        try:
            async with asyncio.timeout(max(0.0, self.remaining() - 1.0)):
                await asyncio.gather(*jobs)
        except TimeoutError:
            self.error(f"the sweep did not finish before the deadline ({opts.timeout:g}s); "
                       "addresses not reached are missing", probe="sweep")
        if opts.unicast_udp and self.remaining() > 2.0:
            # UDP is lossy (and a flooding neighbour can fill our receive buffer): ask once
            # more every live host that has not answered a protocol yet.
            for address in list(self.candidates):
                for disc in live:
                    if not disc.datagrams.get(address):
                        await self.limiter.wait()
                        disc.send_unicast(address)
                        last_send = self.loop.time()
        # Late UDP answers: discovery_wait after the multicast probes, and UNICAST_LINGER
        # after the last unicast probe.
        until = max(started + (opts.discovery_wait if ifaces else 0.0),
                    last_send + UNICAST_LINGER)
        linger = min(until - self.loop.time(), max(0.0, self.remaining() / 3))
        if linger > 0:
            await asyncio.sleep(linger)
        if mdns_task is not None:
            try:
                async with asyncio.timeout(max(0.1, self.remaining() / 3)):
                    replies, errors = await mdns_task
                self.mdns_replies = replies
                for message in errors:
                    self.error(message, probe="mdns")
            except TimeoutError:
                self.error("mdns: browsing did not finish in time", probe="mdns")
        for disc in self.discoveries:
            disc.close()
            for message in disc.errors:
                self.error(message, probe=disc.protocol)
            self._fold_discovery(disc)
        for reply in self.mdns_replies:
            if reply.source in self.targets:
                self.candidate(reply.source).replies.append(reply)

    def _fold_discovery(self, disc: UdpDiscovery) -> None:
        # A device answers each probe that reached it once (twice at most, on some firmware);
        # more than twice that is a flood, whatever it contains.
        allowed = min(FLOOD_THRESHOLD, 2 * max(1, disc.probes_per_target) + 1)
        for source, replies in disc.replies().items():
            if source not in self.targets:
                continue  # multicast answers from outside the targets are not ours to report
            self.candidate(source).replies.extend(replies)
        for source, count in disc.datagrams.items():
            if source in self.targets and count > allowed:
                cand = self.candidate(source)
                cand.observations.hostile = True
                cand.observations.errors.append(
                    f"{disc.protocol}: flooded the scanner ({count} datagrams for "
                    f"{disc.probes_per_target} probes; kept "
                    f"{len(disc.box.replies.get(source, ()))})")
        for source, count in disc.garbage.items():
            if source in self.targets:
                cand = self.candidate(source)
                valid = len(disc.box.replies.get(source, ()))
                # One odd datagram next to good replies is a quirk; otherwise it is hostile.
                if not valid or count >= 3:
                    cand.observations.hostile = True
                cand.observations.errors.append(
                    f"{disc.protocol}: {count} unreadable "
                    f"repl{'y' if count == 1 else 'ies'} (malformed, hostile or oversized)")

    # --- probes --------------------------------------------------------------------------
    async def probe_all(self) -> None:
        opts = self.options
        overall = asyncio.Semaphore(opts.probe_concurrency)
        context = insecure_context()
        addresses = list(self.candidates)
        done = 0
        self.emit("probe", 0, len(addresses))

        async def one(address: str) -> None:
            nonlocal done
            async with overall:
                client = make_client(opts.per_host, context)
                try:
                    await self.probe_device(self.candidates[address], client)
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.aclose(), 1.0)
            done += 1
            self.emit("probe", done, len(addresses), address)

        tasks = {asyncio.create_task(one(address)): address for address in addresses}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, self.remaining()))
            for task in pending:
                task.cancel()
                self.candidates[tasks[task]].unfinished = True
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def probe_device(self, cand: Candidate, client: httpx.AsyncClient) -> None:
        opts = self.options
        plan = opts.ports
        credential = opts.credentials.for_address(cand.address)
        pair = credential.pair if credential else None
        budget = max(0.5, min(opts.device_budget, self.remaining()))
        per_host = asyncio.Semaphore(opts.per_host)
        jobs: list[Awaitable[None]] = []

        async def run(probe: Awaitable[Observations]) -> None:
            async with per_host:
                await self.limiter.wait()
                cand.observations.extend(await probe)

        for port in sorted(cand.open_ports):
            service = plan.service_of(port)
            if service in ("http", "https"):
                tls = service == "https"
                jobs.append(run(probe_http(client, cand.address, port, tls=tls, credentials=pair,
                                           budget=budget)))
                if tls:
                    jobs.append(run(probe_tls(cand.address, port)))
            elif service == "rtsp":
                jobs.append(run(probe_rtsp(cand.address, port)))
        started = self.loop.time()
        try:
            async with asyncio.timeout(budget + 1.0):
                await asyncio.gather(*jobs, return_exceptions=True)
                # ONVIF SOAP (a read-only POST) only goes to devices that look like cameras,
                # never to every web server on the network.
                onvif_target = self._onvif_endpoint(cand, with_credentials=pair is not None)
                if onvif_target and not cand.observations.hostile:
                    scheme, port, path = onvif_target
                    left = max(0.5, budget - (self.loop.time() - started))
                    await run(probe_onvif(client, cand.address, port, scheme=scheme,
                                          path=path, credentials=pair, budget=left))
        except TimeoutError:
            cand.observations.errors.append(f"probes did not finish within {budget:g}s")

    def _onvif_endpoint(self, cand: Candidate, *, with_credentials: bool
                        ) -> tuple[str, int, str] | None:
        for reply in cand.replies:
            if reply.protocol == "wsd":
                found = wsd.xaddr_for(reply, cand.address)
                if found:
                    return found
        plan = self.options.ports
        camera_like = with_credentials or bool(cand.replies) or any(
            port in plan.rtsp for port in cand.open_ports) or any(
            sig.kind in ("http_realm", "http_path", "rtsp_server")
            for sig in cand.observations.signals)
        if not camera_like:
            return None
        for port in sorted(cand.open_ports):
            if port in plan.http:
                return "http", port, "/onvif/device_service"
        return None

    # --- assembly ------------------------------------------------------------------------
    def assemble(self) -> list[Device]:
        """Build each candidate's device, then merge and attribute (once per device)."""
        table = neighbour_table()
        return merge_and_attribute(
            build_device(cand, table.get(cand.address) or eui64_mac(cand.address),
                         rules=self.options.signatures)
            for cand in self.candidates.values())


async def scan_async(targets: TargetSet | Iterable[str], options: ScanOptions | None = None
                     ) -> Inventory:
    """Scan `targets` and return the merged, attributed inventory."""
    options = options or ScanOptions()
    if not isinstance(targets, TargetSet):
        targets = TargetSet.parse(list(targets))
    inventory = Inventory(kind="network", targets=targets.texts,
                          parameters=options.describe())
    started = time.monotonic()
    job = _Scan(targets, options)
    job.emit("discovery", 0, None, "discovering")
    await job.discover()
    job.emit("discovery", 1, 1, f"{len(job.candidates)} candidate(s)")
    await job.probe_all()
    devices = job.assemble()
    devices.sort(key=lambda d: _sort_key(d.addresses[0] if d.addresses else ""))
    job.emit("done", len(devices), len(devices), f"{time.monotonic() - started:.1f}s")
    return inventory.model_copy(update={
        "devices": devices, "errors": job.errors, "finished": datetime.now(UTC)})


def _sort_key(address: str) -> tuple[int, int]:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
        return ip.version, int(ip)
    except ValueError:
        return 9, 0


def scan(targets: TargetSet | Iterable[str], options: ScanOptions | None = None) -> Inventory:
    """Synchronous face of `scan_async` (runs its own event loop)."""
    return asyncio.run(scan_async(targets, options))
