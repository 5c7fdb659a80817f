"""One chunk of line items screened: findings (matcher and plugins' amendments), decisions,
result records and the chunk's share of the output, rendered.

It runs in the run's own process or in a worker process (`entityscan.parallel`), and needs
nothing but its rows and the run's `ChunkPlan`; what it returns is small for clear lines
(a lean record, a count) and carries the finding only for lines that are not plain clear.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from entityscan.decisions import DEFAULT_DECISION, Decision, Outcome, decide
from entityscan.lineitems import RawItem, to_item
from entityscan.model import Finding, Verdict
from entityscan.output import is_plain_clear, item_fields, result_record, screen_csv_row
from entityscan.screening import ScreeningContext, screen_items

_ALLOW = DEFAULT_DECISION[Verdict.CLEAR]


@dataclass(frozen=True)
class ChunkPlan:
    """What every chunk of one run is screened and rendered with.

    `output`: `json` (result lines of the streamed array), `ndjson`, `csv` (rows with
    `extra_columns` after the fixed ones) or `records` (the result dicts, for formats that
    render a whole document and for the in-memory operation).  `lean`: plain clear lines
    carry only id, verdict, decision and the item (`output.result_record`).
    """

    ctx: ScreeningContext
    decisions: tuple[Decision, ...]
    at: datetime
    output: str
    lean: bool = True
    extra_columns: tuple[str, ...] = ()


# (index in the chunk, verdict, the finding as JSON ("" for a plain clear line), decision,
# applied decision)
Notable = tuple[int, str, str, str, dict[str, Any] | None]


@dataclass
class ChunkOut:
    """A screened chunk.  `notable`: every line that is not plain clear with the default
    decision (what the store and the reaction hooks need); `findings`: every finding as an
    object, only when screened in the run's own process (`keep_findings`)."""

    size: int
    text: str = ""
    records: list[dict[str, Any]] | None = None
    verdicts: dict[str, int] = field(default_factory=dict)
    makers: dict[str, int] = field(default_factory=dict)
    notable: list[Notable] = field(default_factory=list)
    findings: list[Finding] | None = None


_FINDING_BODY = ',"verdict":'  # where a Finding's JSON leaves subject and kind behind


def _record_line(item_id: str, as_json: str, item: dict[str, Any], decision: str,
                 applied: dict[str, Any] | None) -> str:
    """A full result record as JSON text, the finding's fields spliced in from its own JSON
    (pydantic wrote them; decoding and encoding its matches again costs more than the
    matcher on a dense input).  Same fields and order as `output.result_record`."""
    body = as_json[as_json.index(_FINDING_BODY) + 1:-1]
    return (f'{{"id": {_dumps(item_id)}, {body}, "item": {_dumps(item)}, '
            f'"decision": {_dumps(decision)}, "applied_decision": {_dumps(applied)}}}')


# one encoder for every value (json.dumps with options builds a new one per call)
_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode


def screen_chunk(rows: Sequence[RawItem], plan: ChunkPlan, *,
                 keep_findings: bool = False) -> ChunkOut:
    items = [to_item(row) for row in rows]
    findings = screen_items(items, plan.ctx)
    out = ChunkOut(len(rows), verdicts={v.value: 0 for v in Verdict})
    text_only = plan.output in ("json", "ndjson")
    records: list[dict[str, Any]] = []
    lines: list[str] = []
    for index, (item, finding) in enumerate(zip(items, findings, strict=True)):
        decision, applied = decide(finding, plan.decisions, plan.at)
        out.verdicts[finding.verdict.value] += 1
        if is_plain_clear(finding):
            if applied is not None or decision != _ALLOW:
                out.notable.append((index, "clear", "", decision, applied))
            record = result_record(item, finding, decision, applied, lean=plan.lean)
            if text_only:
                lines.append(_dumps(record))
            else:
                records.append(record)
            continue
        as_json = finding.model_dump_json()
        out.notable.append((index, finding.verdict.value, as_json, decision, applied))
        if finding.verdict is not Verdict.CLEAR and finding.maker:
            out.makers[finding.maker] = out.makers.get(finding.maker, 0) + 1
        if text_only:
            lines.append(_record_line(item.id, as_json, item_fields(item), decision, applied))
        else:
            # the record's matches from this JSON: cheaper than dumping each match again
            records.append(result_record(item, finding, decision, applied, lean=plan.lean,
                                         explained=json.loads(as_json)))
    if keep_findings:
        out.findings = findings
    if plan.output == "records":
        out.records = records
    elif plan.output == "json":
        out.text = ",\n".join("    " + line for line in lines)
    elif plan.output == "ndjson":
        out.text = "".join('{"type": "result", ' + line[1:] + "\n" for line in lines)
    elif plan.output == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(screen_csv_row(r, plan.extra_columns) for r in records)
        out.text = buffer.getvalue()
    else:
        raise ValueError(f"unknown chunk output {plan.output!r}")
    return out


def subject_record(row: RawItem) -> dict[str, Any]:
    """The line item as an outcome's subject and a hook event's `subject` (its JSON form)."""
    item_id, supplier, manufacturer, brand, description, part_number, extra = row
    return {"id": item_id, "supplier": supplier, "manufacturer": manufacturer, "brand": brand,
            "description": description, "part_number": part_number, "extra": dict(extra)}


def chunk_outcomes(rows: Sequence[RawItem], out: ChunkOut) -> list[Outcome]:
    """Every line's `Outcome` (what the store records), from the chunk's objects when it was
    screened in this process, else rebuilt from its notable lines (plain clear lines are
    clear and allowed, with nothing to record beyond that)."""
    found = {index: (as_json, decision, applied)
             for index, _, as_json, decision, applied in out.notable}
    outcomes = []
    for index, row in enumerate(rows):
        as_json, decision, applied = found.get(index, ("", _ALLOW, None))
        if out.findings is not None:
            finding = out.findings[index]
        elif as_json:
            finding = Finding.model_validate_json(as_json)
        else:
            finding = Finding(subject=row[0], verdict=Verdict.CLEAR)
        subject = subject_record(row) if finding.verdict is not Verdict.CLEAR else {}
        outcomes.append(Outcome(finding, decision, applied, subject))
    return outcomes
