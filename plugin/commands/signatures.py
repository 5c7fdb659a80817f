"""`entityscan signatures`: the signal kinds and their rules; `--explain VALUE --kind KIND` shows
which rule matches a value, what it extracts and points to, and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from entityscan.commands import (
    ListingFormat,
    ListingFormatOption,
    PluginOption,
    RelationsOption,
    with_recog,
)
from entityscan.errors import InputError, ScannerError
from entityscan.hooks import signatures
from entityscan.session import Session


def signatures_command(
    explain: Annotated[str | None, typer.Option(
        "--explain", help="A value as a device sent it (a Server header, a greeting, a realm "
                          "…): show which rule matches it and why.")] = None,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="The signal kind to judge the value as (http_server, http_realm, "
                       "telnet_banner, sdk_reply, upnp, snmp …); see the kinds listed without "
                       "--explain.")] = None,
    field: Annotated[str, typer.Option(
        "--field", help="The probe field, for field-scoped kinds (Server, Manufacturer, "
                        "sysObjectID, modelNumber …).")] = "value",
    recog_dir: Annotated[Path | None, typer.Option(
        "--recog-dir", help="Also judge with a rapid7/recog checkout of your own, behind "
                            "entityscan's rules.")] = None,
    fmt: ListingFormatOption = ListingFormat.TABLE,
    plugin: PluginOption = None,
    relations: RelationsOption = None,
) -> int:
    """Signature rules: list the kinds, or explain how one value is judged."""
    with Session.open(plugin_modules=plugin or (), relation_paths=relations or ()) as session:
        rules = signatures(session.hooks)
    if explain is None:
        listing = {name: len(rules.rules(name)) for name in rules.kinds()}
        if fmt is ListingFormat.JSON:
            print(json.dumps({"kinds": listing}, indent=2))
        else:
            for name, count in listing.items():
                print(f"{name:<16} {count:>3} rule{'s' if count != 1 else ''}")
        return 0
    if kind is None:
        raise InputError("--explain needs --kind (one of: " + ", ".join(rules.kinds()) + ")")
    try:
        matches = rules.match(kind, explain, field=field)
        evidence = rules.evaluate(kind, explain, probe="explain", field=field)
    except ScannerError as exc:
        raise InputError(f"--kind: {exc}") from None
    judged: Any = rules
    if recog_dir is not None:
        judged = with_recog(rules, recog_dir, relations or ())
        evidence = judged.evaluate(kind, explain, probe="explain", field=field)
    doc: dict[str, Any] = {
        "kind": kind, "field": field, "value": explain,
        "matched": [{"rule": f"{m.kind}/{m.rule.id}", "indicates": m.rule.indicates,
                     "evidence_kind": m.rule.kind, "certainty": m.rule.certainty.value,
                     "matched_text": m.matched[:200], "fields": m.fields,
                     "description": " ".join(m.rule.description.split()),
                     "source": m.rule.source} for m in matches],
        "evidence": [ev.model_dump(mode="json") for ev in evidence],
    }
    if fmt is ListingFormat.JSON:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    console = Console(highlight=False, soft_wrap=True)
    if not doc["evidence"]:
        console.print(f"no {escape(kind)} rule matches {explain[:120]!r}"
                      + (f" (field {escape(field)})" if field != "value" else "")
                      + ": it points to no maker")
        return 0
    matched: list[dict[str, Any]] = doc["matched"]
    for item in matched:
        target = item["indicates"] or "no maker (descriptive)"
        console.print(f"[bold]{escape(item['rule'])}[/]: {escape(target)} — "
                      f"{item['evidence_kind']}, {item['certainty']}")
        console.print(f"  matched: {escape(repr(item['matched_text']))}")
        if item["fields"]:
            console.print(f"  extracted: {escape(json.dumps(item['fields']))}")
        console.print(f"  why: {escape(item['description'])}")
        console.print(f"  source: {escape(item['source'])}")
    direct = {item["rule"] for item in matched}
    for ev in evidence:
        if ev.rule not in direct:
            target = ev.indicates or "no maker (descriptive)"
            console.print(f"[bold]{escape(ev.rule or '?')}[/] (chained or recog): "
                          f"{escape(target)} — {ev.kind}, {ev.certainty.value}")
            console.print(f"  source: {escape(ev.source or '')}")
    return 0


def register(app: typer.Typer) -> None:
    app.command("signatures")(signatures_command)
