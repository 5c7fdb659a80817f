"""The HTTP screening service (FastAPI): a thin face over `entityscan.operations` and the store.

Every route but `/healthz`, the OpenAPI schema and `/docs` needs `Authorization: Bearer
<token>` (tokens from `entityscan tokens add`, stored hashed) whose scopes allow it; that is
checked first (`auth`: 401, then 403), before the body is read.  Then bodies over
`max_body_bytes` get 413, a body that is not JSON 400, batches over 1,000 items and other
invalid input 422, each with a message saying what and where.  Webhook events are written to
the store's outbox with the findings and delivered by a background worker
(`entityscan.delivery`): no request waits for a receiver.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from entityscan.builtins.webhook import WebhookNotifier
from entityscan.decisions import DecisionIn, admin_needed, decide
from entityscan.errors import InputError
from entityscan.hooks import EntityscanPluginManager, signatures
from entityscan.model import Finding, LineItem, Verdict
from entityscan.operations import diff_scans, screen_line_items, screen_scan
from entityscan.screening import ScreeningContext, screen_items
from entityscan.service.auth import DOCS_ASSETS, Authenticate
from entityscan.service.limits import BodyLimit, SecurityHeaders
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
from entityscan.store.tokens import TokenInfo

log = logging.getLogger("entityscan.service")
DEFAULT_MAX_BODY = 8 * 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not parseable JSON"},
    401: {"model": ErrorBody, "description": "missing, unknown or revoked bearer token"},
    403: {"model": ErrorBody, "description": "the token's scopes do not allow this"},
    413: {"model": ErrorBody, "description": "request body over the size limit"},
    422: {"model": ErrorBody, "description": "the body or a parameter is invalid"},
}
Scheme = Annotated[HTTPAuthorizationCredentials | None,
                   Depends(HTTPBearer(auto_error=False, description="entityscan API token"))]


def caller(request: Request, _credentials: Scheme) -> TokenInfo:
    """The token the `Authenticate` layer checked (the scheme dependency documents it)."""
    token = getattr(request.state, "token", None)
    if not isinstance(token, TokenInfo):  # unreachable behind Authenticate; never let through
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token


Caller = Annotated[TokenInfo, Depends(caller)]


@lru_cache(maxsize=4)
def _rules(hooks: EntityscanPluginManager) -> Any:
    """This server's signature rules (bundled plus plugins'), compiled once per manager."""
    return signatures(hooks)


def _names_a_listed_party(ctx: ScreeningContext) -> Any:
    def check(value: str) -> bool:
        finding = screen_items([LineItem(id="decision-value", manufacturer=value)], ctx)[0]
        return finding.verdict is Verdict.FLAGGED
    return check


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


def create_app(store: Store, ctx: ScreeningContext | ContextSource, *,
               max_body_bytes: int = DEFAULT_MAX_BODY) -> FastAPI:
    """The app over `store`; `ctx` is a fixed context or a `ContextSource` that follows
    `entityscan lists update`.  With a webhook configured (the context's plugin manager has
    `builtin.webhook` with a URL) the store's outbox is on and a worker delivers it while
    the app runs."""
    source = ctx if isinstance(ctx, ContextSource) else ContextSource.fixed(ctx)
    plugin = source.current().hooks.get_plugin("builtin.webhook")
    notifier = plugin if isinstance(plugin, WebhookNotifier) and plugin.url else None
    if notifier is not None:
        store.outbox.enabled = True

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from entityscan.delivery import OutboxWorker

        worker = OutboxWorker(store.outbox, notifier) if notifier is not None else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPIOffline(
        title="entityscan", version="1", dependencies=[Depends(strict_query)],
        lifespan=lifespan, redoc_url=None, static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from elsewhere
        description="Screen procurement line items and scanned inventory against "
                    "restricted-party lists; every answer is audited.")
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(Authenticate, store=store, router=app.router)
    app.add_middleware(SecurityHeaders)
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
        errors = exc.errors()
        broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if broken is not None:  # not JSON at all: 400, as documented
            where = broken.get("loc", ("body", "?"))
            why = (broken.get("ctx") or {}).get("error") or broken.get("msg")
            return JSONResponse({"error": f"body is not valid JSON at character "
                                          f"{where[-1]}: {why}", "details": []}, 400)
        details = [{"where": ".".join(str(p) for p in e.get("loc", ())),
                    "message": e.get("msg", "")} for e in errors[:20]]
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
        """Liveness (no token needed): `ok`, or `degraded` with the reasons (e.g. the
        installed lists vanished and the last good copy is still in use)."""
        ctx = source.current()  # looks at the installed copy when it is time to
        problems = source.problems()
        return Health(status="degraded" if problems else "ok", problems=problems,
                      lists_content_hash=ctx.lists.content_hash)

    @app.post("/v1/screen", response_model=ScreenResponse, responses=ERRORS, tags=["screening"])
    def screen(body: ScreenRequest, token: Caller,
               background: BackgroundTasks) -> ScreenResponse:
        """Screen 1 to 1,000 line items: a finding and a decision per item, one audit id."""
        items = [i.to_line_item() for i in body.items]
        done = screen_line_items(items, source.current(), store, actor=token.actor,
                                 source="service")
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
    def inventory(body: ScanDocumentIn, token: Caller,
                  background: BackgroundTasks) -> InventoryResponse:
        """Store and screen a scan or USB JSON document posted by a site: every device is
        attributed again from its evidence with this server's rules (the document's maker,
        platform, verdict and score are ignored; a disagreement is a reason)."""
        doc = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        ctx = source.current()
        saved = screen_scan(inventory_from_document(doc, rules=_rules(ctx.hooks)), ctx, store,
                            actor=token.actor, source="POST /v1/inventory")
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
    def lists(_token: Caller) -> ListsResponse:
        """The lists in use: sources, counts, dates and the content hash."""
        ctx = source.current()
        return ListsResponse(lists_content_hash=ctx.lists.content_hash,
                             entries=len(ctx.lists), relations=len(ctx.relations),
                             sources=ctx.lists.describe())

    @app.get("/v1/devices", response_model=list[StoredDevice], responses=ERRORS,
             tags=["inventory"])
    def devices(_token: Caller, verdict: Verdict | None = None,
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
    def findings(_token: Caller, min_verdict: Verdict = Verdict.REVIEW,
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
    def diff(scan_id: int, _token: Caller,
             against: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
             ) -> dict[str, Any]:
        """New, gone, changed and newly flagged devices from `against` (default: the
        previous scan of the same kind) to this scan."""
        if scan_id < 1 or scan_id > 2**31 - 1:
            raise HTTPException(404, f"no saved scan with id {scan_id}")
        return diff_scans(store, against, scan_id)

    @app.get("/v1/audit/{audit_id}", response_model=AuditEntry,
             responses={**ERRORS, 404: {"model": ErrorBody}}, tags=["audit"])
    def audit(audit_id: int, _token: Caller) -> AuditEntry:
        """One audit entry: inputs, lists content hash, results and who asked."""
        entry = store.audit.entry(audit_id) if 0 < audit_id < 2**31 else None
        if entry is None:
            raise HTTPException(404, f"no audit entry with id {audit_id}")
        return AuditEntry.model_validate(entry)

    @app.post("/v1/decisions", response_model=DecisionOut, status_code=201,
              responses=ERRORS, tags=["decisions"])
    def add_decision(body: DecisionIn, token: Caller) -> DecisionOut:
        """Record a reviewed false positive, an approved exception or an explicit block.
        The token is recorded (`recorded_by`) beside the free-text `who`; a decision that
        covers a whole maker or runs more than a year needs the `admin` scope."""
        created = datetime.now(UTC)
        if body.until <= created:
            raise HTTPException(422, "until is in the past: the decision would never apply")
        _authorise(body, created, token, "record")
        decision = store.decisions.add(body, recorded_by=token.actor)
        return _decision_out(decision)

    @app.get("/v1/decisions", response_model=list[DecisionOut], responses=ERRORS,
             tags=["decisions"])
    def list_decisions(_token: Caller, active_only: bool = False) -> list[DecisionOut]:
        """Every recorded decision (or only those in force now)."""
        found = store.decisions.list(active_at=datetime.now(UTC) if active_only else None)
        return [_decision_out(d) for d in found]

    @app.delete("/v1/decisions/{decision_id}", status_code=204,
                responses={**ERRORS, 404: {"model": ErrorBody}}, tags=["decisions"])
    def revoke_decision(decision_id: int, token: Caller) -> None:
        """Revoke a decision: later screenings no longer honour it.  A token may revoke only
        what its scopes would let it record."""
        found = store.decisions.get(decision_id) if 0 < decision_id < 2**31 else None
        if found is None or found.revoked_at is not None:
            raise HTTPException(404, f"no active decision with id {decision_id}")
        _authorise(found, found.created_at, token, "revoke")
        if not store.decisions.revoke(decision_id, by=token.actor):
            raise HTTPException(404, f"no active decision with id {decision_id}")

    def _authorise(decision: DecisionIn, created: datetime, token: TokenInfo,
                   what: str) -> None:
        if token.allows("admin"):
            return
        why = admin_needed(decision, created, _names_a_listed_party(source.current()))
        if why is not None:
            raise HTTPException(403, f"token {token.name}#{token.id} may not {what} this "
                                     f"decision without the `admin` scope: {why}")

    return app


def _decision_out(decision: Any) -> DecisionOut:
    return DecisionOut(id=decision.id, created_at=decision.created_at,
                       decision=decision.decision.value, kind=decision.kind.value,
                       who=decision.who, why=decision.why, until=decision.until,
                       subject=decision.subject, entry_id=decision.entry_id,
                       value=decision.value, maker=decision.maker,
                       recorded_by=decision.recorded_by, revoked_at=decision.revoked_at,
                       active=decision.active(datetime.now(UTC)))
