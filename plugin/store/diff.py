"""What changed between two saved scans: new, gone, changed and newly flagged devices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Fields whose change is worth reporting; addresses are compared as sets.
COMPARED = ("verdict", "maker", "brand", "model", "firmware", "serial", "mac", "addresses",
            "readable", "platform")


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    record = row.get("record") or {}
    view = {field: record.get(field) for field in COMPARED if field != "verdict"}
    view["addresses"] = sorted(view.get("addresses") or [])
    view["verdict"] = row["verdict"]
    view["maker"] = row.get("maker") if row.get("maker") is not None else record.get("maker")
    return view


def _brief(key: str, row: Mapping[str, Any]) -> dict[str, Any]:
    view = _view(row)
    return {"key": key, "verdict": view["verdict"], "maker": view["maker"],
            "brand": view["brand"], "model": view["model"], "addresses": view["addresses"],
            "score": row.get("score")}


def diff_snapshots(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]],
                   *, scan_a: int | None = None, scan_b: int | None = None) -> dict[str, Any]:
    """Rows are keyed by device key and carry `verdict`, `maker`, `score` and `record`."""
    new = [_brief(k, after[k]) for k in sorted(after.keys() - before.keys())]
    gone = [_brief(k, before[k]) for k in sorted(before.keys() - after.keys())]
    changed = []
    for key in sorted(before.keys() & after.keys()):
        a, b = _view(before[key]), _view(after[key])
        changes = {f: [a[f], b[f]] for f in COMPARED if a.get(f) != b.get(f)}
        if changes:
            changed.append({**_brief(key, after[key]), "changes": changes})
    newly_flagged = [_brief(k, row) for k, row in sorted(after.items())
                     if row["verdict"] == "flagged"
                     and (k not in before or before[k]["verdict"] != "flagged")]
    return {"reason": "scan", "scan_a": scan_a, "scan_b": scan_b, "new": new, "gone": gone,
            "changed": changed, "newly_flagged": newly_flagged,
            "summary": {"new": len(new), "gone": len(gone), "changed": len(changed),
                        "newly_flagged": len(newly_flagged), "before": len(before),
                        "after": len(after)}}
