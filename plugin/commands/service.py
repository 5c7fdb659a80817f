"""`entityscan serve` and `entityscan tokens add|list|revoke`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from entityscan.commands import (
    DataDirOption,
    DbOption,
    ListingFormat,
    ListingFormatOption,
    ListOption,
    PluginOption,
    RelationsOption,
)
from entityscan.errors import InputError
from entityscan.session import Session
from entityscan.terminal import cell

if TYPE_CHECKING:  # SQLAlchemy loads only in runs that open a store
    from entityscan.store.tokens import TokenInfo


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default; any "
                                           "other needs an API token to exist).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8077,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="Worker processes (each stateless; share one database, PostgreSQL for more "
             "than one host).")] = 1,
    db: DbOption = None,
    lists: ListOption = None,
    relations: RelationsOption = None,
    data_dir: DataDirOption = None,
    plugin: PluginOption = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB.")] = 8.0,
    lists_check: Annotated[float, typer.Option(
        "--lists-check-seconds", min=0,
        help="How often to look for an updated list copy (`lists update`, or one another "
             "worker published) and swap it in.")] = 30.0,
    stale_after: Annotated[str, typer.Option(
        "--stale-after", help="A site whose last scan is older than this is stale "
                              "(/v1/sites, the dashboard, metrics).")] = "2d",
    lists_update_every: Annotated[str | None, typer.Option(
        "--lists-update-every",
        help="Download the official list this often (one worker, by lease), publish it to "
             "every worker and rescreen once, e.g. 24h.")] = None,
    lists_from: Annotated[str | None, typer.Option(
        "--lists-from", help="With --lists-update-every: the URL or file to fetch (default: "
                             "the public trade.gov CSV).")] = None,
) -> int:
    """Run the HTTP service (FastAPI/uvicorn) in the foreground: the API, the fleet
    dashboard at /ui and /metrics."""
    from entityscan.service.server import serve as run
    from entityscan.service.worker import ServeConfig

    config = ServeConfig(db=db, data_dir=str(data_dir) if data_dir else None,
                         plugins=list(plugin or ()), lists=[str(p) for p in lists or ()],
                         relations=[str(p) for p in relations or ()], max_body_mb=max_body_mb,
                         lists_check=lists_check, stale_after=stale_after,
                         lists_update_every=lists_update_every, lists_from=lists_from)
    run(config, host, port, workers=workers)
    return 0


tokens_app = typer.Typer(help="Manage API bearer tokens (stored hashed).", no_args_is_help=True)


@tokens_app.command("add")
def tokens_add(name: Annotated[str, typer.Argument(help="Who or what uses the token.")],
               scope: Annotated[list[str] | None, typer.Option(
                   "--scope", help="What the token may do: screen, ingest, read, decide, "
                                   "admin; repeatable (default: screen).")] = None,
               db: DbOption = None, data_dir: DataDirOption = None) -> int:
    """Create a token; it is printed once and only its hash is stored."""
    with Session.open(data_dir=data_dir, db=db) as session:
        info, secret = session.store().tokens.add(name, scope or ())
    Console(stderr=True).print(
        cell(f"token {info.id} ({info.name}, scopes {', '.join(sorted(info.scopes))}) "
             f"created; store it now, it is not shown again:"))
    print(secret)
    return 0


def _scopes(info: TokenInfo) -> str:
    if info.legacy:
        return "all (made before scopes)"
    return ", ".join(sorted(info.scopes))


@tokens_app.command("list")
def tokens_list(db: DbOption = None, data_dir: DataDirOption = None,
                fmt: ListingFormatOption = ListingFormat.TABLE) -> int:
    """List tokens (id, name, scopes, prefix, created, revoked); never the secrets."""
    with Session.open(data_dir=data_dir, db=db) as session:
        found = session.store().tokens.list()
    if fmt is ListingFormat.JSON:
        print(json.dumps([{"id": t.id, "name": t.name, "scopes": sorted(t.scopes),
                           "made_before_scopes": t.legacy, "prefix": t.prefix,
                           "created_at": t.created_at.isoformat(),
                           "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
                          for t in found], indent=2))
        return 0
    table = Table(title="API tokens")
    for col in ("id", "name", "scopes", "prefix", "created", "revoked"):
        table.add_column(col, overflow="fold")
    for t in found:
        table.add_row(str(t.id), cell(t.name), _scopes(t), cell(t.prefix + "…"),
                      t.created_at.isoformat(timespec="seconds"),
                      t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "")
    Console().print(table)
    return 0


@tokens_app.command("revoke")
def tokens_revoke(
    old_style: Annotated[str | None, typer.Argument(hidden=True, show_default=False)] = None,
    token_id: Annotated[int | None, typer.Option("--id", min=1, help="The token's id.")
                        ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Every active token with this "
                                                            "name.")] = None,
    db: DbOption = None, data_dir: DataDirOption = None,
) -> int:
    """Revoke a token by --id, or every active token with a --name."""
    if old_style is not None:
        raise InputError(f"say which: `tokens revoke --id {old_style}` or `tokens revoke "
                         f"--name {old_style}` (a token may be named like another's id)")
    if (token_id is None) == (name is None):
        raise InputError("give --id N or --name NAME (one of them)")
    with Session.open(data_dir=data_dir, db=db) as session:
        count = session.store().tokens.revoke(token_id=token_id, name=name)
    if not count:
        what = f"id {token_id}" if token_id is not None else f"name {name!r}"
        raise InputError(f"no active token with {what}")
    Console(stderr=True).print(f"revoked {count} token(s)", highlight=False)
    return 0


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(tokens_app, name="tokens")
