"""The pipelined scan: discovery and identification overlap, host by host.

Everything starts at once: multicast discovery on local segments, mDNS browsing, unicast
discovery datagrams (WS-Discovery, SADP, DHIP, SSDP) to every target and the TCP sweep of the
camera ports, all under one rate limit.  A host is identified (`entityscan.scanners.identify`)
as soon as it shows itself, by a first open port or a discovery answer: its probes run while
the sweep goes on elsewhere and while discovery still listens.  Each host's probes wait only
for its own sweep, and a slow or hostile host spends only its own caps; the scan ends when
the last listening window has closed and the last host is done, or at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from entityscan.scanners.assembly import Candidate
from entityscan.scanners.discovery import dhip, mdns, sadp, ssdp, wsd
from entityscan.scanners.discovery.base import DiscoveryReply, UdpDiscovery
from entityscan.scanners.discovery.sweep import sweep
from entityscan.scanners.identify import HostContext, identify
from entityscan.scanners.inventory import ScanError
from entityscan.scanners.netutil import LocalInterface, RateLimiter, multicast_interfaces
from entityscan.scanners.oui import warm_registries
from entityscan.scanners.probes.http import insecure_context, make_client
from entityscan.scanners.targets import TargetSet


@dataclass(frozen=True)
class Progress:
    """One progress event: a phase, how far it is, and a short message."""

    phase: str
    done: int
    total: int | None
    message: str = ""


#: A source sending more discovery datagrams than this is a flood, not a device answer.
FLOOD_THRESHOLD = 64
#: Without multicast, replies to unicast probes come quickly: listen this long after sending.
UNICAST_LINGER = 0.5
#: After the last first-round datagram, wait this long before asking silent live hosts again.
RESEND_AFTER = 0.3
#: Seconds kept back from the deadline to assemble the inventory.
ASSEMBLY_MARGIN = 0.3


#: File descriptors kept free for the host probes, discovery sockets and the process itself.
FD_RESERVE = 512


def sweep_concurrency(wanted: int) -> int:
    """As many parallel connection attempts as asked, within the open-file limit (raised to
    its hard ceiling first: the usual soft limit of 1024 would make a wide sweep fail)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted + FD_RESERVE
        if soft != resource.RLIM_INFINITY and soft < target:
            raised = target if hard == resource.RLIM_INFINITY else min(target, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    except (OSError, ValueError):
        return min(wanted, 256)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - FD_RESERVE))


