"""`entityscan store import|scans`, `entityscan diff`, `entityscan rescreen`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from entityscan.commands import (
    DataDirOption,
    DbOption,
    FailOn,
    FailOnOption,
    ListingFormat,
    ListingFormatOption,
    ListOption,
    PluginOption,
    RelationsOption,
    SiteOption,
)
from entityscan.errors import InputError
from entityscan.operations import diff_scans, rescreen, screen_scan
from entityscan.output import exit_code
from entityscan.session import Session
from entityscan.terminal import cell, print_diff, print_rescreen


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
    fmt: ListingFormatOption = ListingFormat.TABLE,
    fail_on: FailOnOption = FailOn.FLAGGED,
    site: SiteOption = None,
) -> int:
    """Attribute scan documents again from their evidence, screen them afresh, save them,
    and show what changed since the site's last scan (a document's own makers and verdicts
    are not believed; a document stored before, by its id, is not stored again)."""
    from entityscan.hooks import signatures
    from entityscan.sites import check_site, default_site
    from entityscan.store import inventory_from_document  # SQLAlchemy: only when used
    from entityscan.store.documents import document_identity

    reports, findings = [], []
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or ()) as session:
        rules = signatures(session.hooks)  # this run's rules, plugins' included
        # every file is read and checked before anything is saved
        wanted = check_site(site) if site else None
        inventories = []
        for path in files:
            doc = read_scan_file(path)
            identity = document_identity(doc, str(path))
            if wanted and identity.site not in (None, wanted):
                raise InputError(f"{path}: the document belongs to site {identity.site!r}, "
                                 f"not --site {wanted!r}")
            inventories.append((path, identity, inventory_from_document(doc, str(path),
                                                                        rules=rules)))
        for path, identity, inventory in inventories:
            done = screen_scan(inventory, session.context(), session.store(),
                               actor=session.actor, source=str(path),
                               site=wanted or identity.site or default_site(),
                               document_id=identity.document_id,
                               document_hash=identity.document_hash)
            done.notify()
            findings += done.findings
            reports.append({"file": str(path), "scan_id": done.scan_id,
                            "site": done.document["site"], "duplicate": done.duplicate,
                            "audit_id": done.audit_id, "summary": done.document["summary"],
                            "diff": done.diff})
    if fmt is ListingFormat.JSON:
        print(json.dumps(reports, indent=2, default=str))
    else:
        console = Console()
        for report in reports:
            s = report["summary"]
            if report["duplicate"]:
                console.print(cell(f"{report['file']}: already stored as scan "
                                   f"{report['scan_id']} (site {report['site']}); not stored "
                                   f"again"))
                continue
            console.print(cell(f"{report['file']}: saved as scan {report['scan_id']} (site "
                               f"{report['site']}) — {s['total']} devices, flagged "
                               f"{s['flagged']}, review {s['review']}"))
            print_diff(report["diff"], console)
    return exit_code(findings, fail_on)


@store_app.command("scans")
def store_scans(db: DbOption = None, data_dir: DataDirOption = None,
                limit: Annotated[int, typer.Option(min=1)] = 20,
                fmt: ListingFormatOption = ListingFormat.TABLE, site: SiteOption = None) -> int:
    """List saved scans, newest first."""
    from entityscan.sites import check_site

    with Session.open(data_dir=data_dir, db=db) as session:
        scans = session.store().inventory.scans(limit=limit,
                                                site=check_site(site) if site else None)
    if fmt is ListingFormat.JSON:
        print(json.dumps(scans, indent=2, default=str))
        return 0
    table = Table(title="saved scans")
    for col in ("id", "site", "kind", "received", "devices", "flagged", "review", "by",
                "source"):
        table.add_column(col, overflow="fold")
    for s in scans:
        table.add_row(str(s["id"]), cell(s["site"]), cell(s["kind"]),
                      s["received_at"].isoformat(timespec="seconds"),
                      str(s["device_count"]), str(s["summary"].get("flagged", "")),
                      str(s["summary"].get("review", "")), cell(s["actor"]), cell(s["source"]))
    Console().print(table)
    return 0


@store_app.command("prune")
def store_prune(
    keep: Annotated[int, typer.Option(
        "--keep", min=1, help="Keep the device snapshots of this many newest scans of each "
                              "site and kind.")] = 10,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", help="Only scans received longer ago than this (e.g. 90d, 12w).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; change "
                                                            "nothing.")] = False,
    db: DbOption = None, data_dir: DataDirOption = None,
) -> int:
    """Drop the device snapshots of old scans (they can no longer be diffed); scans, the
    device registry, findings and the audit log stay, untouched."""
    from entityscan.schedule import parse_interval

    age = parse_interval(older_than, "--older-than") if older_than else None
    with Session.open(data_dir=data_dir, db=db) as session:
        retention = session.store().retention
        if dry_run:
            ids = retention.candidates(keep, age)
            print(f"would drop the snapshots of {len(ids)} scan(s)"
                  + (f": {', '.join(map(str, ids[:20]))}{' …' if len(ids) > 20 else ''}"
                     if ids else ""))
            return 0
        done = retention.prune(keep, age)
    print(f"dropped the device snapshots of {done['scans']} scan(s) ({done['snapshot_rows']} "
          f"rows); the audit log is untouched")
    return 0


def diff(
    scan_a: Annotated[int | None, typer.Argument(help="Earlier scan id (default: the one "
                                                      "before SCAN_B).")] = None,
    scan_b: Annotated[int | None, typer.Argument(help="Later scan id (default: the "
                                                      "latest).")] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    fmt: ListingFormatOption = ListingFormat.TABLE,
    site: SiteOption = None,
) -> int:
    """Devices new, gone, changed and newly flagged between two saved scans (default: the
    latest, of --site when given, and the one before it at its site).  Exit 1 when something
    is newly flagged."""
    from entityscan.sites import check_site

    if scan_b is None and scan_a is not None:
        scan_a, scan_b = None, scan_a  # one id: compare it with the scan before it
    with Session.open(data_dir=data_dir, db=db) as session:
        result = diff_scans(session.store(), scan_a, scan_b,
                            site=check_site(site) if site else None)
    if fmt is ListingFormat.JSON:
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
    fmt: ListingFormatOption = ListingFormat.TABLE,
) -> int:
    """Screen the stored inventory against the current lists (run after `lists update`)
    and report changed verdicts.  Exit 1 when a device became flagged."""
    with Session.open(plugin_modules=plugin or (), data_dir=data_dir, db=db,
                      list_paths=lists or (), relation_paths=relations or ()) as session:
        report = rescreen(session.store(), session.context(), actor=session.actor)
        report.notify()
    if fmt is ListingFormat.JSON:
        print(json.dumps({"audit_id": report.audit_id, "screened": report.screened,
                          "lists_content_hash": report.lists_content_hash,
                          "changed": report.changes}, indent=2, default=str))
    else:
        print_rescreen(report.screened, report.lists_content_hash, report.audit_id,
                       report.changes, Console())
    return 1 if any(c["after"] == "flagged" for c in report.changes) else 0


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
    app.command("diff")(diff)
    app.command("rescreen")(rescreen_command)
