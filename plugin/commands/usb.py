"""`entityscan usb`: screen this host's USB devices, or a fleet's lsusb files."""

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
from entityscan.errors import InputError
from entityscan.output import exit_code
from entityscan.session import Session


def usb(
    files: Annotated[list[Path] | None, typer.Argument(
        metavar="[FILE|DIR]...", show_default=False,
        help="With --from-lsusb: `lsusb` or `lsusb -v` text files, one per host (a directory "
             "stands for its files).")] = None,
    from_lsusb: Annotated[bool, typer.Option(
        "--from-lsusb", help="Screen lsusb text collected from a fleet instead of this host's "
                             "USB bus. Host name: a `# host: NAME` line at the top, else the file "
                             "name.")] = False,
    lists: ListOption = None,
    relations: RelationsOption = None,
    fmt: FormatOption = Format.TABLE,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.FLAGGED,
    data_dir: DataDirOption = None,
    include_root_hubs: Annotated[bool, typer.Option(
        "--include-root-hubs", help="Also list the host controllers' root hubs.")] = False,
    plugin: PluginOption = None,
    save: SaveOption = False,
    db: DbOption = None,
    site: SiteOption = None,
    push: PushOption = None,
    token_file: TokenFileOption = None,
) -> int:
    """Screen USB devices (cameras, LTE/5G modems ...) on this host or from lsusb files.

    Exit 0: nothing at or above --fail-on. Exit 1: devices at or above it.

    Exit 2: usage or input error, also when some lsusb files were unreadable (rest screened).
    """
    # Imported here so other commands never pay for pyusb and the USB tables.
    from entityscan.scanners.usb import scan_host, scan_lsusb_files

    paths = list(files or [])
    if paths and not from_lsusb:
        raise InputError("FILE arguments need --from-lsusb (without it, entityscan usb scans "
                         "this host's USB bus)")
    if from_lsusb and not paths:
        raise InputError("--from-lsusb needs at least one lsusb text file or directory")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"no such file or directory: {', '.join(missing)}")

    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or ()) as session:
        session.context()  # a broken list or plugin stops the run before the bus is read
        agent = open_agent(push, token_file, session.data_dir)
        if from_lsusb:
            inventory = scan_lsusb_files(paths, include_root_hubs=include_root_hubs)
        else:
            inventory = scan_host(include_root_hubs=include_root_hubs)
        # Plain lines (no wrapping): a file:line reference must stay on one line for editors.
        unreadable = inventory.parameters.get("unreadable_files") or []
        for error in inventory.errors:
            label = "error" if error.target in unreadable else "warning"
            typer.echo(f"entityscan usb: {label}: {error.message}", err=True)
        done = screen_and_deliver(
            session, inventory, source="entityscan usb", fmt=fmt, output=output, save=save,
            site=site, agent=agent)

    if unreadable:  # the others were screened and written: the run still ends as an error
        raise InputError(f"{len(unreadable)} of {len(inventory.parameters.get('files') or [])}"
                         " files could not be read; the other hosts were screened")
    return exit_code(done.findings, fail_on)


def register(app: typer.Typer) -> None:
    app.command("usb")(usb)
