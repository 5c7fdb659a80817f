"""The simulator: serves each profile on its own address (asyncio), sync face in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from entityscan.scanners.lab import netns, services, tcp, udp, upnp
from entityscan.scanners.lab.device import SimDevice
from entityscan.scanners.lab.errors import LabError
from entityscan.scanners.lab.mdns import MdnsAdvertiser
from entityscan.scanners.lab.ports import UDP_PROTOCOLS, PortPlan, ports_for
from entityscan.scanners.lab.profiles import DeviceProfile

BACKLOG = 512  # the default small accept queue drops SYNs under a concurrent scan


def _tcp_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise LabError(f"cannot bind {address}:{port}: {exc.strerror}") from exc
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


class Lab:
    """A set of simulated devices, each on its own address.  Use `async with`.

    `Lab.loopback(profiles)` places them on 127.x addresses (unicast only);
    `Lab(placements, ports, multicast=True)` is for a network namespace.
    """

    def __init__(self, placements: Sequence[tuple[DeviceProfile, str]],
                 ports: PortPlan | None = None, *, multicast: bool = False,
                 mdns: bool = False, namespaces: Sequence[str | None] | None = None) -> None:
        """`namespaces[i]` (Linux, root) names the network namespace of device i."""
        self.port_plan = ports or PortPlan.unprivileged()
        if namespaces is not None and len(namespaces) != len(placements):
            raise LabError("give one namespace (or None) per device")
        self.namespaces = {address: ns for (_, address), ns in
                           zip(placements, namespaces or [None] * len(placements), strict=True)
                           if ns is not None}
        self.multicast = multicast
        self.mdns = mdns
        seen: set[str] = set()
        self.devices: list[SimDevice] = []
        for profile, address in placements:
            ipaddress.IPv4Address(address)  # raises ValueError on a bad address
            if address in seen:
                raise LabError(f"two devices on {address}: one address per device")
            seen.add(address)
            self.devices.append(SimDevice(profile.name, address,
                                          self._ports_for(profile), profile))
        self._servers: list[asyncio.base_events.Server] = []
        self._transports: list[asyncio.DatagramTransport] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._mdns: list[MdnsAdvertiser] = []
        self._agents: list[Any] = []
        self._started = False

    @classmethod
    def loopback(cls, profiles: Sequence[DeviceProfile], base: str = "127.77.0.10",
                 ports: PortPlan | None = None, *, mdns: bool = False) -> Lab:
        """Each device on base, base+1, … inside 127.0.0.0/8 (no multicast on loopback)."""
        start = ipaddress.IPv4Address(base)
        last = start + max(len(profiles) - 1, 0)
        loopback = ipaddress.IPv4Network("127.0.0.0/8")
        if start not in loopback or last not in loopback:
            raise LabError(f"loopback lab addresses {start}..{last} leave 127.0.0.0/8")
        return cls([(p, str(start + i)) for i, p in enumerate(profiles)], ports,
                   multicast=False, mdns=mdns)

    def _ports_for(self, profile: DeviceProfile) -> dict[str, int]:
        return ports_for(profile, self.port_plan)

    # -- lookups -------------------------------------------------------------------------
    def device(self, name: str) -> SimDevice:
        """The device whose name (or profile name) is `name`."""
        for dev in self.devices:
            if name in (dev.name, dev.profile.base_name):
                return dev
        raise LabError(f"no device named {name!r} in this lab")

    def by_address(self, address: str) -> SimDevice:
        for dev in self.devices:
            if dev.address == address:
                return dev
        raise LabError(f"no device on {address}")

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Lab:
        await self.start()
        return self

    async def __aexit__(self, _exc_type: type[BaseException] | None,
                        _exc: BaseException | None, _tb: TracebackType | None) -> None:
        await self.stop()

    def _track(self, serve: Callable[[SimDevice, asyncio.StreamReader,
                                      asyncio.StreamWriter], Awaitable[None]],
               device: SimDevice) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                              Awaitable[None]]:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections.add(task)
            try:
                await serve(device, reader, writer)
            except asyncio.CancelledError:
                pass  # the lab is stopping; ending quietly keeps asyncio from logging it
            finally:
                self._connections.discard(task)
        return handler

    async def start(self) -> None:
        if self._started:
            raise LabError("lab already started")
        self._started = True
        advertisers: list[MdnsAdvertiser] = []
        try:
            for device in self.devices:
                # Sockets are created synchronously inside the device's namespace (if any):
                # a socket stays in the namespace it was created in.
                with netns.entered(self.namespaces.get(device.address)):
                    sockets = self._open_sockets(device)
                    advertiser = self._advertiser(device)
                await self._serve(device, sockets)
                if advertiser is not None:
                    advertisers.append(advertiser)
            # mDNS probing takes ~1.6 s per responder: run them all at once.
            await asyncio.gather(*(a.start() for a in advertisers))
            if self.mdns and not self.namespaces:
                with_mdns = [d for d in self.devices if d.profile.mdns is not None]
                if with_mdns:
                    # One responder on the lab's interface (loopback: all share `lo`).
                    advertiser = MdnsAdvertiser(with_mdns, [with_mdns[0].address])
                    self._mdns.append(advertiser)
                    await advertiser.start()
        except BaseException:
            await self.stop()
            raise

    def _advertiser(self, device: SimDevice) -> MdnsAdvertiser | None:
        if not (self.mdns and self.namespaces and device.profile.mdns is not None):
            return None
        advertiser = MdnsAdvertiser([device], [device.address])
        self._mdns.append(advertiser)
        advertiser.open()
        return advertiser

    def _open_sockets(self, device: SimDevice) -> dict[str, list[socket.socket]]:
        groups = {"wsd": udp.WSD_GROUP, "sadp": udp.SADP_GROUP, "dhip": udp.DHIP_GROUP,
                  "ssdp": upnp.GROUP, "snmp": None}
        sockets: dict[str, list[socket.socket]] = {}
        try:
            for key, port in device.ports.items():
                if key in UDP_PROTOCOLS:
                    group = groups[key] if self.multicast else None
                    try:
                        sockets[key] = udp.open_sockets(device.address, port, group)
                    except OSError as exc:
                        raise LabError(f"cannot open {key} on {device.address}:{port}: "
                                       f"{exc.strerror}") from exc
                else:
                    sockets[key] = [_tcp_socket(device.address, port)]
        except BaseException:
            for socks in sockets.values():
                for sock in socks:
                    sock.close()
            raise
        return sockets

    async def _serve(self, device: SimDevice, sockets: dict[str, list[socket.socket]]) -> None:
        profile = device.profile
        limit = tcp.MAX_HEADER_BYTES
        if "http" in sockets:
            self._servers.append(await asyncio.start_server(
                self._track(tcp.serve_http, device), sock=sockets["http"][0], limit=limit))
        if "https" in sockets:
            assert profile.tls is not None
            from entityscan.scanners.lab.tlscert import server_context

            context = server_context(device.render(profile.tls.subject), profile.tls.days)
            self._servers.append(await asyncio.start_server(
                self._track(tcp.serve_http, device), sock=sockets["https"][0], limit=limit,
                ssl=context, ssl_handshake_timeout=10))
        if "rtsp" in sockets:
            self._servers.append(await asyncio.start_server(
                self._track(tcp.serve_rtsp, device), sock=sockets["rtsp"][0], limit=limit))
        for key in ("hik_sdk", "dahua_sdk"):
            if key in sockets:
                self._servers.append(await asyncio.start_server(
                    self._track(services.serve_sdk, device), sock=sockets[key][0]))
        for key in ("telnet", "ftp", "ssh"):
            if key in sockets:
                self._servers.append(await asyncio.start_server(self._track(
                    functools.partial(services.serve_greeting, protocol=key), device),
                    sock=sockets[key][0]))
        if "upnp" in sockets:
            self._servers.append(await asyncio.start_server(
                self._track(upnp.serve_description, device), sock=sockets["upnp"][0],
                limit=limit))
        handlers = {"wsd": lambda: udp.wsd_handler(device),
                    "sadp": lambda: udp.sadp_handler(device, self.port_plan.sadp),
                    "dhip": lambda: udp.dhip_handler(device),
                    "ssdp": lambda: upnp.ssdp_handler(device)}
        for key, make in handlers.items():
            if key in sockets:
                self._transports += await udp.open_responder(sockets[key], make())
        if "snmp" in sockets:
            from entityscan.scanners.lab.snmp import SnmpAgent

            agent = SnmpAgent(device, sockets["snmp"][0])
            agent.start()
            self._agents.append(agent)

    async def stop(self) -> None:
        for agent in self._agents:
            with contextlib.suppress(Exception):
                agent.stop()
        self._agents.clear()
        for advertiser in self._mdns:
            with contextlib.suppress(Exception):
                await advertiser.stop()
        self._mdns.clear()
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()
        self._transports.clear()


class LabThread:
    """A `Lab` running on its own event loop in a background thread (the sync face)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="es-lab",
                                        daemon=True)

    def __enter__(self) -> Lab:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.lab.start(), self._loop)
        try:
            future.result(timeout=60)
        except BaseException:
            self._shutdown()
            raise
        return self.lab

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.lab.stop(), self._loop).result(timeout=30)
        self._shutdown()

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextlib.contextmanager
def run_lab_in_thread(profiles: Sequence[DeviceProfile], base: str = "127.77.0.10",
                      ports: PortPlan | None = None, *, mdns: bool = False) -> Iterator[Lab]:
    """Sync face: `with run_lab_in_thread(load_profiles()) as lab: ...` (loopback lab)."""
    with LabThread(Lab.loopback(profiles, base, ports, mdns=mdns)) as lab:
        yield lab


