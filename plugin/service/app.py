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
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from entityscan.builtins.webhook import WebhookNotifier
from entityscan.decisions import DecisionIn, admin_needed
from entityscan.errors import InputError
from entityscan.model import LineItem, Verdict
from entityscan.operations import diff_scans, screen_line_items
from entityscan.scanners.inventory import Inventory
from entityscan.screening import ScreeningContext, screen_items
from entityscan.service.auth import DOCS_ASSETS, Authenticate
from entityscan.service.background import Background, BackgroundConfig
from entityscan.service.deps import ERRORS, Caller
from entityscan.service.fleet import add_fleet_routes
from entityscan.service.ingest import IngestWorker, save_document, threads_from_env
from entityscan.service.limits import BodyLimit, SecurityHeaders
from entityscan.service.metrics import CONTENT_TYPE as METRICS_TYPE
from entityscan.service.metrics import INGESTED, SCREENED, Metered, render
from entityscan.service.models import (
    DecisionOut,
    DeviceResult,
    ErrorBody,
    Health,
    InventoryQueued,
    InventoryResponse,
    ListsResponse,
    ScanDocumentIn,
    ScreenRequest,
    ScreenResponse,
)
from entityscan.service.refresh import ContextSource
from entityscan.service.ui import add_dashboard
from entityscan.sites import DEFAULT_SITE
from entityscan.store import Store, StoreError
from entityscan.store.documents import check_times, document_identity
from entityscan.store.inventory import DocumentConflict, SavedScan
from entityscan.store.tokens import TokenInfo

