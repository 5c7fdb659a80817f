"""Output documents and their renderings: JSON contracts, a readable table, CSV.

`entityscan.screen/1` and `entityscan.scan/1` are the JSON contracts documented in README.md.
Every file is written whole or not at all (temporary file, then rename).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from entityscan.decisions import DEFAULT_DECISION
from entityscan.errors import InputError
from entityscan.lists import ListSet
from entityscan.model import Finding, LineItem, Verdict
from entityscan.scanners.inventory import Inventory
from entityscan.terminal import cell

# table, html and cyclonedx hold a whole screen document (and its rendering) in memory
WHOLE_DOCUMENT_FORMATS = ("table", "html", "cyclonedx")
WHOLE_DOCUMENT_LIMIT = 20_000
SCREEN_SCHEMA = "entityscan.screen/1"
SCAN_SCHEMA = "entityscan.scan/1"
VERDICT_STYLE = {"flagged": "bold red", "review": "yellow", "clear": "green"}
ITEM_FIELDS = ("supplier", "manufacturer", "brand", "description", "part_number")


def _lists_block(lists: ListSet) -> dict[str, Any]:
    return {"lists": lists.describe(), "lists_content_hash": lists.content_hash}


def _result(finding: Finding) -> dict[str, Any]:
    return {
        "verdict": finding.verdict.value,
        "maker": finding.maker,
        "score": finding.score,
        "matches": [m.model_dump(mode="json") for m in finding.matches],
        "reasons": list(finding.reasons),
    }


def item_fields(item: LineItem) -> dict[str, Any]:
    """A result's `item`: the line as read, except its id, without empty fields."""
    values = item.__dict__
    fields = {k: v for k in ITEM_FIELDS if (v := values[k]) is not None}
    if item.extra:
        fields["extra"] = dict(item.extra)
    return fields


def is_plain_clear(finding: Finding) -> bool:
    """Clear with nothing to explain: no match (not even a vetoed one) and no reason beyond
    the matcher's "nothing matched"."""
    return (finding.verdict is Verdict.CLEAR and not finding.matches
            and len(finding.reasons) <= 1)


def result_record(item: LineItem, finding: Finding, decision: str,
                  applied: dict[str, Any] | None, *, lean: bool,
                  explained: dict[str, Any] | None = None) -> dict[str, Any]:
    """One `results[]` entry of `entityscan.screen/1`.

    Lean (what `entityscan screen` writes): a plain clear line is `id`, `verdict`,
    `decision` (and `applied_decision` when a recorded decision set it) and `item`; every
    other line carries `maker`, `score`, `matches` and `reasons` too.  Not lean (the
    service's answers): every line carries every field.  `explained` is the finding as JSON
    when the caller has it already (cheaper than dumping each match again).
    """
    if lean and is_plain_clear(finding):
        record: dict[str, Any] = {"id": item.id, "verdict": "clear", "decision": decision}
        if applied is not None:
            record["applied_decision"] = applied
        record["item"] = item_fields(item)
        return record
    if explained is None:
        body = _result(finding)
    else:
        body = {k: explained[k] for k in ("verdict", "maker", "score", "matches", "reasons")}
    return {"id": item.id, **body, "item": item_fields(item), "decision": decision,
            "applied_decision": applied}


def screen_header(lists: ListSet, source: str | None) -> dict[str, Any]:
    """What an `entityscan.screen/1` document says before its results."""
    return {"schema": SCREEN_SCHEMA, "generated": datetime.now(UTC).isoformat(),
            "source": source, **_lists_block(lists)}


def screen_document(items: Sequence[LineItem], findings: Sequence[Finding], lists: ListSet,
                    source: str | None = None) -> dict[str, Any]:
    """The `entityscan.screen/1` document, whole, each decision following its verdict."""
    results = [result_record(item, finding, DEFAULT_DECISION[finding.verdict], None,
                             lean=False)
               for item, finding in zip(items, findings, strict=True)]
    return {**screen_header(lists, source), "summary": summarise(findings),
            "results": results}


