"""Network-namespace lab: real multicast and real MACs for the simulated devices.

Topology: one switch namespace with bridge `br0`; one namespace per device, whose `eth0`
carries the profile's MAC; one scanner namespace.  Each is joined to the bridge by a veth pair
created directly inside the namespaces (`ip link add eth0 netns DEV type veth peer name P netns
SWITCH`; see the ip-netns(8) and ip-link(8) manual pages of iproute2).  Addresses come from
10.230.0.0/24, which exists only inside these namespaces.  Why it is built this way:

- one namespace per device, because devices sharing one namespace would answer from one
  another's addresses;
- veth pairs and a Linux bridge, because they work on kernels built without the `dummy`
  interface driver (as the test machines are);
- a `224.0.0.0/4` route on each `eth0`, because the namespaces have no default route and a
  multicast `sendto` without a route (or `IP_MULTICAST_IF`) fails with "Network is
  unreachable";
- links are polled until `state UP` (about a second) instead of sleeping a fixed time.

Devices run as
`ip netns exec <ns> python -m entityscan.scanners.lab --profile … --ports standard --multicast`.
Everything is torn down in `stop()` (also on errors); namespace names start with `es-sim-`.

`routed=True` puts a router namespace between the scanner and the devices, as in an
enterprise network where the scanner sits in a server VLAN: the router has one leg on the
devices' bridge (`.254` of their /24) and one towards the scanner namespace, which lives on
its own /24 (`scanner_subnet`); forwarding is on in the router only (`net.ipv4.ip_forward` is
per namespace) and there is no multicast routing, so nothing multicast crosses and the
scanner's neighbour table holds only the router.  Devices and scanner get default routes via
the router.  `prefix`, `subnet` and `scanner_subnet` let a suite use its own names and
addresses (defaults: the module's `PREFIX` and `SUBNET`, and `SUBNET`'s third octet + 1).

`one_process=True` (the default) runs all devices in ONE simulator process that creates each
device's sockets inside that device's namespace (`--netns`): 60 devices start in ~2 s instead
of ~20 s with one `ip netns exec` process per device (`one_process=False`).

Usage in a test module::

    from tests.lab.netns import netns_lab, requires_netns   # netns_lab is a fixture factory

    pytestmark = requires_netns

    @pytest.fixture(scope="module")
    def lab(netns_lab):
        return netns_lab(load_profiles(["hikvision-ipc", "dahua-ipc"]))

    def test_x(lab):
        lab.devices[0].address, lab.devices[0].mac, lab.scanner_address
        result = lab.run_in_scanner([sys.executable, "-c", "..."], timeout=20)
        lab.neighbours()   # {ip: mac} from the scanner namespace's neighbour table
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from entityscan.scanners.lab import DeviceProfile, Expected, PortPlan
from entityscan.scanners.lab.ports import ports_for

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "es-sim-"
SUBNET = "10.230.0"
SCANNER_HOST = 2
ROUTER_HOST = 254
FIRST_DEVICE_HOST = 10
MAX_DEVICES = 240


def skip_reason() -> str | None:
    """Why the namespace lab cannot run here, or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network-namespace lab needs root (CI runs as root)"
    if shutil.which("ip") is None:
        return "network-namespace lab needs `ip` from iproute2"
    return None