log = logging.getLogger("entityscan.service")
DEFAULT_MAX_BODY = 8 * 1024 * 1024
#: A site whose last scan is older than this is `stale` in `/v1/sites` and the dashboard.
DEFAULT_STALE_AFTER = timedelta(days=2)
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
               max_body_bytes: int = DEFAULT_MAX_BODY,
               stale_after: timedelta = DEFAULT_STALE_AFTER,
               background: BackgroundConfig | None = None) -> FastAPI:
    """The app over `store`; `ctx` is a fixed context or a `ContextSource` that follows
    `entityscan lists update` (and the lists other workers publish: `background`).  With a
    webhook configured (the context's plugin manager has `builtin.webhook` with a URL) the
    store's outbox is on and a worker delivers it while the app runs."""
    source = ctx if isinstance(ctx, ContextSource) else ContextSource.fixed(ctx)
    plugin = source.current().hooks.get_plugin("builtin.webhook")
    notifier = plugin if isinstance(plugin, WebhookNotifier) and plugin.url else None
    if notifier is not None:
        store.outbox.enabled = True

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from entityscan.delivery import OutboxWorker, worker_name

        worker = OutboxWorker(store.outbox, notifier) if notifier is not None else None
        if worker is not None:
            worker.start()
        chores = Background(store, source, background or BackgroundConfig(), worker_name())
        chores.start()
        ingest.start()
        try:
            yield
        finally:
            ingest.stop()
            chores.stop()
            if worker is not None:
                worker.stop()

    app = FastAPIOffline(
        title="entityscan", version="1", dependencies=[Depends(strict_query)],
        lifespan=lifespan, redoc_url=None, static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from elsewhere
        description="Screen procurement line items and scanned inventory against "
                    "restricted-party lists; every answer is audited.")
    from entityscan.delivery import worker_name

    ingest = IngestWorker(store, source, worker_name(), on_saved=INGESTED.inc,
                          threads=threads_from_env())
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(Authenticate, store=store, router=app.router)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Metered)
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

    @app.exception_handler(DocumentConflict)
    async def _conflict(_request: Request, exc: DocumentConflict) -> JSONResponse:
        return JSONResponse({"error": str(exc), "details": []}, 409)

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
        SCREENED.inc(len(items))
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

    @app.post("/v1/inventory", response_model=InventoryResponse,
              responses={**ERRORS, 202: {"model": InventoryQueued, "description": "with "
                                         "`Prefer: respond-async`: accepted into the ingest "
                                         "queue, saved shortly by a worker"},
                         409: {"model": ErrorBody, "description": "this document "
                                         "id was stored with other content"}},
              tags=["inventory"])
    def inventory(body: ScanDocumentIn, token: Caller, background: BackgroundTasks,
                  request: Request) -> InventoryResponse | JSONResponse:
        """Store and screen a scan or USB JSON document posted by a site: every device is
        attributed again from its evidence with this server's rules (the document's maker,
        platform, verdict and score are ignored; a disagreement is a reason)."""
        doc = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        identity = document_identity(doc)
        site = identity.site or DEFAULT_SITE
        if identity.document_id is not None:  # a repeat costs a lookup, not a screening
            stored = store.inventory.by_document(identity.document_id, identity.document_hash)
            if stored is not None:
                return _repeat(stored, identity.document_id)
        if "respond-async" in (request.headers.get("prefer") or "").lower():
            return _queue(doc, identity, site, token)
        ctx = source.current()
        saved = save_document(store, ctx, doc, site=site, document_id=identity.document_id,
                              document_hash=identity.document_hash, actor=token.actor)
        assert saved.scan_id is not None and saved.audit_id is not None and saved.diff
        if saved.duplicate:  # the same document committed by a request in flight with it
            return _repeat(SavedScan(saved.scan_id, saved.audit_id, True), identity.document_id)
        background.add_task(saved.notify)
        INGESTED.inc(len(saved.document["devices"]))
        devices = [DeviceResult(key=d["id"], verdict=d["verdict"], decision=d["decision"],
                                applied_decision=d["applied_decision"], maker=d.get("maker"),
                                brand=d.get("brand"), model=d.get("model"),
                                addresses=d.get("addresses") or [], score=d["score"],
                                reasons=d["reasons"])
                   for d in saved.document["devices"]]
        return InventoryResponse(scan_id=saved.scan_id, audit_id=saved.audit_id, site=site,
                                 document_id=saved.document["document_id"],
                                 lists_content_hash=ctx.lists.content_hash,
                                 summary=saved.document["summary"],
                                 diff=saved.diff["summary"] | {"scan_a": saved.diff["scan_a"]},
                                 devices=devices)

    def _queue(doc: dict[str, Any], identity: Any, site: str, token: TokenInfo
               ) -> JSONResponse:
        """Accept the document into the ingest queue: checked (schema, site, id, times) but
        screened later by any worker; 202, or 200 for a document stored before."""
        if identity.document_id is None:
            raise InputError("document_id: a queued document (Prefer: respond-async) needs "
                             "one, so that a repeat is recognised")
        check_times(Inventory(kind=str(doc.get("kind") or "network"),
                              started=doc.get("started") or datetime.now(UTC),
                              finished=doc.get("finished")))
        added = store.queue.add(identity.canonical or doc, document_id=identity.document_id,
                                document_hash=identity.document_hash, site=site,
                                actor=token.actor)
        ingest.wake()
        return JSONResponse(InventoryQueued(document_id=identity.document_id, site=site,
                                            queued=True, duplicate=not added).model_dump(),
                            202)

    def _repeat(stored: SavedScan, document_id: str | None) -> InventoryResponse:
        scan = store.inventory.scan(stored.scan_id) or {}
        try:
            diff = diff_scans(store, None, stored.scan_id)
            summary = diff["summary"] | {"scan_a": diff["scan_a"]}
        except StoreError:  # its snapshot was pruned since
            summary = {}
        return InventoryResponse(scan_id=stored.scan_id, audit_id=stored.audit_id,
                                 site=scan.get("site", DEFAULT_SITE), document_id=document_id,
                                 duplicate=True,
                                 lists_content_hash=scan.get("lists_content_hash", ""),
                                 summary=scan.get("summary") or {}, diff=summary, devices=[])

    @app.get("/v1/lists", response_model=ListsResponse, responses=ERRORS, tags=["lists"])
    def lists(_token: Caller) -> ListsResponse:
        """The lists in use: sources, counts, dates and the content hash."""
        ctx = source.current()
        return ListsResponse(lists_content_hash=ctx.lists.content_hash,
                             entries=len(ctx.lists), relations=len(ctx.relations),
                             sources=ctx.lists.describe())

    add_fleet_routes(app, store, stale_after=stale_after)
    add_dashboard(app)

    @app.get("/metrics", response_class=Response, tags=["service"], responses={
        **ERRORS, 200: {"description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics(_token: Caller) -> Response:
        """Prometheus text format (needs the `metrics` scope): requests, latency, screened
        lines, ingested devices, devices by verdict, sites, outbox depth, lists age."""
        return Response(render(store, source, stale_after), media_type=METRICS_TYPE)

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
