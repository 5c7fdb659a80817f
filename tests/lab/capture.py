"""A namespace lab whose client namespace records its traffic with tcpdump.

Same topology as `tests.lab.netns.NetnsLab` (one switch namespace with a bridge, one namespace
per simulated device with its profile's MAC, one client namespace), under its own names and
addresses so it never meets the other labs: namespaces `es-p14-<pid>-…`, devices in
10.247.0.0/24 (client .2, devices from .10).  tcpdump starts on the client's `eth0` before the
devices do (so their start-up announcements are recorded) and stops with the lab.  The bridge
floods multicast, so the capture holds the devices' multicast answers too.

    with CaptureLab(profiles, capture=tmp / "lab.pcap", mdns=True) as lab:
        lab.run_in_scanner([sys.executable, "-m", "tests.lab.vms_poller", config])
    # lab.capture_path now holds the finished capture
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from entityscan.scanners.lab import DeviceProfile
from tests.lab import netns
from tests.lab.netns import NetnsDevice, NetnsLab

PREFIX = "es-p14-"
SUBNET = "10.247.0"


def capture_skip_reason() -> str | None:
    return netns.skip_reason() or (None if shutil.which("tcpdump") else
                                   "the capture lab needs tcpdump (apt-get install tcpdump)")


def cleanup_stale() -> None:
    """Delete `es-p14-<pid>-…` namespaces whose creating process is gone."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                             check=False).stdout.split()
    for name in listing:
        owner = name[len(PREFIX):].split("-", 1)[0] if name.startswith(PREFIX) else ""
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


class CaptureLab(NetnsLab):
    def __init__(self, profiles: Sequence[DeviceProfile], *, capture: Path,
                 mdns: bool = False) -> None:
        super().__init__(profiles, mdns=mdns)
        tag = f"{PREFIX}{os.getpid()}-{time.monotonic_ns() % 100000}"
        self._tag, self.switch, self.scanner = tag, f"{tag}-sw", f"{tag}-sc"
        self.scanner_address = f"{SUBNET}.{netns.SCANNER_HOST}"
        self.capture_path = capture
        self._tcpdump: subprocess.Popen[bytes] | None = None

    def start(self) -> CaptureLab:
        reason = capture_skip_reason()
        if reason:
            raise RuntimeError(reason)
        cleanup_stale()
        try:
            self._build()
            self._start_capture()
            self._start_devices()
        except BaseException:
            self.stop()
            raise
        return self

    def _build(self) -> None:
        netns._ip("netns", "add", self.switch)
        self._namespaces.append(self.switch)
        netns._ip_batch(self.switch, ["link set lo up",
                                      "link add br0 type bridge mcast_snooping 0",
                                      "link set br0 up"])
        members: list[tuple[str, str, DeviceProfile | None, str]] = [
            (self.scanner, self.scanner_address, None, "psc")]
        for index, profile in enumerate(self.profiles):
            namespace = f"{self._tag}-d{index}"
            address = f"{SUBNET}.{netns.FIRST_DEVICE_HOST + index}"
            members.append((namespace, address, profile, f"p{index}"))
            self.devices.append(NetnsDevice(profile.name, namespace, address, profile.mac,
                                            self._ports_for(profile), profile))
        for namespace, *_ in members:
            netns._ip("netns", "add", namespace)
            self._namespaces.append(namespace)
        netns._ip_batch(None, [f"link add eth0 netns {ns} type veth peer name {peer} netns "
                               f"{self.switch}" for ns, _, _, peer in members])
        netns._ip_batch(self.switch, [f"link set {peer} master br0 up"
                                      for _, _, _, peer in members])
        for namespace, address, profile, _ in members:
            commands = ["link set lo up"]
            if profile is not None:
                commands.append(f"link set dev eth0 address {profile.mac}")
            commands += [f"addr add {address}/24 dev eth0", "link set eth0 up multicast on",
                         "route add 224.0.0.0/4 dev eth0"]
            netns._ip_batch(namespace, commands)
        self._wait_up([m[0] for m in members])

    def _start_capture(self) -> None:
        self._tcpdump = subprocess.Popen(
            ["ip", "netns", "exec", self.scanner, "tcpdump", "-i", "eth0", "-n", "-U",
             "-s", "0", "-w", str(self.capture_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        assert self._tcpdump.stderr is not None
        deadline = time.monotonic() + 15
        line = b""
        while b"listening on" not in line and time.monotonic() < deadline:
            line = self._tcpdump.stderr.readline()
            if not line and self._tcpdump.poll() is not None:
                raise RuntimeError("tcpdump did not start in the client namespace")

    def stop_capture(self) -> None:
        """End the recording (the file is complete afterwards); the devices keep running."""
        if self._tcpdump is not None and self._tcpdump.poll() is None:
            time.sleep(0.3)  # let the last packets reach the file
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._tcpdump.pid, signal.SIGTERM)  # our own child's session
            try:
                self._tcpdump.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._tcpdump.pid, signal.SIGKILL)
                self._tcpdump.wait(timeout=5)
        if self._tcpdump is not None and self._tcpdump.stderr is not None:
            self._tcpdump.stderr.close()
        self._tcpdump = None

    def stop(self) -> None:
        self.stop_capture()
        super().stop()