def scan_document(inventory: Inventory, findings: Sequence[Finding],
                  lists: ListSet) -> dict[str, Any]:
    """The `entityscan.scan/1` document: devices with their verdicts and evidence."""
    devices = []
    for device, finding in zip(inventory.devices, findings, strict=True):
        record = device.model_dump(mode="json", exclude={"evidence", "reasons"})
        record["id"] = device.key()
        record["attribution_reasons"] = list(device.reasons)
        record["evidence"] = [
            {"probe": e.probe, "field": e.field, "value": e.value, "indicates": e.indicates,
             "certainty": e.certainty.value, "kind": e.kind, "source": e.source,
             "rule": e.rule}
            for e in device.evidence]
        record.update(_result(finding))
        # `maker` is the listed maker the finding names, else the scanner's attribution (a
        # clear Axis camera still shows Axis); `attributed_maker` is always the scanner's.
        record["maker"] = finding.maker or device.maker
        record["attributed_maker"] = device.maker
        devices.append(record)
    return {"schema": SCAN_SCHEMA, "kind": inventory.kind,
            "generated": datetime.now(UTC).isoformat(),
            "targets": list(inventory.targets),
            "started": inventory.started.isoformat(),
            "finished": inventory.finished.isoformat() if inventory.finished else None,
            "parameters": inventory.parameters, **_lists_block(lists),
            "summary": summarise(findings), "devices": devices,
            "errors": [e.model_dump(mode="json") for e in inventory.errors]}


def summarise(findings: Sequence[Finding]) -> dict[str, Any]:
    counts = {v.value: 0 for v in Verdict}
    makers: dict[str, int] = {}
    for finding in findings:
        counts[finding.verdict.value] += 1
        if finding.verdict is not Verdict.CLEAR and finding.maker:
            makers[finding.maker] = makers.get(finding.maker, 0) + 1
    return {"total": len(findings), **counts, "by_maker": makers}


def exit_code(findings: Sequence[Finding], fail_on: str) -> int:
    """1 when any finding is at or above `fail_on`, else 0."""
    worst = max((f.verdict for f in findings), key=lambda v: v.rank, default=Verdict.CLEAR)
    return exit_code_for(worst, fail_on)


def exit_code_for(worst: Verdict, fail_on: str) -> int:
    """1 when the worst verdict of a run is at or above `fail_on`, else 0."""
    try:
        threshold = Verdict(fail_on)
    except ValueError:
        raise InputError(f"--fail-on must be flagged or review, not {fail_on!r}") from None
    return 1 if worst.rank >= threshold.rank else 0


# ----- renderings -----
def _first_reason(result: dict[str, Any]) -> str:
    reasons = result.get("reasons") or []
    return reasons[0] if reasons else ""


_VIA_LABEL = {"name": "name", "alias": "alias", "brand-relation": "brand",
              "part-number": "model", "description": "mentions", "group-name": "group name",
              "device-attribution": "protocol evidence"}


def _short_reason(result: dict[str, Any]) -> str:
    """One line for a terminal table: the strongest route and the lists it reached.

    The full reasons stay in JSON, CSV and HTML; a table row must fit a terminal.
    """
    matches = result.get("matches") or []
    if not matches:
        unreadable = [r for r in result.get("reasons") or [] if "could not be read" in r]
        return unreadable[0] if unreadable else ""
    first = matches[0]
    lists = ", ".join(sorted({m["list"] for m in matches if m["via"] == first["via"]}))
    how = _VIA_LABEL.get(first["via"], first["via"])
    value = first.get("value") or first.get("matched_name") or ""
    return f"{how} {value!r} -> {lists}"


def _lists_of(result: dict[str, Any]) -> str:
    return ";".join(sorted({m["list"] for m in result.get("matches") or []}))


