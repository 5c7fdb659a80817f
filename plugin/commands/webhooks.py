"""`entityscan webhooks status|deliver|retry`: the webhook outbox."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from entityscan.commands import DataDirOption, DbOption, ListingFormat, ListingFormatOption
from entityscan.errors import InputError
from entityscan.session import Session
from entityscan.terminal import cell

webhooks_app = typer.Typer(help="Webhook events waiting in the store's outbox.",
                           no_args_is_help=True)


@webhooks_app.command("status")
def webhooks_status(db: DbOption = None, data_dir: DataDirOption = None,
                    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
                    fmt: ListingFormatOption = ListingFormat.TABLE) -> int:
    """Events by state (pending, delivered, dead) and the latest ones.  Exit 1 when some
    are dead."""
    with Session.open(data_dir=data_dir, db=db) as session:
        outbox = session.store().outbox
        counts, events = outbox.counts(), outbox.events(limit=limit)
    if fmt is ListingFormat.JSON:
        print(json.dumps({"counts": counts, "events": events}, indent=2, default=str))
        return 1 if counts["dead"] else 0
    console = Console()
    console.print(f"webhook outbox: {counts['pending']} pending, {counts['delivered']} "
                  f"delivered, {counts['dead']} dead", highlight=False)
    if events:
        table = Table()
        for col in ("id", "event", "audit", "state", "attempts", "next / finished", "last error"):
            table.add_column(col, overflow="fold")
        for e in events:
            when = e["finished_at"] or e["next_attempt_at"]
            table.add_row(str(e["id"]), cell(e["event"]), str(e["audit_id"] or ""),
                          cell(e["status"]), str(e["attempts"]),
                          when.isoformat(timespec="seconds") if when else "",
                          cell(e["last_error"]))
        console.print(table)
    return 1 if counts["dead"] else 0


@webhooks_app.command("deliver")
def webhooks_deliver(db: DbOption = None, data_dir: DataDirOption = None,
                     within: Annotated[float, typer.Option(
                         "--within", min=0.1, help="Stop after this many seconds.")] = 30.0
                     ) -> int:
    """Deliver the events that are due now (what a receiver does not take stays pending).
    Exit 1 when events are still pending or dead afterwards."""
    from entityscan.builtins.webhook import WebhookNotifier
    from entityscan.delivery import deliver_pending

    with Session.open(data_dir=data_dir, db=db) as session:
        if not session.settings.webhook_url:
            raise InputError("no webhook configured: set ENTITYSCAN_WEBHOOK_URL (and "
                             "ENTITYSCAN_WEBHOOK_SECRET)")
        outbox = session.store().outbox
        deliver_pending(outbox, WebhookNotifier(session.settings), within=within)
        counts = outbox.counts()
    Console(stderr=True).print(f"webhook outbox: {counts['pending']} pending, "
                               f"{counts['delivered']} delivered, {counts['dead']} dead",
                               highlight=False)
    return 1 if counts["pending"] or counts["dead"] else 0


@webhooks_app.command("retry")
def webhooks_retry(db: DbOption = None, data_dir: DataDirOption = None) -> int:
    """Give every dead event a fresh start (the service's worker or `deliver` sends it)."""
    with Session.open(data_dir=data_dir, db=db) as session:
        count = session.store().outbox.retry_dead()
    Console(stderr=True).print(f"{count} dead event(s) pending again", highlight=False)
    return 0


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks_app, name="webhooks")
