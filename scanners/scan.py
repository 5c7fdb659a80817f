"""The network scan: discovery -> candidates -> probes -> evidence -> attribution -> inventory.

An async core (`scan_async`) under one overall deadline, with bounded concurrency overall and
per host and a rate limit on new packets and connections; a thin sync face (`scan`).  Progress
is reported through a callback so a command line can draw a bar.  A device that does not answer,
answers garbage, floods or stalls ends as `readable=False` with its errors; it never stops the
scan.  Discovery and identification run as one pipeline (`entityscan.scanners.pipeline`: a host
is probed as soon as it shows itself, `entityscan.scanners.identify` says how); what replies
mean is each discovery protocol's (`entityscan.scanners.discovery`); devices are assembled,
merged and attributed in `entityscan.scanners.assembly`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from entityscan.scanners.assembly import build_device, merge_and_attribute
from entityscan.scanners.credentials import Credentials
from entityscan.scanners.inventory import Certainty, Device, Evidence, Inventory, ScanError
from entityscan.scanners.neighbour_files import NeighbourTables
from entityscan.scanners.pipeline import Progress, ScanJob
from entityscan.scanners.portplan import PortPlan
from entityscan.scanners.probes.neighbours import eui64_mac, neighbour_table
from entityscan.scanners.signals import RuleSet
from entityscan.scanners.targets import TargetSet

__all__ = ["PortPlan", "Progress", "ScanOptions", "scan", "scan_async"]


@dataclass
class ScanOptions:
    timeout: float = 60.0
    rate: float = 2000.0
    #: Parallel connection attempts of the sweep: at the default rate, attempts to dead
    #: addresses wait out `connect_timeout`, so about rate x timeout are in flight.
    concurrency: int = 2048
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
    #: one built with its plugins' rule directories (and a recog checkout, if the user has one).
    signatures: RuleSet | None = None
    #: Neighbour tables exported from routers and switches (`--neighbours`): routed devices
    #: are not in this host's own table.
    neighbours: NeighbourTables = field(default_factory=NeighbourTables)

    def describe(self) -> dict[str, object]:
        """Parameters for the inventory record (credentials only counted, never shown)."""
        return {"timeout": self.timeout, "rate": self.rate, "concurrency": self.concurrency,
                "per_host": self.per_host, "multicast": self.multicast,
                **self.ports.describe(),
                "credentials_entries": len(self.credentials.entries),
                "snmp_credentials_entries": len(self.credentials.snmp),
                "neighbour_entries": len(self.neighbours.macs)}


def _assemble(job: ScanJob, options: ScanOptions) -> list[Device]:
    """Build each candidate's device, then merge and attribute (once per device).  The MAC
    comes from the device's own answers, else this host's neighbour table, else the tables the
    user exported from routers and switches, else an IPv6 EUI-64 address."""
    table = neighbour_table()
    exported = options.neighbours
    devices = []
    for cand in job.candidates.values():
        own = table.get(cand.address)
        device = build_device(cand, own or exported.macs.get(cand.address)
                              or eui64_mac(cand.address), rules=options.signatures)
        devices.append(_with_exported(device, cand.address, exported, used=own is None))
    return merge_and_attribute(devices)


def _with_exported(device: Device, address: str, exported: NeighbourTables, *,
                   used: bool) -> Device:
    """Say where an exported table put the device: its MAC's origin and its switch port."""
    notes: list[Evidence] = []
    if used and address in exported.macs and device.mac == exported.macs[address]:
        notes.append(Evidence(probe="neighbours", field=exported.origins[address],
                              value=f"{address} at {device.mac}", indicates=None,
                              kind="registrant", certainty=Certainty.SOLID))
    if device.mac and device.mac in exported.locations:
        notes.append(Evidence(probe="neighbours", field="switch port",
                              value=exported.locations[device.mac][:200], indicates=None,
                              kind="registrant", certainty=Certainty.SOLID))
    if not notes:
        return device
    return device.model_copy(update={"evidence": [*device.evidence, *notes]})


async def scan_async(targets: TargetSet | Iterable[str], options: ScanOptions | None = None
                     ) -> Inventory:
    """Scan `targets` and return the merged, attributed inventory."""
    options = options or ScanOptions()
    if not isinstance(targets, TargetSet):
        targets = TargetSet.parse(list(targets))
    inventory = Inventory(kind="network", targets=targets.texts,
                          parameters=options.describe())
    started = time.monotonic()
    job = ScanJob(targets, options)
    job.emit("discovery", 0, None, "discovering")
    await job.run()
    devices = _assemble(job, options)
    devices.sort(key=lambda d: _sort_key(d.addresses[0] if d.addresses else ""))
    job.emit("done", len(devices), len(devices), f"{time.monotonic() - started:.1f}s")
    errors = job.errors + [ScanError(probe="neighbours", message=message)
                           for message in options.neighbours.errors]
    return inventory.model_copy(update={
        "devices": devices, "errors": errors, "finished": datetime.now(UTC)})


def _sort_key(address: str) -> tuple[int, int]:
    try:
        ip = ipaddress.ip_address(address)
        return ip.version, int(ip)
    except ValueError:
        return 9, 0


def scan(targets: TargetSet | Iterable[str], options: ScanOptions | None = None) -> Inventory:
    """Synchronous face of `scan_async` (runs its own event loop)."""
    return asyncio.run(scan_async(targets, options))