# A spreadsheet runs a cell starting with one of these as a formula; device strings and
# supplier columns are hostile, so such cells get a leading apostrophe (README: CSV).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


SCREEN_CSV_COLUMNS = ("id", "verdict", "maker", "score", "lists", "citations", "via", "reason",
                      "supplier", "manufacturer", "brand", "description", "part_number")
SCAN_CSV_COLUMNS = ("id", "addresses", "mac", "host", "vid", "pid", "brand", "maker",
                    "platform", "model", "firmware", "serial", "confidence", "readable",
                    "verdict", "score", "lists", "reason", "citations", "via",
                    "attributed_maker", "device_class")


def _citations_of(result: dict[str, Any]) -> str:
    return ";".join(sorted({m["citation"] for m in result.get("matches") or []
                            if m.get("citation")}))


def _via_of(result: dict[str, Any]) -> str:
    return ";".join(dict.fromkeys(m["via"] for m in result.get("matches") or []))


def screen_csv_header(extra_cols: Sequence[str]) -> list[str]:
    return [*SCREEN_CSV_COLUMNS, *(_text(c) for c in extra_cols)]


def screen_csv_row(r: dict[str, Any], extra_cols: Sequence[str]) -> list[Any]:
    """A result's CSV row (a lean clear result: empty maker, score 0, no lists)."""
    item = r.get("item") or {}
    extra = item.get("extra") or {}
    return ([_text(r["id"]), r["verdict"], _text(r.get("maker")), r.get("score", 0.0),
             _lists_of(r), _text(_citations_of(r)), _via_of(r), _text(_first_reason(r))]
            + [_text(item.get(k)) for k in ITEM_FIELDS]
            + [_text(extra.get(k, "")) for k in extra_cols])


def screen_csv(doc: dict[str, Any]) -> str:
    """One row per line item; columns documented in README.md (stable), then the input's own
    extra columns in first-seen order."""
    extra_cols: list[str] = []
    for result in doc["results"]:
        for key in (result.get("item") or {}).get("extra", {}):
            if key not in extra_cols:
                extra_cols.append(key)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(screen_csv_header(extra_cols))
    writer.writerows(screen_csv_row(r, extra_cols) for r in doc["results"])
    return out.getvalue()


def scan_csv(doc: dict[str, Any]) -> str:
    """One row per device; columns documented in README.md (stable)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SCAN_CSV_COLUMNS)
    for d in doc["devices"]:
        writer.writerow([_text(d.get("id")), _text(" ".join(d["addresses"])), _text(d.get("mac")),
                         _text(d.get("host")), _text(d.get("vid")), _text(d.get("pid")),
                         _text(d.get("brand")), _text(d.get("maker")), _text(d.get("platform")),
                         _text(d.get("model")), _text(d.get("firmware")), _text(d.get("serial")),
                         d.get("confidence"), d.get("readable"), d["verdict"], d["score"],
                         _lists_of(d), _text(_first_reason(d)), _text(_citations_of(d)),
                         _via_of(d), _text(d.get("attributed_maker", d.get("maker"))),
                         _text(d.get("device_class"))])
    return out.getvalue()


def screen_table(doc: dict[str, Any], console: Console) -> None:
    table = Table(title=f"entityscan screen — {doc['summary']['total']} items", expand=False)
    for col in ("id", "verdict", "maker", "score", "why (full reasons: --format json|html)"):
        table.add_column(col, overflow="fold")
    for r in doc["results"]:
        style = VERDICT_STYLE[r["verdict"]]
        table.add_row(cell(r["id"]), f"[{style}]{r['verdict']}[/]",
                      cell(r.get("maker")), f"{r.get('score', 0.0):.0f}",
                      cell(_short_reason(r)))
    console.print(table)
    _print_summary(doc, console)


def scan_table(doc: dict[str, Any], console: Console) -> None:
    table = Table(title=f"entityscan {doc.get('kind', 'scan')} — "
                        f"{doc['summary']['total']} devices")
    for col in ("device", "label", "maker", "model", "verdict", "score", "why"):
        table.add_column(col, overflow="fold")
    for d in doc["devices"]:
        where = d.get("host") and f"{d['host']} {d.get('vid')}:{d.get('pid')}"
        where = where or " ".join(d["addresses"][:2]) or d["id"]
        style = VERDICT_STYLE[d["verdict"]]
        verdict = f"[{style}]{d['verdict']}[/]" + ("" if d.get("readable", True)
                                                    else " (unreadable)")
        table.add_row(cell(where), cell(d.get("brand")),
                      cell(d.get("maker")), cell(d.get("model")), verdict,
                      f"{d['score']:.0f}", cell(_short_reason(d)))
    console.print(table)
    _print_summary(doc, console)


def _print_summary(doc: dict[str, Any], console: Console) -> None:
    s = doc["summary"]
    console.print(f"flagged {s['flagged']} · review {s['review']} · clear {s['clear']}   "
                  f"lists {doc['lists_content_hash'][:19]}…", highlight=False)


def atomic_write(path: Path, text: str) -> None:
    """Write the whole file or nothing: a temporary file in the same folder, then rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write output: {exc}") from exc


