"""`entityscan audit verify`: check the audit log's hash chain."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from entityscan.commands import DataDirOption, DbOption, ListingFormat, ListingFormatOption
from entityscan.session import Session

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(db: DbOption = None, data_dir: DataDirOption = None,
                 fmt: ListingFormatOption = ListingFormat.TABLE) -> int:
    """Recompute the audit log's hash chain from the first entry; name the first entry that
    was rewritten, removed or inserted.  Exit 0 when intact, 1 when broken."""
    with Session.open(data_dir=data_dir, db=db) as session:
        report = session.store().audit.verify()
    if fmt is ListingFormat.JSON:
        print(json.dumps({"intact": report.intact, "entries": report.entries,
                          "unchained": report.unchained, "head_id": report.head_id,
                          "head_hash": report.head_hash, "broken_id": report.broken_id,
                          "problem": report.problem}, indent=2))
        return 0 if report.intact else 1
    console = Console()
    if not report.intact:
        Console(stderr=True).print(
            f"[bold red]audit log BROKEN at entry {report.broken_id}:[/] {report.problem}; "
            f"{report.entries - 1} entries before it hold", highlight=False)
        return 1
    older = (f" ({report.unchained} written before the chain existed, folded into its first "
             f"link)" if report.unchained else "")
    if report.head_id is None:
        console.print("audit log: empty", highlight=False)
    else:
        console.print(f"audit log intact: {report.entries} entries{older}; head entry "
                      f"{report.head_id} sha256:{report.head_hash} (record it elsewhere: a "
                      f"later verify that ends before it means entries were removed)",
                      highlight=False)
    return 0


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
