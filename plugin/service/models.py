"""Request and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from entityscan.model import LineItem, Match
from entityscan.scanners.inventory import Device, ScanError
from entityscan.store.documents import DOCUMENT_ID_PATTERN

MAX_BATCH = 1000
Text = Field(default=None, max_length=5000)


class LineItemIn(BaseModel):
    """One procurement line to screen."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=300, description="your line id, echoed back")
    supplier: str | None = Field(default=None, max_length=500)
    manufacturer: str | None = Field(default=None, max_length=500)
    brand: str | None = Field(default=None, max_length=500)
    description: str | None = Text
    part_number: str | None = Field(default=None, max_length=200)
    extra: dict[str, str] = Field(default_factory=dict, max_length=50,
                                  description="other columns, kept in the audit log")

    def to_line_item(self) -> LineItem:
        return LineItem(**self.model_dump())


class ScreenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[LineItemIn] = Field(min_length=1, max_length=MAX_BATCH,
                                    description=f"1 to {MAX_BATCH} line items")


class AppliedDecision(BaseModel):
    decision_id: int
    decision: str
    kind: str
    who: str
    why: str
    until: str
    recorded_by: str


class ScreenResult(BaseModel):
    id: str
    verdict: str = Field(description="flagged | review | clear (what the lists say)")
    decision: str = Field(description="allow | review | block (what procurement does, after "
                                      "recorded decisions)")
    applied_decision: AppliedDecision | None = None
    maker: str | None
    score: float
    matches: list[Match]
    reasons: list[str]
    audit_id: int | None


class ScreenResponse(BaseModel):
    audit_id: int
    lists_content_hash: str
    summary: dict[str, int]
    results: list[ScreenResult]


class ScanDocumentIn(BaseModel):
    """An `entityscan.scan/1` document (as `entityscan scan --format json` writes it) or a
    bare inventory; verdicts in it are ignored and recomputed."""

    model_config = ConfigDict(extra="allow")

    schema_: str | None = Field(default=None, alias="schema",
                                pattern=r"^entityscan\.scan/[0-9]+$")
    kind: str = Field(default="network", pattern=r"^[a-z][a-z0-9_-]{0,31}$",
                      description="network | usb")
    targets: list[str] = Field(default_factory=list, max_length=10_000)
    started: datetime | None = None
    finished: datetime | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    errors: list[ScanError] = Field(default_factory=list, max_length=100_000)
    devices: list[Device] = Field(max_length=50_000)
    site: str | None = Field(default=None, max_length=64,
                             description="the site it belongs to (default: `default`)")
    document_id: str | None = Field(default=None, pattern=DOCUMENT_ID_PATTERN,
                                    description="the agent's id for this document: a repeat "
                                                "is recognised and stored once")


class DeviceResult(BaseModel):
    key: str
    verdict: str
    decision: str
    applied_decision: AppliedDecision | None = None
    maker: str | None
    brand: str | None = None
    model: str | None = None
    addresses: list[str] = Field(default_factory=list)
    score: float
    reasons: list[str] = Field(default_factory=list)


class InventoryResponse(BaseModel):
    scan_id: int
    audit_id: int
    site: str
    document_id: str | None = None
    duplicate: bool = Field(default=False, description="this document id was stored before: "
                                                       "nothing new was saved (the ids are "
                                                       "the stored scan's; no device list)")
    lists_content_hash: str
    summary: dict[str, Any]
    diff: dict[str, Any]
    devices: list[DeviceResult]


class InventoryQueued(BaseModel):
    document_id: str
    site: str
    queued: bool = Field(description="in the ingest queue: a worker screens and saves it "
                                     "shortly (GET /v1/scans?site= shows it then)")
    duplicate: bool = Field(description="this document id was queued before")


class StoredDevice(DeviceResult):
    site: str
    first_seen: datetime
    last_seen: datetime
    first_scan_id: int
    last_scan_id: int
    kind: str
    lists_content_hash: str


class StoredFinding(BaseModel):
    id: int
    at: datetime
    audit_id: int
    scan_id: int | None
    site: str | None = Field(default=None, description="a scanned device's site")
    subject: str
    subject_kind: str
    verdict: str
    decision: str = Field(description="the decision now, with currently active decisions")
    applied_decision: AppliedDecision | None = None
    maker: str | None
    score: float
    matches: list[Match]
    reasons: list[str]


class ListsResponse(BaseModel):
    lists_content_hash: str
    entries: int
    relations: int
    sources: list[dict[str, Any]]


class DecisionOut(BaseModel):
    id: int
    created_at: datetime
    decision: str
    kind: str
    who: str
    why: str
    until: datetime
    subject: str | None
    entry_id: str | None
    value: str | None
    maker: str | None
    recorded_by: str
    revoked_at: datetime | None
    active: bool


class Health(BaseModel):
    status: str = Field(description="ok | degraded (see `problems`)")
    problems: list[str] = Field(default_factory=list)
    lists_content_hash: str


class ErrorBody(BaseModel):
    error: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str = Field(description="screen | inventory | rescreen | decision | "
                                    "revoke-decision")
    lists_content_hash: str
    scan_id: int | None
    inputs: dict[str, Any]
    result: dict[str, Any]
    prev_hash: str | None = Field(default=None, description="the hash chain: the previous "
                                                            "entry's hash")
    entry_hash: str | None = Field(default=None, description="SHA-256 over this entry and "
                                                             "prev_hash (`audit verify`)")


class SiteSummary(BaseModel):
    site: str
    devices: int = Field(description="devices in the site's registry")
    flagged: int
    review: int
    clear: int
    scans: int
    last_scan_id: int | None
    last_scan_at: datetime | None
    last_scan_kind: str | None
    last_scan_devices: int | None = Field(description="devices the last scan saw")
    stale: bool = Field(description="no scan within the service's --stale-after")


class ScanSummary(BaseModel):
    id: int
    site: str
    kind: str
    received_at: datetime
    started: datetime | None
    finished: datetime | None
    device_count: int
    summary: dict[str, Any]
    actor: str
    source: str | None
    document_id: str | None
    snapshot_pruned: bool


class DeviceSighting(BaseModel):
    scan_id: int
    received_at: datetime
    kind: str
    verdict: str
    maker: str | None
    score: float
    addresses: list[str] = Field(default_factory=list)
    firmware: str | None = None


class DeviceDetail(StoredDevice):
    record: dict[str, Any] = Field(description="the device as last seen: addresses, ids, "
                                               "evidence, attribution reasons")
    matches: list[Match]
    history: list[DeviceSighting] = Field(description="the scans of its site that saw it, "
                                                      "newest first")
