"""The service's read routes over the fleet: sites, devices (with their evidence and
history), findings, scans, diffs and audit entries.  Each needs the `read` scope (`auth`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from entityscan.decisions import decide
from entityscan.model import Finding, Verdict
from entityscan.operations import diff_scans
from entityscan.service.deps import ERRORS, NOT_FOUND, Caller
from entityscan.service.models import (
    AuditEntry,
    DeviceDetail,
    DeviceSighting,
    ScanSummary,
    SiteSummary,
    StoredDevice,
    StoredFinding,
)
from entityscan.sites import SITE_PATTERN
from entityscan.store import Store

Site = Annotated[str | None, Query(pattern=SITE_PATTERN, max_length=64,
                                   description="only this site")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Id = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


def _stored_device(row: dict[str, Any], active: list[Any]) -> dict[str, Any]:
    finding = Finding.model_validate(row["finding"])
    decision, applied = decide(finding, active)
    return {"site": row["site"], "key": row["key"], "verdict": row["verdict"],
            "decision": decision, "applied_decision": applied, "maker": row["maker"],
            "brand": row["brand"], "model": row["model"],
            "addresses": row["record"].get("addresses") or [], "score": row["score"],
            "reasons": finding.reasons, "first_seen": row["first_seen"],
            "last_seen": row["last_seen"], "first_scan_id": row["first_scan_id"],
            "last_scan_id": row["last_scan_id"], "kind": row["kind"],
            "lists_content_hash": row["lists_content_hash"], "matches": finding.matches}


def add_fleet_routes(app: FastAPI, store: Store, *, stale_after: timedelta) -> None:
    """The routes on `app` itself (the token layer looks each route's scope up by its
    path; an included router would hide them behind a wrapper)."""

    @app.get("/v1/sites", response_model=list[SiteSummary], responses=ERRORS,
                tags=["sites"])
    def sites(_token: Caller, site: Site = None) -> list[SiteSummary]:
        """Every site with a saved scan: devices by current verdict, the last scan, and
        `stale` when it is older than the service's `--stale-after`."""
        return [SiteSummary.model_validate(s) for s in store.sites.list(stale_after, site)]

    @app.get("/v1/devices", response_model=list[StoredDevice], responses=ERRORS,
                tags=["inventory"])
    def devices(_token: Caller, verdict: Verdict | None = None, site: Site = None,
                maker: Annotated[str | None, Query(max_length=200)] = None,
                q: Annotated[str | None, Query(max_length=200, description="part of the "
                                               "key, brand or model")] = None,
                limit: Limit = 100, offset: Offset = 0) -> list[StoredDevice]:
        """Stored devices with first/last seen, current verdict and decision."""
        active = store.decisions.list(active_at=datetime.now(UTC))
        rows = store.inventory.devices(verdict.value if verdict else None, limit, offset,
                                       site=site, maker=maker, query=q)
        return [StoredDevice.model_validate(_stored_device(r, active)) for r in rows]

    @app.get("/v1/devices/detail", response_model=DeviceDetail, responses=NOT_FOUND,
                tags=["inventory"])
    def device(_token: Caller,
               site: Annotated[str, Query(pattern=SITE_PATTERN, max_length=64)],
               key: Annotated[str, Query(min_length=1, max_length=300)]) -> DeviceDetail:
        """One device of a site: its record with the evidence trail, its finding and
        decision, and the scans that saw it."""
        row = store.inventory.device(site, key)
        if row is None:
            raise HTTPException(404, f"no device {key!r} at site {site!r}")
        active = store.decisions.list(active_at=datetime.now(UTC))
        history = [DeviceSighting(scan_id=h["scan_id"], received_at=h["received_at"],
                                  kind=h["kind"], verdict=h["verdict"], maker=h["maker"],
                                  score=h["score"],
                                  addresses=(h["record"] or {}).get("addresses") or [],
                                  firmware=(h["record"] or {}).get("firmware"))
                   for h in store.inventory.history(site, key)]
        return DeviceDetail.model_validate({**_stored_device(row, active),
                                            "record": row["record"], "history": history})

    @app.get("/v1/findings", response_model=list[StoredFinding], responses=ERRORS,
                tags=["screening"])
    def findings(_token: Caller, min_verdict: Verdict = Verdict.REVIEW,
                 subject: Annotated[str | None, Query(max_length=300)] = None,
                 scan_id: Id = None, site: Site = None, limit: Limit = 100,
                 offset: Offset = 0) -> list[StoredFinding]:
        """Recorded findings (`review` and `flagged` results; clear answers are in the audit
        log), newest first, with the decision that applies now."""
        active = store.decisions.list(active_at=datetime.now(UTC))
        out = []
        for row in store.findings.list(min_verdict=min_verdict.value, subject=subject,
                                       scan_id=scan_id, limit=limit, offset=offset,
                                       site=site):
            finding = Finding.model_validate(row["finding"])
            decision, applied = decide(finding, active)
            out.append(StoredFinding(
                id=row["id"], at=row["at"], audit_id=row["audit_id"], scan_id=row["scan_id"],
                site=row.get("site"), subject=row["subject"],
                subject_kind=row["subject_kind"], verdict=row["verdict"], decision=decision,
                applied_decision=applied, maker=row["maker"], score=row["score"],
                matches=finding.matches, reasons=finding.reasons))
        return out

    @app.get("/v1/scans", response_model=list[ScanSummary], responses=ERRORS,
                tags=["inventory"])
    def scans(_token: Caller, site: Site = None, limit: Limit = 20,
              offset: Offset = 0) -> list[ScanSummary]:
        """Saved scans, newest first."""
        return [ScanSummary.model_validate({**s, "snapshot_pruned": s["pruned_at"] is not None})
                for s in store.inventory.scans(limit, offset, site=site)]

    @app.get("/v1/scans/{scan_id}/diff", responses=NOT_FOUND, tags=["inventory"])
    def diff(scan_id: int, _token: Caller, against: Id = None) -> dict[str, Any]:
        """New, gone, changed and newly flagged devices from `against` (default: the
        previous scan of the same site and kind) to this scan."""
        if scan_id < 1 or scan_id > 2**31 - 1:
            raise HTTPException(404, f"no saved scan with id {scan_id}")
        return diff_scans(store, against, scan_id)

    @app.get("/v1/audit/{audit_id}", response_model=AuditEntry, responses=NOT_FOUND,
                tags=["audit"])
    def audit(audit_id: int, _token: Caller) -> AuditEntry:
        """One audit entry: inputs, lists content hash, results and who asked."""
        entry = store.audit.entry(audit_id) if 0 < audit_id < 2**31 else None
        if entry is None:
            raise HTTPException(404, f"no audit entry with id {audit_id}")
        return AuditEntry.model_validate(entry)