class ScanJob:
    """One scan's state: candidates by address, the discovery sockets, the host tasks."""

    def __init__(self, targets: TargetSet, options: Any) -> None:
        self.targets = targets
        self.options = options
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + options.timeout
        self.candidates: dict[str, Candidate] = {}
        self.errors: list[ScanError] = []
        self.limiter = RateLimiter(options.rate)
        self.discoveries: list[UdpDiscovery] = []
        self._hosts: dict[str, asyncio.Task[None]] = {}
        self._swept: dict[str, asyncio.Event] = {}
        self._attempts: dict[str, int] = {}
        self._identify_slots = asyncio.Semaphore(options.probe_concurrency)
        self._local: list[Any] = []
        self._last_ask = self.loop.time()
        self._context = insecure_context()
        self.identified = 0

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

    # --- the pipeline --------------------------------------------------------------------
    async def run(self) -> None:
        opts = self.options
        ifaces = self._multicast_interfaces()
        self._local = [iface.network for iface in ifaces]
        await self._open_discoveries(ifaces)
        live = [d for d in self.discoveries if d.is_open]
        started = self.loop.time()
        mdns_task = None
        if ifaces:
            for disc in live:
                disc.send_multicast(ifaces)
            mdns_task = asyncio.create_task(mdns.browse(
                ifaces, min(opts.discovery_wait * 1.5, max(0.0, self.remaining() / 2)),
                lambda address: address in self.targets))
        last_send = await self._sweep_and_ask(live)
        # The registries behind MAC evidence load in the quiet time while answers trickle in
        # (earlier, the parse would hold the interpreter while the sweep needs it).
        warm = self.loop.run_in_executor(None, warm_registries)
        # Late UDP answers: discovery_wait after the multicast probes, UNICAST_LINGER after the
        # last unicast probe.  Hosts keep being identified meanwhile.
        until = max(started + (opts.discovery_wait if ifaces else 0.0),
                    max(last_send, self._last_ask) + UNICAST_LINGER)
        linger = min(until - self.loop.time(), max(0.0, self.remaining() / 3))
        if linger > 0:
            await asyncio.sleep(linger)
        if mdns_task is not None:
            await self._fold_mdns(mdns_task)
        for disc in self.discoveries:
            disc.close()
            for message in disc.errors:
                self.error(message, probe=disc.protocol)
            self._fold_discovery(disc)
        await self._finish_hosts()
        with contextlib.suppress(Exception):
            await warm

    def _multicast_interfaces(self) -> list[LocalInterface]:
        if not self.options.multicast:
            return []
        ifaces = multicast_interfaces(self.targets.networks())
        if not ifaces:
            self.error("multicast discovery skipped: no local interface shares a subnet with "
                       "the targets (unicast probes still sent)", probe="multicast")
        return ifaces

    async def _open_discoveries(self, ifaces: list[LocalInterface]) -> None:
        plan = self.options.ports
        self.discoveries = [wsd.discovery(plan.wsd), sadp.discovery(plan.sadp),
                            dhip.discovery(plan.dhip), ssdp.discovery(plan.ssdp)]
        for disc in self.discoveries:
            disc.on_reply = self._heard
            try:
                await disc.start(ifaces)
            except OSError as exc:
                self.error(f"{disc.protocol}: cannot open a UDP socket ({exc})",
                           probe=disc.protocol)

    def _heard(self, source: str) -> None:
        """A discovery answer arrived: identify its host now (if it is a target)."""
        if source in self.targets:
            self.found(source)

    def found(self, address: str) -> None:
        """Start identifying `address` (once)."""
        cand = self.candidate(address)
        if address not in self._hosts and self.remaining() > 0:
            self._hosts[address] = asyncio.create_task(self._identify(cand))

    async def _sweep_and_ask(self, live: list[UdpDiscovery]) -> float:
        """The TCP sweep and the unicast discovery datagrams, interleaved per address.
        Returns the time of the last datagram sent."""
        opts = self.options
        tcp = opts.ports.tcp
        total = self.targets.upper_bound * (len(tcp) + (len(live) if opts.unicast_udp else 0))
        done = 0
        last_send = self.loop.time()

        def attempted(address: str | None = None) -> None:
            nonlocal done
            done += 1
            if done % 64 == 0 or done == total:
                self.emit("sweep", done, total)
            if address is not None:
                self._attempts[address] = self._attempts.get(address, 0) + 1
                if self._attempts[address] >= len(tcp):
                    self._swept_event(address).set()

        def pairs() -> Iterator[tuple[str, int]]:
            for address in self.targets:
                text = str(address)
                for port in tcp:
                    yield text, port

        async def unicast_udp() -> None:
            nonlocal last_send
            for address in self.targets:
                if any(address in network for network in self._local):
                    continue  # the multicast probe reached it; live ones are asked directly
                text = str(address)
                await self.limiter.wait(len(live))  # one datagram per protocol, booked at once
                for disc in live:
                    disc.send_unicast(text)
                    attempted()
                last_send = self.loop.time()
            # UDP is lossy (and a flooding neighbour can fill a receive buffer): once the
            # first answers are in, ask again every live host that has not answered a
            # protocol yet; the sweep's slow connection attempts need not finish first.
            await asyncio.sleep(min(RESEND_AFTER, max(0.0, self.remaining() - 2.0)))
            if self.remaining() > 2.0:
                for live_host in list(self.candidates):
                    for disc in live:
                        if not disc.datagrams.get(live_host):
                            await self.limiter.wait()
                            disc.send_unicast(live_host)
                            last_send = self.loop.time()

        def on_open(address: str, port: int) -> None:
            self.candidate(address).open_ports.add(port)
            self.found(address)

        jobs: list[Coroutine[Any, Any, object]] = [
            sweep(pairs(), concurrency=sweep_concurrency(opts.concurrency),
                  limiter=self.limiter,
                  connect_timeout=opts.connect_timeout, on_open=on_open,
                  on_attempt=attempted)]
        if opts.unicast_udp and live:
            jobs.append(unicast_udp())
        try:
            async with asyncio.timeout(max(0.0, self.remaining() - 1.0)):
                await asyncio.gather(*jobs)
        except TimeoutError:
            self.error(f"the sweep did not finish before the deadline ({opts.timeout:g}s); "
                       "addresses not reached are missing", probe="sweep")
        for event in self._swept.values():
            event.set()  # whatever was not reached will not be
        return last_send

    def _swept_event(self, address: str) -> asyncio.Event:
        if address not in self._swept:
            self._swept[address] = asyncio.Event()
        return self._swept[address]

    async def _identify(self, cand: Candidate) -> None:
        opts = self.options
        # The host's own ports first: its probes need to know which are open.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(opts.connect_timeout * 2 + 0.5,
                                                    self.remaining()))):
                await self._swept_event(cand.address).wait()
        if opts.unicast_udp:
            await self._ask_directly(cand.address)
        async with self._identify_slots:
            budget = max(0.5, min(opts.device_budget, self.remaining()))
            client = make_client(opts.per_host, self._context)
            context = HostContext(opts.ports, opts.credentials, self.limiter, opts.per_host,
                                  budget, lambda: self._replies_of(cand.address))
            try:
                await identify(cand, client, context)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), 1.0)
        self.identified += 1
        self.emit("probe", self.identified, len(self.candidates), cand.address)

    async def _ask_directly(self, address: str) -> None:
        """A live host that has not answered a discovery protocol yet gets it by unicast
        (UDP is lossy, and some devices ignore multicast)."""
        for disc in self.discoveries:
            if disc.is_open and not disc.datagrams.get(address) and self.remaining() > 1.0:
                await self.limiter.wait(urgent=True)
                disc.send_unicast(address)
                self._last_ask = self.loop.time()

    def _replies_of(self, address: str) -> list[DiscoveryReply]:
        found: list[DiscoveryReply] = []
        for disc in self.discoveries:
            found.extend(disc.box.replies.get(address, ()))
        return found

    async def _finish_hosts(self) -> None:
        # Hosts heard only in the last window (or only by mDNS) still get identified.
        for address in list(self.candidates):
            self.found(address)
        tasks = {task: address for address, task in self._hosts.items()}
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, self.remaining()))
        for task in pending:
            task.cancel()
            self.candidates[tasks[task]].unfinished = True
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # --- folding what discovery heard ----------------------------------------------------
    async def _fold_mdns(self, task: asyncio.Task[tuple[list[DiscoveryReply], list[str]]]
                         ) -> None:
        try:
            async with asyncio.timeout(max(0.1, self.remaining() / 3)):
                replies, errors = await task
        except TimeoutError:
            self.error("mdns: browsing did not finish in time", probe="mdns")
            return
        for message in errors:
            self.error(message, probe="mdns")
        for reply in replies:
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