requires_netns = [pytest.mark.netns,
                  pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _ip_batch(namespace: str | None, commands: list[str]) -> None:
    """Run many `ip` commands in one process (much faster than one process each)."""
    argv = ["ip", *(["-n", namespace] if namespace else []), "-batch", "-"]
    result = subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def cleanup_stale(prefix: str | None = None) -> list[str]:
    """Delete `<prefix><pid>-…` namespaces whose creating process is gone (crashed runs)."""
    prefix = prefix or PREFIX
    removed = []
    listing = _ip("netns", "list", check=False).stdout.split()
    for name in listing:
        if not name.startswith(prefix):
            continue
        owner = name[len(prefix):].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


@dataclass(frozen=True)
class NetnsDevice:
    """Like `entityscan.scanners.lab.SimDevice`, plus the device's namespace."""

    name: str
    namespace: str
    address: str
    mac: str
    ports: dict[str, int]
    profile: DeviceProfile

    @property
    def serial(self) -> str:
        return self.profile.serial

    @property
    def expected(self) -> Expected:
        return self.profile.expected

    def url(self, protocol: str = "http", path: str = "/") -> str:
        return f"{protocol}://{self.address}:{self.ports[protocol]}{path}"


class NetnsLab:
    """Builds the namespace topology and runs one simulator process per device."""

    def __init__(self, profiles: Sequence[DeviceProfile], *, mdns: bool = False,
                 ports: PortPlan | None = None, one_process: bool = True,
                 routed: bool = False, prefix: str | None = None, subnet: str | None = None,
                 scanner_subnet: str | None = None) -> None:
        self.prefix = prefix or PREFIX
        self.subnet = subnet or SUBNET
        if len(profiles) > MAX_DEVICES:
            raise ValueError(f"at most {MAX_DEVICES} devices fit in {self.subnet}.0/24")
        if len({p.mac for p in profiles}) != len(profiles):
            raise ValueError("two devices share a MAC: use entityscan.scanners.lab.replicate()")
        self.profiles = list(profiles)
        self.mdns = mdns
        self.one_process = one_process
        self.port_plan = ports or PortPlan.standard()
        tag = f"{self.prefix}{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.switch = f"{tag}-sw"
        self.scanner = f"{tag}-sc"
        self.routed = routed
        self.router = f"{tag}-rt" if routed else None
        octets = self.subnet.split(".")
        self.scanner_subnet = scanner_subnet or ".".join(
            [*octets[:2], str((int(octets[2]) + 1) % 256)])
        self.scanner_address = (f"{self.scanner_subnet}.{SCANNER_HOST}" if routed
                                else f"{self.subnet}.{SCANNER_HOST}")
        #: The router's address on the devices' segment (routed mode).
        self.gateway = f"{self.subnet}.{ROUTER_HOST}"
        self.devices: list[NetnsDevice] = []
        self._namespaces: list[str] = []
        self._processes: list[subprocess.Popen[str]] = []
        self._tag = tag

    # -- build ---------------------------------------------------------------------------
    def start(self) -> NetnsLab:
        reason = skip_reason()
        if reason:
            raise RuntimeError(reason)
        cleanup_stale(self.prefix)
        try:
            self._build()
            self._start_devices()
        except BaseException:
            self.stop()
            raise
        return self

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)

    def _build(self) -> None:
        self._add_namespace(self.switch)
        # Snooping off: the bridge floods multicast like a plain switch without a querier.
        _ip_batch(self.switch, ["link set lo up",
                                "link add br0 type bridge mcast_snooping 0",
                                "link set br0 up"])
        members: list[tuple[str, str, DeviceProfile | None, str]] = (
            [(self.router, self.gateway, None, "prt")] if self.router else
            [(self.scanner, self.scanner_address, None, "psc")])
        for index, profile in enumerate(self.profiles):
            namespace = f"{self._tag}-d{index}"
            address = f"{self.subnet}.{FIRST_DEVICE_HOST + index}"
            members.append((namespace, address, profile, f"p{index}"))
            self.devices.append(NetnsDevice(profile.name, namespace, address, profile.mac,
                                            self._ports_for(profile), profile))
        root_commands = []
        for namespace, _, _, peer in members:
            self._add_namespace(namespace)
            root_commands.append(f"link add eth0 netns {namespace} type veth "
                                 f"peer name {peer} netns {self.switch}")
        _ip_batch(None, root_commands)
        _ip_batch(self.switch, [f"link set {peer} master br0 up"
                                for _, _, _, peer in members])
        for namespace, address, profile, _ in members:
            commands = ["link set lo up"]
            if profile is not None:
                commands.append(f"link set dev eth0 address {profile.mac}")
            commands += [f"addr add {address}/24 dev eth0",
                         "link set eth0 up multicast on",
                         # no default route on a segment: multicast needs its own
                         "route add 224.0.0.0/4 dev eth0"]
            if self.router and namespace != self.router:
                commands.append(f"route add default via {self.gateway}")
            _ip_batch(namespace, commands)
        if self.router:
            self._build_router()
        self._wait_up([m[0] for m in members] + ([self.scanner] if self.router else []))

    def _build_router(self) -> None:
        """The router's second leg and the scanner's own subnet behind it."""
        assert self.router is not None
        self._add_namespace(self.scanner)
        _ip_batch(None, [f"link add eth1 netns {self.router} type veth "
                         f"peer name eth0 netns {self.scanner}"])
        router_side = f"{self.scanner_subnet}.1"
        _ip_batch(self.router, [f"addr add {router_side}/24 dev eth1", "link set eth1 up"])
        _ip_batch(self.scanner, ["link set lo up", f"addr add {self.scanner_address}/24 dev eth0",
                                 "link set eth0 up multicast on",
                                 "route add 224.0.0.0/4 dev eth0",
                                 f"route add default via {router_side}"])
        # Forwarding in the router's namespace only; no multicast routing daemon runs.
        result = subprocess.run(["ip", "netns", "exec", self.router, "sysctl", "-qw",
                                 "net.ipv4.ip_forward=1"], capture_output=True, text=True,
                                timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"cannot enable forwarding: {result.stderr.strip()}")

    def _wait_up(self, namespaces: list[str], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(namespaces)
        while pending:
            pending = [ns for ns in pending
                       if "state UP" not in _ip("-n", ns, "-o", "link", "show", "eth0",
                                                check=False).stdout]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"links not UP after {timeout:.0f} s: {pending[:5]}")
            time.sleep(0.05)

    def _ports_for(self, profile: DeviceProfile) -> dict[str, int]:
        return ports_for(profile, self.port_plan)

    def _device_args(self, device: NetnsDevice) -> list[str]:
        base, _, variant = device.name.partition("#")
        return ["--profile", base, "--address", device.address, "--variant", variant or "0"]

    def _start_devices(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        plan = "standard" if self.port_plan == PortPlan.standard() else "unprivileged"
        common = ["--ports", plan, "--multicast"] + (["--mdns"] if self.mdns else [])
        if self.one_process:
            argv = [sys.executable, "-m", "entityscan.scanners.lab", *common]
            for device in self.devices:
                argv += [*self._device_args(device), "--netns", device.namespace]
            self._processes.append(subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, start_new_session=True))
        else:
            for device in self.devices:
                argv = ["ip", "netns", "exec", device.namespace, sys.executable, "-m",
                        "entityscan.scanners.lab", *common, *self._device_args(device)]
                self._processes.append(subprocess.Popen(
                    argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, start_new_session=True))
        self._wait_ready(timeout=60 + 2 * len(self.devices))

    def _wait_ready(self, timeout: float) -> None:
        """Wait for one `READY name address mac` line per device."""
        lines: queue.Queue[tuple[subprocess.Popen[str], str]] = queue.Queue()

        def pump(process: subprocess.Popen[str]) -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put((process, line))
            lines.put((process, ""))

        for process in self._processes:
            threading.Thread(target=pump, args=(process,), daemon=True).start()
        deadline = time.monotonic() + timeout
        expected = {d.address for d in self.devices}
        while expected:
            try:
                process, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"{len(expected)} simulated devices not ready in "
                                   f"{timeout:.0f} s") from None
            if line.startswith("READY"):
                expected.discard(line.split()[2])
            elif not line:
                err = process.stderr.read() if process.stderr else ""
                raise RuntimeError(f"simulator process exited: {err.strip()[-800:]}")

    # -- use -----------------------------------------------------------------------------
    def run_in_scanner(self, argv: Sequence[str], timeout: float = 60.0,
                       input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the scanner namespace (cwd = repo root)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        return subprocess.run(["ip", "netns", "exec", self.scanner, *argv], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=timeout,
                              input=input)

    def neighbours(self) -> dict[str, str]:
        """{ip: mac} from the scanner namespace's neighbour table."""
        table = {}
        for line in _ip("-n", self.scanner, "neigh", "show").stdout.splitlines():
            parts = line.split()
            if "lladdr" in parts:
                table[parts[0]] = parts[parts.index("lladdr") + 1].lower()
        return table

    def device(self, name: str) -> NetnsDevice:
        for dev in self.devices:
            if name in (dev.name, dev.profile.base_name):
                return dev
        raise KeyError(name)

    # -- teardown ------------------------------------------------------------------------
    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self._processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()  # only our own child, by its pid
                process.wait(timeout=5)
            for stream in (process.stdout, process.stderr):
                if stream:
                    stream.close()
        self._processes.clear()
        for namespace in reversed(self._namespaces):
            _ip("netns", "del", namespace, check=False)
        self._namespaces.clear()

    def __enter__(self) -> NetnsLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="module")
def netns_lab() -> Iterator[Callable[..., NetnsLab]]:
    """Module-scoped factory: `netns_lab(profiles, mdns=False)` -> a started NetnsLab.

    Skips the test when not root or `ip` is missing; every lab it built is torn down when
    the module finishes.
    """
    built: list[NetnsLab] = []

    def make(profiles: Sequence[DeviceProfile], **kwargs: object) -> NetnsLab:
        reason = skip_reason()
        if reason:
            pytest.skip(reason)
        lab = NetnsLab(profiles, **kwargs)  # type: ignore[arg-type]
        built.append(lab)
        return lab.start()

    try:
        yield make
    finally:
        for lab in built:
            lab.stop()
