"""`entityscan scan TARGET...`: find cameras, recorders and intercoms, attribute their true
maker and screen them against the lists."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer

from entityscan.agent import open_agent
from entityscan.commands import (
    DataDirOption,
    DbOption,
    FailOn,
    FailOnOption,
    Format,
    FormatOption,
    ListOption,
    OutputOption,
    PluginOption,
    PushOption,
    RelationsOption,
    SaveOption,
    SiteOption,
    TokenFileOption,
    screen_and_deliver,
    with_recog,
)
from entityscan.errors import InputError, ScannerError
from entityscan.hooks import signatures
from entityscan.output import exit_code
from entityscan.scanners.credentials import Credentials
from entityscan.scanners.neighbour_files import read_neighbour_files
from entityscan.scanners.scan import PortPlan, ScanOptions, scan
from entityscan.scanners.targets import TargetSet
from entityscan.session import Session
from entityscan.terminal import progress_bar


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
    neighbours: Annotated[list[Path] | None, typer.Option(
        "--neighbours", help="ARP/MAC table exported from a router or switch (ip neigh, Cisco "
                             "show ip arp / show mac address-table, Juniper show arp, Windows "
                             "arp -a), so routed devices get their MAC; repeatable.")] = None,
    recog_dir: Annotated[Path | None, typer.Option(
        "--recog-dir", help="A rapid7/recog checkout of your own, read as a second rule source "
                            "behind entityscan's rules.")] = None,
    fmt: FormatOption = Format.TABLE,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.FLAGGED,
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
    save: SaveOption = False,
    db: DbOption = None,
    site: SiteOption = None,
    push: PushOption = None,
    token_file: TokenFileOption = None,
) -> int:
    """Scan networks for cameras, recorders and intercoms; exit 1 when a device is at or
    above --fail-on."""
    if timeout <= 0:
        raise InputError(f"--timeout must be positive, not {timeout:g}")
    if rate <= 0:
        raise InputError(f"--rate must be positive, not {rate:g}")
    target_set = TargetSet.parse(targets)
    creds = Credentials.load(credentials) if credentials else Credentials()
    try:
        plan = PortPlan.parse(ports or [])
    except ScannerError as exc:
        raise InputError(f"--ports: {exc}") from None
    tables = read_neighbour_files(list(neighbours or ()))
    for problem in tables.errors:  # a bad line costs its own entry; the scan goes on
        print(f"entityscan: warning: --neighbours {problem}", file=sys.stderr)
    options = ScanOptions(timeout=timeout, rate=rate, multicast=not no_multicast, ports=plan,
                          credentials=creds, device_budget=max(2.0, min(12.0, timeout / 3)),
                          neighbours=tables)
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or ()) as session:
        agent = open_agent(push, token_file, session.data_dir)  # a bad token file: no scan
        rules = signatures(session.hooks)  # bundled rules + plugins' directories
        if recog_dir is not None:
            options.signatures = with_recog(rules, recog_dir, relations or ())
        else:
            options.signatures = rules
        # The lists and the matcher load in a worker thread while the network answers.
        with ThreadPoolExecutor(1, thread_name_prefix="es-context") as pool:
            context = pool.submit(session.context)
            with progress_bar() as options.progress:
                inventory = scan(target_set, options)
            screening = context.result()
        done = screen_and_deliver(
            session, inventory, source="entityscan scan", fmt=fmt, output=output, save=save,
            site=site, agent=agent, screening=screening, secrets=creds.secrets())
    return exit_code(done.findings, fail_on)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)