@contextlib.contextmanager
def run_lab_in_process(profiles: Sequence[DeviceProfile], base: str = "127.77.0.10",
                       ports: PortPlan | None = None, *, mdns: bool = False,
                       timeout: float = 60.0) -> Iterator[Lab]:
    """A loopback lab served by a separate `python -m entityscan.scanners.lab` process.

    For benchmarks: the simulator does not compete with the scanner for the GIL.  Yields a
    (not started) `Lab` whose `devices` describe what the child process serves.
    """
    lab = Lab.loopback(profiles, base, ports, mdns=mdns)
    plan = lab.port_plan
    if plan not in (PortPlan.standard(), PortPlan.unprivileged()):
        raise LabError("run_lab_in_process supports PortPlan.standard() or .unprivileged()")
    argv = [sys.executable, "-m", "entityscan.scanners.lab", "--ports",
            "standard" if plan == PortPlan.standard() else "unprivileged"]
    if mdns:
        argv.append("--mdns")
    for device in lab.devices:
        name, _, variant = device.name.partition("#")
        argv += ["--profile", name, "--address", device.address, "--variant", variant or "0"]
    # argv is our own interpreter and validated profile names/addresses: no shell involved.
    process = subprocess.Popen(argv, stdout=subprocess.PIPE,  # noqa: S603
                               stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    try:
        waiting = {d.address for d in lab.devices}
        deadline = time.monotonic() + timeout
        while waiting:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise LabError(f"simulator not ready after {timeout:.0f} s") from None
            if not line:
                err = process.stderr.read() if process.stderr else ""
                raise LabError(f"simulator exited: {err.strip()[-500:]}")
            if line.startswith("READY"):
                waiting.discard(line.split()[2])
        yield lab
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
