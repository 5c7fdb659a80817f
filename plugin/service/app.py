"""The HTTP screening service (FastAPI): a thin face over `entityscan.operations` and the store.

Every route but `/healthz` needs `Authorization: Bearer <token>` (tokens from
`entityscan tokens add`, stored hashed).  Bodies over `max_body_bytes` get 413, batches over
1,000 items 422, both with a message saying the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from entityscan.decisions import DecisionIn, decide
from entityscan.errors import InputError
from entityscan.model import Finding, Verdict
from entityscan.operations import diff_scans, screen_line_items, screen_scan
from entityscan.screening import ScreeningContext
from entityscan.service.models import (
    AuditEntry,
    DecisionOut,
    DeviceResult,
    ErrorBody,
    Health,
    InventoryResponse,
    ListsResponse,
    ScanDocumentIn,
    ScreenRequest,
    ScreenResponse,
    StoredDevice,
    StoredFinding,
)
from entityscan.service.refresh import ContextSource
from entityscan.store import Store, StoreError, inventory_from_document

log = logging.getLogger("entityscan.service")
DEFAULT_MAX_BODY = 8 * 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not parseable JSON"},
    401: {"model": ErrorBody, "description": "missing, unknown or revoked bearer token"},
    413: {"model": ErrorBody, "description": "request body over the size limit"},
    422: {"model": ErrorBody, "description": "the body or a parameter is invalid"},
}
Scheme = Annotated[HTTPAuthorizationCredentials | None,
                   Depends(HTTPBearer(auto_error=False, description="entityscan API token"))]


def actor(request: Request, credentials: Scheme) -> str:
    """Who is asking: the token's name and id, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>; "
                                 "create one with `entityscan tokens add NAME`)",
                            headers={"WWW-Authenticate": "Bearer"})
    token = request.app.state.store.tokens.check(credentials.credentials)
    if token is None:
        raise HTTPException(401, "unknown or revoked token",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return f"token:{token.name}#{token.id}"


Actor = Annotated[str, Depends(actor)]


def strict_query(request: Request) -> None:
    """Unknown query parameters are a mistake worth reporting (a typo'd filter would
    otherwise silently return everything)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        known |= {p.alias for p in getattr(current, "query_params", ())}
        stack.extend(getattr(current, "dependencies", ()))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise RequestValidationError([{"loc": ("query", unknown[0]), "type": "extra_forbidden",
                                       "msg": f"unknown query parameter (known: "
                                              f"{', '.join(sorted(known)) or 'none'})"}])


def _methods_for(app: FastAPI, path: str) -> list[str]:
    from starlette.routing import Match as RouteMatch

    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({"type": "http", "path": path, "method": "GET"})
        if match is not RouteMatch.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


#: Before answering 413, read and drop at most this much of the rest of an oversized body, for
#: at most DRAIN_SECONDS: a client still sending then reads the answer instead of a connection
#: reset (closing a socket with unread data resets it).  Beyond either bound the connection is
#: simply closed: a refused body never costs more than this.
DRAIN_LIMIT = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, whether announced or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            if int(declared) <= DRAIN_LIMIT:
                await _discard_rest(receive)
            await self._refuse(send, int(declared))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                if message.get("more_body"):
                    await _discard_rest(receive)
                await self._refuse(send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Callable[[Any], Awaitable[None]], size: int) -> None:
        payload = json.dumps({"error": f"request body is {size:,}+ bytes, over the limit of "
                                       f"{self.limit:,} bytes; split the batch",
                              "details": []}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


async def _discard_rest(receive: Callable[[], Awaitable[Any]]) -> None:
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained <= DRAIN_LIMIT:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body"):
                    return


def create_app(store: Store, ctx: ScreeningContext | ContextSource, *,
               max_body_bytes: int = DEFAULT_MAX_BODY) -> FastAPI:
    """The app over `store`; `ctx` is a fixed context or a `ContextSource` that follows
    `entityscan lists update`."""
    source = ctx if isinstance(ctx, ContextSource) else ContextSource.fixed(ctx)
    app = FastAPI(title="entityscan", version="1", dependencies=[Depends(strict_query)],
                  description="Screen procurement line items and scanned inventory against "
                              "restricted-party lists; every answer is audited.")
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.state.store = store
    app.state.contexts = source


    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # name every method of the path, not one route's
            headers["Allow"] = ", ".join(_methods_for(app, request.url.path))
        return JSONResponse({"error": str(exc.detail), "details": []}, exc.status_code,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"where": ".".join(str(p) for p in e.get("loc", ())),
                    "message": e.get("msg", "")} for e in exc.errors()[:20]]
        first = details[0] if details else {"where": "body", "message": "invalid"}
        return JSONResponse({"error": f"{first['where']}: {first['message']}",
                             "details": json.loads(json.dumps(details, default=str))}, 422)

    @app.exception_handler(InputError)
    async def _input(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": str(exc), "details": []}, 422)

    @app.exception_handler(StoreError)
    async def _store(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": str(exc), "details": []}, 404 if "no saved scan" in
                            str(exc) else 503)

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness (no token needed)."""
        return Health(status="ok", lists_content_hash=source.current().lists.content_hash)

    @app.post("/v1/screen", response_model=ScreenResponse, responses=ERRORS, tags=["screening"])
    def screen(body: ScreenRequest, who: Actor, background: BackgroundTasks) -> ScreenResponse:
        """Screen 1 to 1,000 line items: a finding and a decision per item, one audit id."""
        items = [i.to_line_item() for i in body.items]
        done = screen_line_items(items, source.current(), store, actor=who, source="service")
        background.add_task(done.notify)
        counts = {k: v for k, v in done.document["summary"].items() if isinstance(v, int)}
        for value in ("allow", "review", "block"):
            counts[f"decision_{value}"] = sum(1 for o in done.outcomes if o.decision == value)
        return ScreenResponse.model_validate({
            "audit_id": done.audit_id, "lists_content_hash": done.lists_content_hash,
            "summary": counts,
            "results": [{**result, "audit_id": done.audit_id}
                        for result in done.document["results"]]})

    @app.post("/v1/inventory", response_model=InventoryResponse, responses=ERRORS,
              tags=["inventory"])
    def inventory(body: ScanDocumentIn, who: Actor,
                  background: BackgroundTasks) -> InventoryResponse:
        """Store and screen a scan or USB JSON document posted by a site."""
        doc = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        ctx = source.current()
        saved = screen_scan(inventory_from_document(doc), ctx, store, actor=who,
                            source="POST /v1/inventory")
        background.add_task(saved.notify)
        assert saved.diff is not None  # a store was given: the scan was saved and diffed
        devices = [DeviceResult(key=d["id"], verdict=d["verdict"], decision=d["decision"],
                                applied_decision=d["applied_decision"], maker=d.get("maker"),
                                brand=d.get("brand"), model=d.get("model"),
                                addresses=d.get("addresses") or [], score=d["score"],
                                reasons=d["reasons"])
                   for d in saved.document["devices"]]
        return InventoryResponse(scan_id=saved.scan_id, audit_id=saved.audit_id,
                                 lists_content_hash=ctx.lists.content_hash,
                                 summary=saved.document["summary"],
                                 diff=saved.diff["summary"] | {"scan_a": saved.diff["scan_a"]},
                                 devices=devices)

    @app.get("/v1/lists", response_model=ListsResponse, responses=ERRORS, tags=["lists"])
    def lists(who: Actor) -> ListsResponse:
        """The lists in use: sources, counts, dates and the content hash."""
        ctx = source.current()
        return ListsResponse(lists_content_hash=ctx.lists.content_hash,
                             entries=len(ctx.lists), relations=len(ctx.relations),
                             sources=ctx.lists.describe())

    @app.get("/v1/devices", response_model=list[StoredDevice], responses=ERRORS,
             tags=["inventory"])
    def devices(who: Actor, verdict: Verdict | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> list[StoredDevice]:
        """Stored devices with first/last seen, current verdict and decision."""
        active = store.decisions.list(active_at=datetime.now(UTC))
        out = []
        for row in store.inventory.devices(verdict.value if verdict else None, limit, offset):
            finding = Finding.model_validate(row["finding"])
            decision, applied = decide(finding, active)
            out.append(StoredDevice(
                key=row["key"], verdict=row["verdict"], decision=decision,
                applied_decision=applied, maker=row["maker"], brand=row["brand"],
                model=row["model"], addresses=row["record"].get("addresses") or [],
                score=row["score"], reasons=finding.reasons, first_seen=row["first_seen"],
                last_seen=row["last_seen"], first_scan_id=row["first_scan_id"],
                last_scan_id=row["last_scan_id"], kind=row["kind"],
                lists_content_hash=row["lists_content_hash"]))
        return out

    @app.get("/v1/findings", response_model=list[StoredFinding], responses=ERRORS,
             tags=["screening"])
    def findings(who: Actor, min_verdict: Verdict = Verdict.REVIEW,
                 subject: Annotated[str | None, Query(max_length=300)] = None,
                 scan_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> list[StoredFinding]:
        """Recorded findings (`review` and `flagged` results; clear answers are in the audit
        log), newest first, with the decision that applies now."""
        active = store.decisions.list(active_at=datetime.now(UTC))
        out = []
        for row in store.findings.list(min_verdict=min_verdict.value, subject=subject,
                                       scan_id=scan_id, limit=limit, offset=offset):
            finding = Finding.model_validate(row["finding"])
            decision, applied = decide(finding, active)
            out.append(StoredFinding(
                id=row["id"], at=row["at"], audit_id=row["audit_id"], scan_id=row["scan_id"],
                subject=row["subject"], subject_kind=row["subject_kind"],
                verdict=row["verdict"], decision=decision, applied_decision=applied,
                maker=row["maker"], score=row["score"], matches=finding.matches,
                reasons=finding.reasons))
        return out

    @app.get("/v1/scans/{scan_id}/diff", responses={**ERRORS, 404: {"model": ErrorBody}},
             tags=["inventory"])
    def diff(scan_id: int, who: Actor,
             against: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
             ) -> dict[str, Any]:
        """New, gone, changed and newly flagged devices from `against` (default: the
        previous scan of the same kind) to this scan."""
        if scan_id < 1 or scan_id > 2**31 - 1:
            raise HTTPException(404, f"no saved scan with id {scan_id}")
        return diff_scans(store, against, scan_id)

    @app.get("/v1/audit/{audit_id}", response_model=AuditEntry,
             responses={**ERRORS, 404: {"model": ErrorBody}}, tags=["audit"])
    def audit(audit_id: int, who: Actor) -> AuditEntry:
        """One audit entry: inputs, lists content hash, results and who asked."""
        entry = store.audit.entry(audit_id) if 0 < audit_id < 2**31 else None
        if entry is None:
            raise HTTPException(404, f"no audit entry with id {audit_id}")
        return AuditEntry.model_validate(entry)

    @app.post("/v1/decisions", response_model=DecisionOut, status_code=201,
              responses=ERRORS, tags=["decisions"])
    def add_decision(body: DecisionIn, who: Actor) -> DecisionOut:
        """Record a reviewed false positive, an approved exception or an explicit block."""
        if body.until <= datetime.now(UTC):
            raise HTTPException(422, "until is in the past: the decision would never apply")
        decision = store.decisions.add(body, recorded_by=who)
        return _decision_out(decision)

    @app.get("/v1/decisions", response_model=list[DecisionOut], responses=ERRORS,
             tags=["decisions"])
    def list_decisions(who: Actor, active_only: bool = False) -> list[DecisionOut]:
        """Every recorded decision (or only those in force now)."""
        found = store.decisions.list(active_at=datetime.now(UTC) if active_only else None)
        return [_decision_out(d) for d in found]

    @app.delete("/v1/decisions/{decision_id}", status_code=204,
                responses={**ERRORS, 404: {"model": ErrorBody}}, tags=["decisions"])
    def revoke_decision(decision_id: int, who: Actor) -> None:
        """Revoke a decision: later screenings no longer honour it."""
        if not (0 < decision_id < 2**31) or not store.decisions.revoke(decision_id, by=who):
            raise HTTPException(404, f"no active decision with id {decision_id}")

    return app


def _decision_out(decision: Any) -> DecisionOut:
    return DecisionOut(id=decision.id, created_at=decision.created_at,
                       decision=decision.decision.value, kind=decision.kind.value,
                       who=decision.who, why=decision.why, until=decision.until,
                       subject=decision.subject, entry_id=decision.entry_id,
                       value=decision.value, maker=decision.maker,
                       recorded_by=decision.recorded_by, revoked_at=decision.revoked_at,
                       active=decision.active(datetime.now(UTC)))
