"""Sites at a glance (`store.sites`): per site, its devices by verdict, its last scan and
whether that scan is older than the caller's staleness limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from entityscan.store import schema as t
from entityscan.store.clock import aware, now


class SiteStore:
    """Sites (`store.sites`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list(self, stale_after: timedelta, site: str | None = None) -> list[dict[str, Any]]:
        """Every site that has a saved scan (or only `site`), by name: devices in its
        registry and by current verdict, its last scan (id, time, devices in it) and `stale`
        when that scan is older than `stale_after`."""
        d, s = t.devices.c, t.scans.c
        counts = select(d.site, d.verdict, func.count()).group_by(d.site, d.verdict)
        last = (select(s.site, func.max(s.id).label("last_id"), func.count().label("scans"))
                .group_by(s.site))
        if site is not None:
            counts = counts.where(d.site == site)
            last = last.where(s.site == site)
        with self.engine.connect() as conn:
            verdicts: dict[str, dict[str, int]] = {}
            for name, verdict, n in conn.execute(counts).all():
                verdicts.setdefault(str(name), {})[str(verdict)] = int(n)
            latest = {str(r.site): (int(r.last_id), int(r.scans))
                      for r in conn.execute(last).all()}
            scans = {} if not latest else {
                int(r.id): r for r in conn.execute(select(
                    s.id, s.received_at, s.finished, s.device_count, s.kind).where(
                    s.id.in_([v[0] for v in latest.values()]))).all()}
        moment = now()
        out = []
        for name in sorted(latest.keys() | verdicts.keys()):
            by_verdict = verdicts.get(name, {})
            last_id, scan_count = latest.get(name, (None, 0))
            scan = scans.get(last_id) if last_id is not None else None
            received: datetime | None = aware(scan.received_at) if scan is not None else None
            out.append({
                "site": name, "devices": sum(by_verdict.values()),
                "flagged": by_verdict.get("flagged", 0), "review": by_verdict.get("review", 0),
                "clear": by_verdict.get("clear", 0), "scans": scan_count,
                "last_scan_id": last_id, "last_scan_at": received,
                "last_scan_kind": scan.kind if scan is not None else None,
                "last_scan_devices": scan.device_count if scan is not None else None,
                "stale": received is None or moment - received > stale_after,
            })
        return out
