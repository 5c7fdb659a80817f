"""`entityscan lists`: which lists a run would use, and `lists update` to install the CSL."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from entityscan.commands import (
    DataDirOption,
    DbOption,
    ListingFormat,
    ListingFormatOption,
    ListOption,
)
from entityscan.lists import ListSet
from entityscan.lists.registry import DEFAULT_MAX_SHRINK, resolve_data_dir, update_lists
from entityscan.operations import rescreen as rescreen_inventory
from entityscan.session import Session
from entityscan.terminal import print_rescreen

lists_app = typer.Typer(
    name="lists",
    help="Show the restricted-party lists in use; `lists update` installs the official CSL.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _list_dates(lists: ListSet) -> dict[str, tuple[str | None, str | None]]:
    """Per list code: the earliest and latest `listed` date among its entries."""
    spans: dict[str, tuple[str | None, str | None]] = {}
    for entry in lists.entries:
        if entry.listed is None:
            continue
        day = entry.listed.isoformat()
        low, high = spans.get(entry.list, (None, None))
        spans[entry.list] = (min(low or day, day), max(high or day, day))
    return spans


def lists_document(lists: ListSet, data_dir: str) -> dict[str, Any]:
    """The `entityscan.lists/1` JSON contract: sources, counts per list, hashes."""
    spans = _list_dates(lists)
    return {
        "schema": "entityscan.lists/1",
        "data_dir": data_dir,
        "sources": lists.describe(),
        "per_list": dict(sorted(lists.per_list().items())),
        "listed_span": {code: {"first": low, "last": high}
                        for code, (low, high) in sorted(spans.items())},
        "total": len(lists),
        "content_hash": lists.content_hash,
    }


@lists_app.callback()
def show(
    ctx: typer.Context,
    fmt: ListingFormatOption = ListingFormat.TABLE,
    data_dir: DataDirOption = None,
    extra: ListOption = None,
) -> int:
    """Show list sources, entries per list, dates and content hashes."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"data_dir": data_dir}  # `lists --data-dir X update` means X too
        return 0
    with Session.open(data_dir=data_dir, list_paths=extra or ()) as session:
        lists = session.lists()
    doc = lists_document(lists, str(session.data_dir))
    console = Console(soft_wrap=True)
    if fmt is ListingFormat.JSON:
        console.print_json(json.dumps(doc, ensure_ascii=False))
        return 0
    sources = Table(title="List sources", title_justify="left")
    for column in ("source", "location", "published", "loaded", "entries", "content hash"):
        sources.add_column(column, overflow="fold")
    for source in lists.sources:
        sources.add_row(source.name, source.location, source.published or "-",
                        source.loaded_at.isoformat(timespec="seconds")
                        if source.loaded_at else "-",
                        str(source.count), source.content_hash)
    console.print(sources)
    for source in lists.sources:
        if source.note:
            console.print(f"[yellow]warning:[/] {source.name}: {source.note}", highlight=False)
    per_list = Table(title="Entries per list", title_justify="left")
    for column in ("list", "entries", "first listed", "last listed"):
        per_list.add_column(column)
    spans = doc["listed_span"]
    for code, count in doc["per_list"].items():
        span = spans.get(code, {})
        per_list.add_row(code, str(count), span.get("first") or "-", span.get("last") or "-")
    console.print(per_list)
    console.print(f"{len(lists)} entries; lists content hash {lists.content_hash}",
                  highlight=False)
    return 0


@lists_app.command("update")
def update(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(
        "--from", help="URL or file of a CSL CSV/JSON (default: the public trade.gov CSV).",
        show_default=False)] = None,
    data_dir: DataDirOption = None,
    max_shrink: Annotated[float, typer.Option(
        "--max-shrink", min=0, max=100,
        help="Refuse the update when any list loses more than this percentage of its rows.")
    ] = DEFAULT_MAX_SHRINK * 100,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=1, help="Download timeout in seconds.")] = 60.0,
    rescreen: Annotated[bool, typer.Option(
        "--rescreen/--no-rescreen",
        help="Rescreen the stored inventory against the new lists and report changed "
             "verdicts (when a store exists).")] = True,
    db: DbOption = None,
) -> int:
    """Fetch, validate and install the official CSL; exit 2 (old copy kept) on refusal."""
    if data_dir is None and isinstance(ctx.obj, dict):
        data_dir = ctx.obj.get("data_dir")
    result = update_lists(source, resolve_data_dir(data_dir), max_shrink=max_shrink / 100,
                          timeout=timeout)
    meta = result.meta
    console = Console(soft_wrap=True)
    console.print(f"installed {meta['rows']} rows ({meta['entries']} entries) from "
                  f"{meta['source']} into {result.installed}", highlight=False)
    table = Table(title="Rows per list", title_justify="left")
    for column in ("list", "rows", "before"):
        table.add_column(column)
    before = (result.previous_meta or {}).get("rows_per_list") or {}
    for code, rows in meta["rows_per_list"].items():
        table.add_row(code, str(rows), str(before.get(code, "-")))
    console.print(table)
    console.print(f"content hash {meta['content_hash']}", highlight=False)
    with Session.open(data_dir=data_dir, db=db) as session:
        # a shared store: every service worker follows what is published there
        if session.settings.db_url and session.store().lists.publish(result.installed, meta):
            console.print("published to the store: the service's workers switch to it",
                          highlight=False)
    if rescreen:  # reports only: the update itself succeeded
        with Session.open(data_dir=data_dir, db=db) as session:
            if session.store_exists():
                report = rescreen_inventory(session.store(), session.context(),
                                            actor=session.actor)
                report.notify()
                print_rescreen(report.screened, report.lists_content_hash, report.audit_id,
                               report.changes, console)
    return 0


def register(app: typer.Typer) -> None:
    app.add_typer(lists_app, name="lists")
