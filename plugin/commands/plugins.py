"""`entityscan plugins`: which plugins are loaded, from where, implementing which hooks."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from entityscan.commands import ListingFormat, ListingFormatOption, PluginOption
from entityscan.session import Session


def plugins(plugin: PluginOption = None,
            fmt: ListingFormatOption = ListingFormat.TABLE) -> int:
    """List loaded plugins (built-ins, entry points in group `entityscan`, modules)."""
    with Session.open(plugin_modules=plugin or ()) as session:
        infos = session.hooks.describe()
    console = Console()
    if fmt is ListingFormat.JSON:
        console.file.write(json.dumps([{"name": i.name, "origin": i.origin,
                                        "hooks": list(i.hooks)} for i in infos], indent=2)
                           + "\n")
        return 0
    table = Table(title=f"entityscan plugins — {len(infos)} loaded")
    for col in ("name", "from", "hooks"):
        table.add_column(col, overflow="fold")
    for info in infos:
        table.add_row(info.name, info.origin,
                      ", ".join(h.removeprefix("entityscan_") for h in info.hooks))
    console.print(table)
    return 0


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
