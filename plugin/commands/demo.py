"""`entityscan demo`: start a simulated device lab on loopback, scan it, screen it, report.

No root and no network needed: every simulated device binds its own 127.x address and speaks
real HTTP/HTTPS/RTSP/ONVIF/SADP/DHIP; the scanner finds them by unicast like any device beyond
the local segment.  The report shows, next to each device, what the lab says it really is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from entityscan.commands import FailOn, Format, FormatOption, ListOption
from entityscan.errors import InputError
from entityscan.hooks import signatures
from entityscan.operations import screen_scan
from entityscan.output import atomic_write, exit_code, render_text, write_output
from entityscan.scanners.inventory import Inventory
from entityscan.scanners.scan import PortPlan, ScanOptions, scan
from entityscan.scanners.targets import TargetSet
from entityscan.session import Session
from entityscan.terminal import progress_bar

if TYPE_CHECKING:  # the lab loads only when the demo runs
    from entityscan.scanners.lab import Lab
    from entityscan.scanners.lab import PortPlan as LabPorts

DEFAULT_REPORT = Path("entityscan-demo.json")
DEFAULT_BASE = "127.77.0.10"
RESTRICTED_PLATFORMS = ("Hikvision", "Dahua")


def lab_port_plan(port_plan: LabPorts) -> PortPlan:
    """The scanner's port plan for the lab's ports (unprivileged on loopback)."""
    return PortPlan.parse([f"http:{port_plan.http}", f"https:{port_plan.https}",
                           f"rtsp:{port_plan.rtsp}", "sdk:8000,37777", f"wsd:{port_plan.wsd}",
                           f"sadp:{port_plan.sadp}", f"dhip:{port_plan.dhip}"])


def ground_truth(lab: Lab, inventory: Inventory, doc: dict[str, Any]) -> dict[str, Any]:
    """What each simulated device really is next to what the scan concluded.

    Correct means: a Hikvision/Dahua-platform device is attributed to that platform, any other
    device to neither, and a hostile device is reported unreadable.
    """
    found = {address: device for device in inventory.devices for address in device.addresses}
    verdicts = {address: d["verdict"] for d in doc["devices"] for address in d["addresses"]}
    rows, correct = [], 0
    for sim in lab.devices:
        got = found.get(sim.address)
        expected = sim.expected
        want = expected.platform if expected.platform in RESTRICTED_PLATFORMS else None
        have = None
        if got is not None:
            have = got.platform or got.maker
            have = have if have in RESTRICTED_PLATFORMS else None
        right = got is not None and have == want and (
            expected.readable is not False or not got.readable)
        correct += right
        rows.append({"device": sim.name, "address": sim.address, "label": sim.profile.label,
                     "expected_maker": expected.maker, "expected_platform": expected.platform,
                     "found_maker": got.maker if got else None,
                     "found_platform": got.platform if got else None,
                     "readable": got.readable if got else None,
                     "verdict": verdicts.get(sim.address), "correct": right})
    return {"devices": rows, "correct": correct, "total": len(rows)}


@contextmanager
def _lab_running(profiles: list[Any], base: str) -> Iterator[Lab]:
    from entityscan.scanners.lab import LabError, run_lab_in_thread

    try:
        with run_lab_in_thread(profiles, base=base) as lab:
            yield lab
    except LabError as exc:
        raise InputError(f"cannot start the simulated lab: {exc}") from None


def demo(
    report: Annotated[Path, typer.Option(
        "--report", help="Where to write the JSON report.")] = DEFAULT_REPORT,
    base: Annotated[str, typer.Option(
        "--base", help="First loopback address of the lab (127.0.0.0/8).")] = DEFAULT_BASE,
    hostile: Annotated[bool, typer.Option(
        "--hostile", help="Also start the hostile devices (silent, drip, 50 MB body, XML "
                          "bombs, garbage, flood) to watch the scan stay bounded.")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Overall scan deadline in seconds.")] = 30.0,
    lists: ListOption = None,
    fmt: FormatOption = Format.TABLE,
    fail_on: Annotated[FailOn | None, typer.Option(
        "--fail-on", help="Exit 1 when a device is at or above this verdict (default: the "
                          "demo always exits 0).")] = None,
) -> int:
    """Scan a simulated lab of cameras, recorders and intercoms (Hikvision and Dahua units,
    OEM relabels, other makers) on loopback, screen it and write a report."""
    from entityscan.scanners.lab import load_profiles

    try:
        first = ipaddress.IPv4Address(base)
    except ValueError:
        raise InputError(f"--base {base!r} is not an IPv4 address") from None
    if not first.is_loopback:
        raise InputError(f"--base {base} must be a loopback address (127.0.0.0/8): the demo "
                         "never touches a real network")
    profiles = [p for p in load_profiles() if hostile or p.hostile is None]
    last = first + len(profiles) - 1
    if not last.is_loopback:
        raise InputError(f"--base {base}: the lab's {len(profiles)} devices run past 127.x")
    console = Console(stderr=True)
    console.print(f"entityscan demo: starting {len(profiles)} simulated devices on "
                  f"{first}-{last} …", highlight=False, soft_wrap=True)
    with Session.open(list_paths=lists or ()) as session:
        with _lab_running(profiles, str(first)) as lab:
            # The whole range, not just the devices: the sweep finds them like real ones.
            options = ScanOptions(timeout=timeout, multicast=False,
                                  ports=lab_port_plan(lab.port_plan), device_budget=6.0,
                                  signatures=signatures(session.hooks))
            with progress_bar() as options.progress:
                inventory = scan(TargetSet.parse([f"{first}-{last}"]), options)
        done = screen_scan(inventory, session.context(), None, actor=session.actor,
                           source="entityscan demo")
        done.document["lab"] = ground_truth(lab, inventory, done.document)
        write_output(done.document, fmt, None)
        atomic_write(report, render_text(done.document, "json"))
        done.notify()
    truth = done.document["lab"]
    console.print(f"lab ground truth: {truth['correct']}/{truth['total']} devices correctly "
                  "attributed (Hikvision/Dahua platform or neither) · report written to "
                  f"{report}", highlight=False, soft_wrap=True)
    return exit_code(done.findings, fail_on) if fail_on is not None else 0


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
