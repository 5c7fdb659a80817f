"""`entityscan screen FILE`: screen procurement line items against the lists."""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from entityscan.commands import (
    DataDirOption,
    DbOption,
    FailOn,
    FailOnOption,
    ListOption,
    OutputOption,
    PluginOption,
    RelationsOption,
    SaveOption,
)
from entityscan.errors import InputError
from entityscan.lineitems import LineItemFile
from entityscan.operations import screen_line_item_stream
from entityscan.output import exit_code_for
from entityscan.parallel import default_jobs
from entityscan.session import Session
from entityscan.streamout import WHOLE_DOCUMENT_LIMIT, open_sink


class ScreenFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    HTML = "html"
    CYCLONEDX = "cyclonedx"


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
    fmt: Annotated[ScreenFormat, typer.Option(
        "--format", "-f", help="json, ndjson (one result per line) and csv are written as "
                               "they are screened, any size; table, html and cyclonedx show "
                               f"the whole document, up to {WHOLE_DOCUMENT_LIMIT:,} lines.")
    ] = ScreenFormat.TABLE,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.FLAGGED,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, show_default="the machine's cores",
        help="Worker processes screening chunks of the file at once.")] = None,
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
    save: SaveOption = False,
    db: DbOption = None,
) -> int:
    """Screen procurement line items; exit 1 when a finding is at or above --fail-on.

    With --save the screening is recorded in the store (an audit entry per 10,000 lines and
    a finding per line at review or above) and the store's recorded decisions set each
    line's `decision`.
    """
    if file is None and not sample:
        raise InputError("give a FILE of line items to screen, or --sample")
    if file is not None and sample:
        raise InputError("give either a FILE or --sample, not both")
    path = sample_path() if file is None else file
    source = LineItemFile(path)  # the header is checked before anything loads
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or (),
                      one_shot=True) as session:
        ctx = session.context()
        store = session.store() if save else None
        if store is not None:
            source.check()  # every input error is found before anything is recorded
        extra = tuple(source.extra_columns()) if fmt is ScreenFormat.CSV else ()
        done = screen_line_item_stream(
            source.chunks(), ctx, store, actor=session.actor, source="screen",
            input_name=str(path), sink=open_sink(fmt.value, output, extra),
            jobs=jobs or default_jobs())
        if save:
            ids = done.audit_ids
            typer.echo(f"saved as audit entry {ids[0]}" if len(ids) == 1 else
                       f"saved as audit entries {ids[0]} to {ids[-1]} ({len(ids)} entries)",
                       err=True)
        done.notify()
    return exit_code_for(done.worst, fail_on)


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
