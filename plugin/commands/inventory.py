"""`entityscan store import|scans`, `entityscan diff`, `entityscan rescreen`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from entityscan.commands import DataDirOption, ListOption, RelationsOption
from entityscan.commands.plugins import PluginOption
from entityscan.commands.service import DbOption, load_context, open_store
from entityscan.errors import InputError

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json")]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise InputError(f"unknown --format {fmt!r} (choose from table, json)")


def read_scan_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON scan document: {exc}") from exc


store_app = typer.Typer(help="The inventory store: import scans, list them.",
                        no_args_is_help=True)


@store_app.command("import")
def store_import(
    files: Annotated[list[Path], typer.Argument(help="entityscan.scan/1 JSON documents "
                                                     "(`entityscan scan -f json -o FILE`).")],
    db: DbOption = None,
    lists: ListOption = None,
    relations: RelationsOption = None,
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
    fmt: FormatOpt = "table",
    fail_on: Annotated[str, typer.Option("--fail-on", help="flagged or review")] = "flagged",
) -> int:
    """Screen scan documents afresh, save them, and show what changed since the last scan."""
    _check_format(fmt)
    from entityscan.model import Verdict

    try:
        threshold = Verdict(fail_on)
    except ValueError:
        raise InputError(f"--fail-on must be flagged or review, not {fail_on!r}") from None
    from entityscan.operations import import_scan

    docs = [(path, read_scan_file(path)) for path in files]  # read all before saving any
    ctx = load_context(lists, relations, data_dir, plugin, db)
    worst = 0
    reports = []
    with open_store(db, data_dir) as store:
        for path, doc in docs:
            saved = import_scan(doc, ctx, store, actor=_actor(), source=str(path))
            reports.append({"file": str(path), "scan_id": saved.scan_id,
                            "audit_id": saved.audit_id, "summary": saved.document["summary"],
                            "diff": saved.diff})
            worst = max([worst] + [o.finding.verdict.rank for o in saved.outcomes])
    if fmt == "json":
        print(json.dumps(reports, indent=2, default=str))
    else:
        console = Console()
        for report in reports:
            s = report["summary"]
            console.print(f"{report['file']}: saved as scan {report['scan_id']} — "
                          f"{s['total']} devices, flagged {s['flagged']}, review {s['review']}",
                          highlight=False)
            print_diff(report["diff"], console)
    return 1 if worst >= threshold.rank else 0


@store_app.command("scans")
def store_scans(db: DbOption = None, data_dir: DataDirOption = None,
                limit: Annotated[int, typer.Option(min=1)] = 20, fmt: FormatOpt = "table") -> int:
    """List saved scans, newest first."""
    _check_format(fmt)
    with open_store(db, data_dir) as store:
        scans = store.inventory.scans(limit=limit)
    if fmt == "json":
        print(json.dumps(scans, indent=2, default=str))
        return 0
    table = Table(title="saved scans")
    for col in ("id", "kind", "received", "devices", "flagged", "review", "by", "source"):
        table.add_column(col, overflow="fold")
    for s in scans:
        table.add_row(str(s["id"]), s["kind"], s["received_at"].isoformat(timespec="seconds"),
                      str(s["device_count"]), str(s["summary"].get("flagged", "")),
                      str(s["summary"].get("review", "")), s["actor"], s["source"] or "")
    Console().print(table)
    return 0


def print_diff(diff: dict[str, Any], console: Console) -> None:
    s = diff["summary"]
    since = f"scan {diff['scan_a']}" if diff["scan_a"] else "an empty inventory"
    console.print(f"since {since}: {s['new']} new, {s['gone']} gone, {s['changed']} changed, "
                  f"{s['newly_flagged']} newly flagged", highlight=False)
    rows = ([("new", d) for d in diff["new"]] + [("gone", d) for d in diff["gone"]]
            + [("changed", d) for d in diff["changed"]]
            + [("NEWLY FLAGGED", d) for d in diff["newly_flagged"]])
    if not rows:
        return
    table = Table()
    for col in ("what", "device", "maker", "verdict", "details"):
        table.add_column(col, overflow="fold")
    for what, d in rows:
        details = "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in d.get("changes", {}).items())
        style = "bold red" if what == "NEWLY FLAGGED" else ""
        table.add_row(f"[{style}]{what}[/]" if style else what, d["key"], d.get("maker") or "",
                      d["verdict"], details or " ".join(d.get("addresses") or []))
    console.print(table)


def diff(
    scan_a: Annotated[int | None, typer.Argument(help="Earlier scan id (default: the one "
                                                      "before SCAN_B).")] = None,
    scan_b: Annotated[int | None, typer.Argument(help="Later scan id (default: the "
                                                      "latest).")] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    fmt: FormatOpt = "table",
) -> int:
    """Devices new, gone, changed and newly flagged between two saved scans
    (default: the last two).  Exit 1 when something is newly flagged."""
    _check_format(fmt)
    with open_store(db, data_dir) as store:
        if scan_b is None and scan_a is not None:
            scan_a, scan_b = None, scan_a  # one id: compare it with the scan before it
        if scan_b is None:
            latest = store.inventory.scans(limit=1)
            if not latest:
                raise InputError("no saved scans yet: save one with `entityscan store import "
                                 "FILE` (or `entityscan scan ... --save`)")
            scan_b = int(latest[0]["id"])
        from entityscan.store import StoreError

        try:
            result = store.inventory.diff(scan_a, scan_b)
        except StoreError as exc:
            raise InputError(str(exc)) from exc
    if fmt == "json":
        print(json.dumps(result, indent=2, default=str))
    else:
        print_diff(result, Console())
    return 1 if result["newly_flagged"] else 0


def rescreen_command(
    db: DbOption = None,
    lists: ListOption = None,
    relations: RelationsOption = None,
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
    fmt: FormatOpt = "table",
) -> int:
    """Screen the stored inventory against the current lists (run after `lists update`)
    and report changed verdicts.  Exit 1 when a device became flagged."""
    from entityscan.operations import rescreen

    _check_format(fmt)
    ctx = load_context(lists, relations, data_dir, plugin, db)
    with open_store(db, data_dir) as store:
        report = rescreen(store, ctx, actor=_actor())
    if fmt == "json":
        print(json.dumps({"audit_id": report.audit_id, "screened": report.screened,
                          "lists_content_hash": report.lists_content_hash,
                          "changed": report.changes}, indent=2, default=str))
    else:
        console = Console()
        console.print(f"rescreened {report.screened} stored devices against lists "
                      f"{report.lists_content_hash[:19]}…: {len(report.changes)} changed "
                      f"(audit {report.audit_id})", highlight=False)
        if report.changes:
            table = Table()
            for col in ("device", "before", "after", "maker", "why"):
                table.add_column(col, overflow="fold")
            for c in report.changes:
                table.add_row(c["key"], c["before"], c["after"], c["maker"] or "",
                              (c["reasons"] or [""])[0])
            console.print(table)
    return 1 if any(c["after"] == "flagged" for c in report.changes) else 0


def save_inventory(inventory: Any, db: str | None, data_dir: Path | None,
                   lists: list[Path] | None, relations: list[Path] | None) -> int:
    """`--save` of the scan commands: screen with plugins, store, report the diff."""
    from entityscan.operations import import_scan

    ctx = load_context(lists, relations, data_dir, None, db)
    with open_store(db, data_dir) as store:
        saved = import_scan(inventory, ctx, store, actor=_actor(),
                            source=f"entityscan {inventory.kind}")
    console = Console(stderr=True)
    console.print(f"saved as scan {saved.scan_id} (audit {saved.audit_id})", highlight=False)
    print_diff(saved.diff, console)
    return saved.scan_id


def rescreen_after_update(db: str | None, data_dir: Path | None) -> int:
    """Called by `lists update`: rescreen the stored inventory when there is a store."""
    import os

    from entityscan.store import default_url

    url = db or default_url(data_dir)
    if not db and not os.environ.get("ENTITYSCAN_DB") and url.startswith("sqlite:///") \
            and not Path(url.removeprefix("sqlite:///")).exists():
        return 0  # no stored inventory yet: nothing to rescreen
    return rescreen_command(db=url, lists=None, relations=None, data_dir=data_dir,
                            plugin=None, fmt="table")


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
    app.command("diff")(diff)
    app.command("rescreen")(rescreen_command)
