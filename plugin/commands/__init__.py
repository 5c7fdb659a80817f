"""CLI sub-commands, one module each with `register(app)`, and the options they share.

A command parses its arguments, opens a `entityscan.session.Session`, calls
`entityscan.operations` and renders the result; it holds no logic of its own and imports no
other command.  Choices are validated by the parser, before any work starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from entityscan.agent import Agent
    from entityscan.operations import ScanScreening
    from entityscan.scanners.inventory import Inventory
    from entityscan.scanners.signals import RuleSet
    from entityscan.scanners.signatures.recog import Layered
    from entityscan.screening import ScreeningContext
    from entityscan.session import Session


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    CYCLONEDX = "cyclonedx"


class FailOn(StrEnum):
    FLAGGED = "flagged"
    REVIEW = "review"


class ListingFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


ListOption = Annotated[list[Path] | None, typer.Option(
    "--list", help="Add a CSL CSV/JSON (or bundled-format YAML) list file; repeatable.")]
RelationsOption = Annotated[list[Path] | None, typer.Option(
    "--relations", help="Add or override brand relations from a YAML file; repeatable.")]
FormatOption = Annotated[Format, typer.Option(
    "--format", "-f", help="Output format: table, json, csv, html (a self-contained report "
                           "page) or cyclonedx (a CycloneDX 1.6 JSON BOM).")]
ListingFormatOption = Annotated[ListingFormat, typer.Option("--format", "-f",
                                                            help="table or json.")]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to this file instead of the terminal (whole or not at all).")]
FailOnOption = Annotated[FailOn, typer.Option(
    "--fail-on", help="Exit 1 when any finding is at or above this verdict.")]
DataDirOption = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where the installed official lists live (default: user data dir; "
                       "env ENTITYSCAN_DATA_DIR).")]
PluginOption = Annotated[list[str] | None, typer.Option(
    "--plugin", help="Also load this importable module as a plugin; repeatable "
                     "(env ENTITYSCAN_PLUGINS, comma separated).")]
SaveOption = Annotated[bool, typer.Option(
    "--save", help="Also record the result in the store: the same verdicts as printed, with "
                   "an audit entry (and, for scans, the diff against the previous scan).")]
DbOption = Annotated[str | None, typer.Option(
    "--db", help="Store URL (default: ENTITYSCAN_DB, else SQLite in the user data dir), "
                 "e.g. postgresql+psycopg://user:pass@host/db.")]
SiteOption = Annotated[str | None, typer.Option(
    "--site", help="The site this scan belongs to (letters, digits, . _ -; default: "
                   "ENTITYSCAN_SITE, else `default`).")]
PushOption = Annotated[str | None, typer.Option(
    "--push", help="Also send the document to the central service at this URL; when it is "
                   "unreachable or busy the document waits in the local spool (`entityscan "
                   "push --flush`).")]
TokenFileOption = Annotated[Path | None, typer.Option(
    "--token-file", help="With --push: a file holding the API token (scope `ingest`), not "
                         "readable by group or others.")]


def screen_and_deliver(session: Session, inventory: Inventory, *, source: str, fmt: Format,
                       output: Path | None, save: bool, site: str | None,
                       agent: Agent | None, screening: ScreeningContext | None = None,
                       secrets: Sequence[str] = ()) -> ScanScreening:
    """What every command that makes an inventory (scan, usb, passive, import) does with it:
    screen it once, write that document, say what was saved, run the reaction hooks, and push
    it (spooled first: a centre that is away loses nothing)."""
    from entityscan.operations import screen_scan
    from entityscan.output import write_output
    from entityscan.terminal import print_saved

    done = screen_scan(inventory, screening or session.context(),
                       session.store() if save else None, actor=session.actor, source=source,
                       site=site, secrets=secrets)
    write_output(done.document, fmt, output)
    if save:
        print_saved(done.scan_id, done.audit_id, done.diff)
    done.notify()
    if agent is not None:
        agent.deliver(done.document)
    return done


def with_recog(rules: RuleSet, recog_dir: Path, relations: Sequence[Path]) -> Layered:
    """`--recog-dir`: the user's rapid7/recog checkout read beside the rules, its vendor names
    mapped onto the makers and brands the relations know."""
    from entityscan.errors import InputError, ScannerError
    from entityscan.relations import load_relations
    from entityscan.scanners.signatures.recog import Layered, load_recog, vendor_map

    known = load_relations(relations)
    try:
        recog = load_recog(recog_dir, vendor_map({r.maker for r in known},
                                                 [r.brand for r in known]))
    except ScannerError as exc:
        raise InputError(f"--recog-dir: {exc}") from None
    return Layered(rules, recog)
