"""`entityscan report DOCUMENT`: turn a saved scan or screen JSON document into a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from entityscan.commands import Format, OutputOption
from entityscan.output import write_output
from entityscan.reports import load_document


def report(
    document: Annotated[Path, typer.Argument(
        help="A JSON document written by `entityscan scan|demo|screen --format json` "
             "(entityscan.scan/1 or entityscan.screen/1).", show_default=False)],
    fmt: Annotated[Format, typer.Option(
        "--format", "-f", help="html (default: one self-contained page), csv, cyclonedx "
                               "(CycloneDX 1.6 JSON BOM), json (validated copy) or table.")
    ] = Format.HTML,
    output: OutputOption = None,
) -> int:
    """Render a saved scan or screen document as an HTML page, CSV, CycloneDX BOM or table.

    The document is checked against its JSON Schema first; a broken one is refused, naming
    the file and the field, and nothing is written.
    """
    doc = load_document(document)
    write_output(doc, fmt, output)
    return 0


def register(app: typer.Typer) -> None:
    app.command("report")(report)
