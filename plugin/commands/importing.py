"""`entityscan import FILE...`: nmap XML, masscan JSON and Zeek logs other tools already
produced, and asset-system exports (NetBox, Snipe-IT, Lansweeper, a generic inventory CSV),
attributed and screened like a scan."""

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
from entityscan.hooks import signatures
from entityscan.output import exit_code
from entityscan.session import Session


def import_command(
    files: Annotated[list[Path], typer.Argument(
        show_default=False, help="nmap XML (-oX), masscan JSON (-oJ/-oD), Zeek logs (http, "
                                 "ssl, x509, dhcp, software, known_services; TSV or JSON), or "
                                 "asset-system exports (NetBox devices, Snipe-IT assets, "
                                 "Lansweeper assets, a CSV with Manufacturer/Model/Serial/MAC/"
                                 "IP columns).")],
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
    """Attribute and screen the devices other tools recorded (nmap, masscan, Zeek) or an asset
    system lists (NetBox, Snipe-IT, Lansweeper, a generic CSV; a record's manufacturer is a
    claim, its model number, serial and MAC are judged like a scan's).

    Exit 0: nothing at or above --fail-on. Exit 1: devices at or above it. Exit 2: usage or
    input error, also when lines or files could not be read (the rest is still screened)."""
    from entityscan.scanners.importers import import_files

    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise InputError(f"no such file: {', '.join(missing)}")
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or ()) as session:
        agent = open_agent(push, token_file, session.data_dir)  # a bad token file: no import
        rules = signatures(session.hooks)
        session.context()  # a broken list or plugin stops the run before files are read
        inventory = import_files(files, rules=rules)
        for error in inventory.errors:
            typer.echo(f"entityscan import: error: {error.message}", err=True)
        for name, encoding in inventory.parameters.get("encodings", {}).items():
            if encoding not in ("utf-8", "utf-8-sig"):  # a guess is said, never silent
                typer.echo(f"entityscan import: note: {name} is not UTF-8; read as {encoding}",
                           err=True)
        done = screen_and_deliver(
            session, inventory, source="entityscan import", fmt=fmt, output=output, save=save,
            site=site, agent=agent)
    if inventory.errors:
        bad = len({e.target for e in inventory.errors})
        raise InputError(f"{bad} of {len(files)} files had unreadable parts (listed above as "
                         "file:line); everything else was screened")
    return exit_code(done.findings, fail_on)


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
