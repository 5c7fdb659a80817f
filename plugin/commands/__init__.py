"""CLI sub-commands, one module each with `register(app)`; shared option helpers here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

FORMATS = ("table", "json", "csv", "html", "cyclonedx")

ListOption = Annotated[list[Path] | None, typer.Option(
    "--list", help="Add a CSL CSV/JSON (or bundled-format YAML) list file; repeatable.")]
RelationsOption = Annotated[list[Path] | None, typer.Option(
    "--relations", help="Add or override brand relations from a YAML file; repeatable.")]
FormatOption = Annotated[str, typer.Option(
    "--format", "-f", help="Output format: table, json, csv, html (a self-contained report "
                           "page) or cyclonedx (a CycloneDX 1.6 JSON BOM).")]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to this file instead of the terminal (whole or not at all).")]
FailOnOption = Annotated[str, typer.Option(
    "--fail-on", help="Exit 1 when any finding is at or above this verdict: flagged or review.")]
DataDirOption = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where the installed official lists live (default: user data dir; "
                       "env ENTITYSCAN_DATA_DIR).")]
SaveOption = Annotated[bool, typer.Option(
    "--save", help="Also save the screened inventory in the store (see `entityscan diff`).")]
StoreUrlOption = Annotated[str | None, typer.Option(
    "--db", help="Store URL for --save (default: ENTITYSCAN_DB or the user data dir).")]
