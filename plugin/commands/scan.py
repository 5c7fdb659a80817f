"""`entityscan scan TARGET...`: find cameras, recorders and intercoms, attribute their true
maker and screen them against the lists."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pluggy
import typer

from entityscan.commands import (
    DataDirOption,
    FailOnOption,
    FormatOption,
    ListOption,
    OutputOption,
    RelationsOption,
    SaveOption,
    StoreUrlOption,
)
from entityscan.commands.plugins import PluginOption, settings_from_cli
from entityscan.errors import InputError
from entityscan.hooks import make_plugin_manager, notify_scan_completed
from entityscan.hooks import signatures as plugin_signatures
from entityscan.output import exit_code, scan_document, write_output
from entityscan.scanners.credentials import Credentials
from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Inventory
from entityscan.scanners.scan import PortPlan, Progress, ScanOptions, scan
from entityscan.scanners.targets import TargetSet
from entityscan.screening import ScreeningContext, screen_inventory

REDACTED = "***"


def redact(value: Any, secrets: list[str]) -> Any:
    """`value` with every occurrence of a secret replaced, recursively (belt and braces: the
    scanner never puts a password in its output, this guarantees it)."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[Progress], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(event: Progress) -> None:
            if event.phase not in ("sweep", "probe"):
                return
            if event.phase not in tasks:
                tasks[event.phase] = bar.add_task(event.phase, total=event.total)
            bar.update(tasks[event.phase], completed=event.done, total=event.total)

        yield update


def build_options(*, timeout: float, rate: float, multicast: bool, ports: list[str] | None,
                  credentials: Credentials, base_ports: PortPlan | None = None
                  ) -> ScanOptions:
    if timeout <= 0:
        raise InputError(f"--timeout must be positive, not {timeout:g}")
    if rate <= 0:
        raise InputError(f"--rate must be positive, not {rate:g}")
    try:
        plan = PortPlan.parse(ports or [], base=base_ports)
    except ScannerError as exc:
        raise InputError(f"--ports: {exc}") from None
    return ScanOptions(timeout=timeout, rate=rate, multicast=multicast, ports=plan,
                       credentials=credentials,
                       device_budget=max(2.0, min(12.0, timeout / 3)))


def run_scan(targets: TargetSet, options: ScanOptions, *, show_progress: bool) -> Inventory:
    with progress_bar(show_progress) as callback:
        options.progress = callback
        try:
            return scan(targets, options)
        except ScannerError as exc:
            raise InputError(str(exc)) from None


def screen_and_write(inventory: Inventory, *, lists: list[Path] | None,
                     relations: list[Path] | None, data_dir: Path | None, fmt: str,
                     output: Path | None, secrets: list[str],
                     hooks: pluggy.PluginManager | None = None
                     ) -> tuple[dict[str, Any], list]:
    ctx = ScreeningContext.load(list_paths=lists or [], relation_paths=relations or [],
                                data_dir=data_dir, hooks=hooks)
    findings = screen_inventory(inventory, ctx)
    doc = redact(scan_document(inventory, findings, ctx.lists), secrets)
    write_output(doc, fmt, output)
    return doc, findings


def scan_command(
    targets: Annotated[list[str], typer.Argument(
        help="Addresses, CIDRs (10.0.0.0/24) or ranges (10.0.0.1-50) to scan.",
        show_default=False)],
    credentials: Annotated[Path | None, typer.Option(
        "--credentials", help="File of `TARGET USERNAME PASSWORD` lines (TARGET: address, CIDR "
                              "or *); must not be readable by group or others.")] = None,
    lists: ListOption = None,
    relations: RelationsOption = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Overall deadline of the scan in seconds.")] = 60.0,
    rate: Annotated[float, typer.Option(
        "--rate", help="At most this many new probes (packets or connections) per "
                       "second.")] = 2000.0,
    no_multicast: Annotated[bool, typer.Option(
        "--no-multicast", help="Unicast only: no WS-Discovery/SADP/DHIP multicast, no "
                               "mDNS.")] = False,
    ports: Annotated[list[str] | None, typer.Option(
        "--ports", help="TCP ports to sweep, e.g. `80,443,554,8000` or `http:8081,rtsp:10554`"
                        "; repeatable.")] = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    fail_on: FailOnOption = "flagged",
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
    save: SaveOption = False,
    db: StoreUrlOption = None,
) -> int:
    """Scan networks for cameras, recorders and intercoms; exit 1 when a device is at or
    above --fail-on."""
    exit_code([], fail_on)  # validate --fail-on before any work
    try:
        target_set = TargetSet.parse(targets)
        creds = Credentials.load(credentials) if credentials else Credentials()
    except ScannerError as exc:
        raise InputError(str(exc)) from None
    hooks = make_plugin_manager(settings_from_cli(plugin, data_dir=data_dir))
    options = build_options(timeout=timeout, rate=rate, multicast=not no_multicast,
                            ports=ports, credentials=creds)
    try:
        options.signatures = plugin_signatures(hooks)  # bundled rules + plugins' directories
    except ScannerError as exc:
        raise InputError(f"signature rules: {exc}") from None
    inventory = run_scan(target_set, options, show_progress=True)
    if creds:  # a device may echo a password back: none reaches the output or the store
        inventory = Inventory.model_validate(redact(inventory.model_dump(mode="json"),
                                                    creds.secrets()))
    doc, findings = screen_and_write(inventory, lists=lists, relations=relations,
                                     data_dir=data_dir, fmt=fmt, output=output,
                                     secrets=creds.secrets(), hooks=hooks)
    if save:
        from entityscan.commands.inventory import save_inventory

        save_inventory(inventory, db, data_dir, lists, relations)  # fires the scan hooks
    else:
        notify_scan_completed(hooks, None, doc)
    return exit_code(findings, fail_on)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)
