"""`entityscan screen FILE`: screen procurement line items against the lists."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

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
    RelationsOption,
    SaveOption,
)
from entityscan.errors import InputError
from entityscan.lineitems import read_line_items
from entityscan.operations import screen_line_items
from entityscan.output import exit_code, write_output
from entityscan.session import Session


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
    fmt: FormatOption = Format.TABLE,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.FLAGGED,
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
    save: SaveOption = False,
    db: DbOption = None,
) -> int:
    """Screen procurement line items; exit 1 when a finding is at or above --fail-on.

    With --save the screening is recorded in the store (audit entry and findings) and the
    store's recorded decisions set each line's `decision`.
    """
    if file is None and not sample:
        raise InputError("give a FILE of line items to screen, or --sample")
    if file is not None and sample:
        raise InputError("give either a FILE or --sample, not both")
    path = sample_path() if file is None else file
    items = read_line_items(path)
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or ()) as session:
        done = screen_line_items(items, session.context(), session.store() if save else None,
                                 actor=session.actor, source="screen", input_name=str(path))
        write_output(done.document, fmt, output)
        if save:
            typer.echo(f"saved as audit entry {done.audit_id}", err=True)
        done.notify()
    return exit_code(done.findings, fail_on)


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
