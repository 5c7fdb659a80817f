"""The HTML report: one self-contained page for a scan or screen document.

Everything a device or a line item says is hostile text, so the template is rendered with
autoescaping on, nothing from the document is ever placed inside the script or style element,
and a Content-Security-Policy allows only this page's own script (by hash) and no fetches at
all.  The page reads without JavaScript; the script adds filtering, sorting and deep links
(`#verdict=flagged&maker=Hikvision&q=text&sort=score&dir=desc`).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from entityscan import __version__
from entityscan.reports import common
from entityscan.reports.common import VERDICT_RANK, VERDICTS

CHART_WIDTH = 640
CHART_LABEL_WIDTH = 180
CHART_BAR_HEIGHT = 22
CHART_GAP = 8
CHART_MAX_MAKERS = 20
# Enough for every field, reason and evidence value of a device; bounds a hostile banner.
SEARCH_TEXT_LIMIT = 8000


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("entityscan.reports", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = readable_time
    return env


def readable_time(value: Any) -> str:
    """`2026-11-26T07:28:30.842054+00:00` -> `2026-11-26 07:28:30 UTC`; anything else as is."""
    if not isinstance(value, str) or not value:
        return "—" if value in (None, "") else str(value)
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
        return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


@cache
def _asset(name: str) -> str:
    return (resources.files("entityscan.reports") / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_html(doc: dict[str, Any]) -> str:
    """The report page for an `entityscan.scan/1` or `entityscan.screen/1` document."""
    script = _asset("report.js")
    style = _asset("report.css")
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src '{_csp_hash(script)}'; base-uri 'none'; form-action 'none'")
    context = build_context(doc)
    template = _environment().get_template("report.html")
    return template.render(**context, csp=csp, script=Markup(script),  # noqa: S704
                           style=Markup(style))  # noqa: S704  (our own files, not the doc's)


def build_context(doc: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, as plain values (the template escapes them)."""
    scan = common.is_scan(doc)
    subjects = common.subjects(doc)
    rows = [_scan_row(s) if scan else _screen_row(s) for s in subjects]
    rows.sort(key=lambda row: (-VERDICT_RANK.get(row["verdict"], 0), -row["score"]))
    counts = {v: sum(1 for s in subjects if s.get("verdict") == v) for v in VERDICTS}
    by_maker = common.count_by(doc, "maker")
    by_site = common.count_by(doc, "site")
    kind = doc.get("kind", "network") if scan else "screen"
    title = {"network": "Network scan report", "usb": "USB device report",
             "screen": "Procurement screening report"}.get(kind, f"{kind} scan report")
    return {
        "scan": scan,
        "kind": kind,
        "title": title,
        "noun": "devices" if scan else "line items",
        "generated": doc.get("generated") or "",
        "rendered": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "source": doc.get("source"),
        "targets": [str(t) for t in doc.get("targets") or []],
        "started": doc.get("started"),
        "finished": doc.get("finished"),
        "parameters": common.safe_parameters(doc.get("parameters")),
        "errors": doc.get("errors") or [],
        "total": len(subjects),
        "counts": counts,
        "unreadable": sum(1 for s in subjects if s.get("readable") is False),
        "by_maker": by_maker,
        "by_site": by_site,
        "site_label": "Site / subnet" if scan else "Supplier",
        "chart": _chart(by_maker),
        "lists": doc.get("lists") or [],
        "lists_content_hash": doc.get("lists_content_hash") or "",
        "columns": SCAN_COLUMNS if scan else SCREEN_COLUMNS,
        "rows": rows,
        "makers": sorted({row["maker"] for row in rows}),
        "sites": sorted({row["site"] for row in rows}),
    }


# (label, sort type) per column; each row's `cells` follow this order.
SCAN_COLUMNS = [("Verdict", "verdict"), ("Device", "text"), ("Site / subnet", "text"),
                ("Label", "text"), ("Maker", "text"), ("Model", "text"),
                ("Firmware", "text"), ("Score", "number"), ("Lists", "text")]
SCREEN_COLUMNS = [("Verdict", "verdict"), ("Item", "text"), ("Supplier", "text"),
                  ("Manufacturer", "text"), ("Brand", "text"), ("Description", "text"),
                  ("Part number", "text"), ("Maker", "text"), ("Score", "number"),
                  ("Lists", "text")]


def _cell(text: Any, sort: Any = None, sub: str | None = None) -> dict[str, Any]:
    shown = "" if text is None else str(text)
    return {"text": shown, "sort": str(sort if sort is not None else shown).lower(),
            "sub": sub}