def _html(doc: dict[str, Any]) -> str:
    from entityscan.reports import render_html  # imported on use: jinja2 loads only for html

    return render_html(doc)


def _cyclonedx(doc: dict[str, Any]) -> str:
    from entityscan.reports import render_cyclonedx

    return render_cyclonedx(doc)


RENDERERS: dict[str, dict[str, Callable[[dict[str, Any]], str]]] = {
    SCREEN_SCHEMA: {"csv": screen_csv, "html": _html, "cyclonedx": _cyclonedx},
    SCAN_SCHEMA: {"csv": scan_csv, "html": _html, "cyclonedx": _cyclonedx},
}
TABLES: dict[str, Callable[[dict[str, Any], Console], None]] = {
    SCREEN_SCHEMA: screen_table, SCAN_SCHEMA: scan_table}


def render_text(doc: dict[str, Any], fmt: str) -> str:
    """The document as text in `fmt` (json, csv, or any format a renderer was added for)."""
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    renderer = RENDERERS.get(doc["schema"], {}).get(fmt)
    if renderer is None:
        known = ", ".join(["table", "json", *RENDERERS.get(doc["schema"], {})])
        raise InputError(f"unknown --format {fmt!r} (choose from {known})")
    return renderer(doc)


def check_whole_document(count: int, fmt: str, limit: int | None = None) -> None:
    """Refuse a screen document of more than `limit` line items in a whole-document format."""
    limit = WHOLE_DOCUMENT_LIMIT if limit is None else limit
    if fmt in WHOLE_DOCUMENT_FORMATS and count > limit:
        raise InputError(
            f"--format {fmt} shows the whole document at once, so it is limited to "
            f"{limit:,} line items and this one has more; use --format ndjson or csv "
            f"(streamed, any size), or json and then `entityscan report` on a part")


def write_output(doc: dict[str, Any], fmt: str, output: Path | None,
                 console: Console | None = None) -> None:
    """Render `doc` as `fmt` to `output`, or to the terminal when no output path is given."""
    if doc.get("schema") == SCREEN_SCHEMA:
        check_whole_document(len(doc.get("results") or ()), fmt)
    console = console or Console()
    if fmt == "table":
        if output is not None:
            buffer = io.StringIO()
            TABLES[doc["schema"]](doc, Console(file=buffer, width=160, color_system=None))
            atomic_write(output, buffer.getvalue())
        else:
            TABLES[doc["schema"]](doc, console)
        return
    text = render_text(doc, fmt)
    if output is None:
        console.file.write(text)
        console.file.flush()
    else:
        atomic_write(output, text)
