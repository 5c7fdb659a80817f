"""`entityscan passive CAPTURE...`: identify devices from packet captures (or a live capture),
without sending a packet, and screen them like a scan."""

from __future__ import annotations

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
)
from entityscan.errors import InputError, ScannerError
from entityscan.hooks import signatures
from entityscan.output import exit_code
from entityscan.session import Session


def passive(
    captures: Annotated[list[Path] | None, typer.Argument(
        metavar="[CAPTURE]...", show_default=False,
        help="pcap or pcapng files (tcpdump -w, tshark -w, a SPAN port's recorder), "
             "gzip-compressed or not; - reads standard input.")] = None,
    interface: Annotated[str | None, typer.Option(
        "--interface", "-i", help="Capture live on this interface instead (root and "
                                  "tcpdump needed).")] = None,
    duration: Annotated[float, typer.Option(
        "--duration", help="With --interface: seconds to listen.")] = 60.0,
    bpf: Annotated[str | None, typer.Option(
        "--filter", help="With --interface: a BPF filter (default: ARP, TCP and the "
                         "discovery, mDNS, SSDP and DHCP ports).")] = None,
    include_remote: Annotated[bool, typer.Option(
        "--include-remote", help="Also list hosts with global (internet) addresses that were "
                                 "only seen answering, with no MAC on the segment: by default "
                                 "web sites and clouds users reached are counted, not "
                                 "listed.")] = False,
    lists: ListOption = None,
    relations: RelationsOption = None,
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
    """Identify devices from what a capture shows them saying (discovery chatter, HTTP/RTSP
    answers, TLS certificates, DHCP, ARP); screen them like a scan.

    Exit 0: nothing at or above --fail-on. Exit 1: devices at or above it. Exit 2: usage or
    input error, also when a capture could not be read (the others are still screened)."""
    from entityscan.scanners.passive import (
        DEFAULT_FILTER,
        PassiveOptions,
        capture_live,
        read_captures,
    )

    paths = list(captures or [])
    if bool(paths) == bool(interface):
        raise InputError("give capture files or --interface IF (one of the two)")
    if duration <= 0:
        raise InputError(f"--duration must be positive, not {duration:g}")
    missing = [str(p) for p in paths if str(p) != "-" and not p.is_file()]
    if missing:
        raise InputError(f"no such capture file: {', '.join(missing)}")
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or ()) as session:
        agent = open_agent(push, token_file, session.data_dir)  # a bad token file: no capture
        options = PassiveOptions(signatures=signatures(session.hooks),
                                 include_remote=include_remote)
        session.context()  # a broken list or plugin stops the run before a capture is read
        if interface:
            try:
                inventory = capture_live(interface, duration, options,
                                         bpf=bpf or DEFAULT_FILTER)
            except ScannerError as exc:
                raise InputError(f"--interface {interface}: {exc}") from None
        else:
            inventory = read_captures(paths, options)
        unreadable = [e for e in inventory.errors if e.probe == "capture"]
        for error in inventory.errors:
            label = "error" if error.probe == "capture" else "warning"
            typer.echo(f"entityscan passive: {label}: {error.message}", err=True)
        done = screen_and_deliver(
            session, inventory, source="entityscan passive", fmt=fmt, output=output, save=save,
            site=site, agent=agent)
    if unreadable:
        raise InputError(f"{len(unreadable)} of {len(paths) or 1} captures could not be read "
                         "in full; what they held before the fault was screened")
    return exit_code(done.findings, fail_on)


def register(app: typer.Typer) -> None:
    app.command("passive")(passive)
