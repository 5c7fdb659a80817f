"""`entityscan screen FILE`: screen procurement line items against the lists."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from entityscan.commands import (
    DataDirOption,
    FailOnOption,
    FormatOption,
    ListOption,
    OutputOption,
    RelationsOption,
)
from entityscan.commands.plugins import PluginOption, settings_from_cli
from entityscan.errors import InputError
from entityscan.hooks import make_plugin_manager, notify_findings
from entityscan.hooktypes import FindingEvent
from entityscan.lineitems import read_line_items
from entityscan.output import exit_code, screen_document, write_output
from entityscan.screening import ScreeningContext, decision_for, screen_items


def sample_path() -> Path:
    """The bundled sample purchase order used by `--sample` and the quick start."""
    return Path(str(resources.files("entityscan") / "samples" / "purchase-order.csv"))


def screen(
    file: Annotated[Path | None, typer.Argument(
        help="CSV or JSON line items (supplier, manufacturer, brand, description, part "
             "number; other columns are kept).", show_default=False)] = None,
    sample: Annotated[bool, typer.Option(
        "--sample", help="Screen the bundled sample purchase order.")] = False,
    lists: ListOption = None,
    relations: RelationsOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    fail_on: FailOnOption = "flagged",
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
) -> int:
    """Screen procurement line items; exit 1 when a finding is at or above --fail-on."""
    if file is None and not sample:
        raise InputError("give a FILE of line items to screen, or --sample")
    if file is not None and sample:
        raise InputError("give either a FILE or --sample, not both")
    path = sample_path() if sample else Path(file)  # type: ignore[arg-type]
    exit_code([], fail_on)  # validate --fail-on before any work
    items = read_line_items(path)
    hooks = make_plugin_manager(settings_from_cli(plugin, data_dir=data_dir))
    ctx = ScreeningContext.load(list_paths=lists or [], relation_paths=relations or [],
                                data_dir=data_dir, hooks=hooks)
    findings = screen_items(items, ctx)
    doc = screen_document(items, findings, ctx.lists, source=str(path))
    write_output(doc, fmt, output)
    notify_findings(hooks, [FindingEvent(finding=f, decision=decision_for(f),
                                         subject=item.model_dump(mode="json"))
                            for item, f in zip(items, findings, strict=True)
                            if f.verdict.rank > 0],
                    {"source": "screen", "actor": "cli", "input": str(path),
                     "lists_content_hash": ctx.lists.content_hash})
    return exit_code(findings, fail_on)


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
