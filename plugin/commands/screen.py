"""`entityscan screen FILE`: screen procurement line items against the lists."""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from entityscan.columns import parse_overrides
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
from entityscan.streamout import WHOLE_DOCUMENT_LIMIT, ResultSink, open_sink


class ScreenFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    HTML = "html"
    CYCLONEDX = "cyclonedx"
    XLSX = "xlsx"


def sample_path() -> Path:
    """The bundled sample purchase order used by `--sample` and the quick start."""
    return Path(str(resources.files("entityscan") / "samples" / "purchase-order.csv"))


def screen(
    file: Annotated[Path | None, typer.Argument(
        help="Line items: CSV/TSV, JSON, or a workbook (.xlsx, .xlsm, .ods): supplier, "
             "manufacturer, brand, description, part number under their own or an ERP "
             "export's names; other columns are kept.", show_default=False)] = None,
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
    sheet: Annotated[str | None, typer.Option(
        "--sheet", help="A workbook's sheet to read (default: its first visible worksheet).")
    ] = None,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help="A CSV file's encoding (default: UTF-8, else detected and "
                           "stated on standard error).")] = None,
    column_map: Annotated[list[str] | None, typer.Option(
        "--map", metavar="FIELD=COLUMN",
        help="Read COLUMN as FIELD (id, supplier, manufacturer, brand, description, "
             "part_number); repeatable.")] = None,
    show_mapping: Annotated[bool, typer.Option(
        "--show-mapping", help="Print how each column is read (to standard error) before "
                               "screening.")] = False,
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
    # the header is checked before anything loads
    source = LineItemFile(path, sheet=sheet, encoding=encoding,
                          overrides=parse_overrides(column_map or ()))
    if source.encoding is not None and source.encoding.how in ("detected", "given"):
        typer.echo(source.encoding.note(path), err=True)
    if show_mapping:
        typer.echo(_mapping_text(source), err=True)
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or (),
                      one_shot=True) as session:
        ctx = session.context()
        store = session.store() if save else None
        if store is not None:
            source.check()  # every input error is found before anything is recorded
        sink = _sink(fmt, output, source, {
            "input": source.describe_input(), "format": fmt.value, "fail_on": fail_on.value,
            "saved": save, "lists given": [str(p) for p in lists or ()],
            "relations given": [str(p) for p in relations or ()],
            "column mapping": [f"{h} -> {t}" for h, t in _columns(source)]})
        done = screen_line_item_stream(
            source.chunks(), ctx, store, actor=session.actor, source="screen",
            input_name=str(path), sink=sink, jobs=jobs or default_jobs())
        if save:
            ids = done.audit_ids
            typer.echo(f"saved as audit entry {ids[0]}" if len(ids) == 1 else
                       f"saved as audit entries {ids[0]} to {ids[-1]} ({len(ids)} entries)",
                       err=True)
        done.notify()
    return exit_code_for(done.worst, fail_on)


def _columns(source: LineItemFile) -> list[tuple[str, str]]:
    if source.columns is None:
        return []
    return list(zip(source.columns.headers, source.columns.targets, strict=True))


def _sink(fmt: ScreenFormat, output: Path | None, source: LineItemFile,
          parameters: dict[str, object]) -> ResultSink:
    if fmt is ScreenFormat.XLSX:
        from entityscan.xlsxout import XlsxSink, input_columns_of  # xlsxwriter on use

        columns = source.columns
        keys = [] if columns is not None else source.extra_columns()
        return XlsxSink(output, input_columns_of(
            columns.headers if columns else None, columns.targets if columns else None,
            keys), parameters)
    extra = tuple(source.extra_columns()) if fmt is ScreenFormat.CSV else ()
    return open_sink(fmt.value, output, extra)


def _mapping_text(source: LineItemFile) -> str:
    about = source.describe_input()
    if source.sheet is not None:
        how = (f"sheet {source.sheet.name!r}{' (hidden)' if source.sheet.hidden else ''}, "
               f"read by {source.sheet.reader}")
    elif source.encoding is not None:
        how = (f"CSV, {about['encoding']} ({about['encoding_chosen_by']}), delimiter "
               f"{about['delimiter']!r}")
    else:
        how = "JSON"
    lines = [f"{source.path}: {how}"]
    if source.columns is None:
        lines.append("  JSON keys are read by name (id, supplier, manufacturer, brand, "
                     "description, part_number and their synonyms); others are kept")
    else:
        lines += source.columns.describe()
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
