"""`entityscan plugins`: which plugins are loaded, from where, implementing which hooks."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from entityscan.errors import InputError
from entityscan.hooks import describe_plugins, make_plugin_manager
from entityscan.hooktypes import Settings

PluginOption = Annotated[list[str] | None, typer.Option(
    "--plugin", help="Also load this importable module as a plugin; repeatable "
                     "(env ENTITYSCAN_PLUGINS, comma separated).")]


def settings_from_cli(plugin: list[str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with CLI options layered on top."""
    base = Settings.from_env(None, **{k: v for k, v in overrides.items() if v is not None})
    if plugin:
        from dataclasses import replace

        base = replace(base, plugin_modules=base.plugin_modules + tuple(plugin))
    return base


def plugins(
    plugin: PluginOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> int:
    """List loaded plugins (built-ins, entry points in group `entityscan`, modules)."""
    if fmt not in ("table", "json"):
        raise InputError(f"unknown --format {fmt!r} (choose from table, json)")
    pm = make_plugin_manager(settings_from_cli(plugin))
    infos = describe_plugins(pm)
    console = Console()
    if fmt == "json":
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