def _score(subject: dict[str, Any]) -> float:
    try:
        return float(subject.get("score") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _common_row(subject: dict[str, Any], site: str) -> dict[str, Any]:
    verdict = str(subject.get("verdict") or "clear")
    matches = [dict(m) for m in subject.get("matches") or []]
    reasons = [str(r) for r in subject.get("reasons") or []]
    return {
        "verdict": verdict,
        "maker": subject.get("maker") or common.UNATTRIBUTED,
        "site": site,
        "score": _score(subject),
        "reasons": reasons,
        "headline": _headline(reasons),
        "matches": matches,
        "lists": common.list_codes(subject),
        "citations": common.citations(subject),
        "search": " ".join(common.iter_text(subject)).lower()[:SEARCH_TEXT_LIMIT],
    }


def _headline(reasons: list[str], limit: int = 200) -> str:
    """The first reason, short enough for one line; the full text is in the details."""
    if not reasons:
        return "No reason recorded"
    first = reasons[0]
    return first if len(first) <= limit else first[:limit - 1].rstrip() + "…"


def _verdict_cell(verdict: str, readable: bool = True) -> dict[str, Any]:
    return {"text": verdict, "sort": str(VERDICT_RANK.get(verdict, 0)),
            "sub": None if readable else "unreadable"}


def _scan_row(device: dict[str, Any]) -> dict[str, Any]:
    addresses = [str(a) for a in device.get("addresses") or []]
    if device.get("host"):
        where = f"{device['host']} {device.get('vid') or '?'}:{device.get('pid') or '?'}"
        sort_key = f"{device['host']} {device.get('vid')}:{device.get('pid')}"
    else:
        where = ", ".join(addresses[:3]) or str(device.get("id") or "")
        sort_key = common.address_sort_key(addresses)
    site = common.site_of(device, scan=True)
    readable = device.get("readable") is not False
    row = _common_row(device, site)
    score = row["score"]
    row.update({
        "id": str(device.get("id") or where),
        "cells": [
            _verdict_cell(row["verdict"], readable),
            _cell(where, sort_key, device.get("mac")),
            _cell(site),
            _cell(device.get("brand")),
            _cell(device.get("maker"), sub=_confidence(device)),
            _cell(device.get("model")),
            _cell(device.get("firmware")),
            _cell(f"{score:.0f}", f"{score:08.2f}"),
            _cell(" ".join(row["lists"])),
        ],
        "facts": _facts([
            ("Addresses", ", ".join(addresses)), ("MAC", device.get("mac")),
            ("USB host", device.get("host")),
            ("USB id", f"{device.get('vid')}:{device.get('pid')}" if device.get("vid") else None),
            ("Serial", device.get("serial")), ("Label (brand)", device.get("brand")),
            ("Attributed maker", device.get("attributed_maker", device.get("maker"))),
            ("Attribution confidence", _number(device.get("confidence"))
             if device.get("attributed_maker", device.get("maker")) else None),
            ("Platform", device.get("platform")), ("Class", device.get("device_class")),
            ("Model", device.get("model")), ("Firmware", device.get("firmware")),
            ("Readable", None if readable else "no — the device did not answer in full"),
        ]),
        "attribution_reasons": [str(r) for r in device.get("attribution_reasons") or []],
        "attributed_maker": device.get("attributed_maker", device.get("maker")),
        "evidence": [dict(e) for e in device.get("evidence") or []],
        "device_errors": [str(e) for e in device.get("errors") or []],
    })
    return row


def _screen_row(result: dict[str, Any]) -> dict[str, Any]:
    item = result.get("item") or {}
    site = common.site_of(result, scan=False)
    row = _common_row(result, site)
    score = row["score"]
    extra = item.get("extra") or {}
    row.update({
        "id": str(result.get("id") or ""),
        "cells": [
            _verdict_cell(row["verdict"]),
            _cell(result.get("id")),
            _cell(item.get("supplier")),
            _cell(item.get("manufacturer")),
            _cell(item.get("brand")),
            _cell(item.get("description")),
            _cell(item.get("part_number")),
            _cell(result.get("maker")),
            _cell(f"{score:.0f}", f"{score:08.2f}"),
            _cell(" ".join(row["lists"])),
        ],
        "facts": _facts([(str(k), v) for k, v in extra.items()]),
        "attribution_reasons": [],
        "attributed_maker": None,
        "evidence": [],
        "device_errors": [],
    })
    return row


def _facts(pairs: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(label, str(value)) for label, value in pairs if value not in (None, "")]


def _confidence(device: dict[str, Any]) -> str | None:
    confidence = device.get("confidence")
    if not device.get("maker") or not isinstance(confidence, int | float):
        return None
    return f"confidence {confidence:.2f}"


def _number(value: Any) -> str | None:
    return f"{value:.2f}" if isinstance(value, int | float) else None


def _chart(by_maker: list[tuple[str, dict[str, int]]]) -> dict[str, Any]:
    """Geometry of a horizontal stacked bar chart of findings (flagged + review) per maker."""
    rows = [(maker, c) for maker, c in by_maker if c["flagged"] + c["review"] > 0]
    rows = rows[:CHART_MAX_MAKERS]
    peak = max((c["flagged"] + c["review"] for _, c in rows), default=0)
    plot = CHART_WIDTH - CHART_LABEL_WIDTH - 40
    bars = []
    for index, (maker, counts) in enumerate(rows):
        y = index * (CHART_BAR_HEIGHT + CHART_GAP)
        flagged_w = plot * counts["flagged"] / peak if peak else 0
        review_w = plot * counts["review"] / peak if peak else 0
        bars.append({
            "maker": maker,
            "label": maker if len(maker) <= 26 else maker[:25] + "…",
            "y": y, "text_y": y + CHART_BAR_HEIGHT * 0.7,
            "flagged": counts["flagged"], "review": counts["review"],
            "flagged_w": round(flagged_w, 1), "review_x": round(CHART_LABEL_WIDTH + flagged_w, 1),
            "review_w": round(review_w, 1),
            "total_x": round(CHART_LABEL_WIDTH + flagged_w + review_w + 6, 1),
        })
    height = max(len(bars) * (CHART_BAR_HEIGHT + CHART_GAP), CHART_BAR_HEIGHT)
    return {"bars": bars, "width": CHART_WIDTH, "height": height, "label_width": CHART_LABEL_WIDTH,
            "bar_height": CHART_BAR_HEIGHT, "omitted": max(0, len(
                [m for m, c in by_maker if c["flagged"] + c["review"] > 0]) - len(rows))}
