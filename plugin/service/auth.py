"""Who may do what: bearer tokens and their scopes, checked before anything else.

`Authenticate` is the outermost layer of the app: for every path but the public ones
(`/healthz`, the OpenAPI schema and the docs page with its packaged assets) it checks the
bearer token (401), then the scope the route needs (403), and only then lets the request
reach body limits, JSON parsing and validation.  So an unauthenticated caller learns nothing
about what a valid body looks like, and an out-of-scope token cannot probe a route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from anyio import to_thread
from starlette.routing import Match

from entityscan.store import Store
from entityscan.store.tokens import TokenInfo

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/ui"})
DOCS_ASSETS = "/docs/assets"
#: The dashboard's page and its packaged script and style: no data in them (the page asks the
#: API with the token its user enters, so every answer it shows passes the checks below).
UI_ASSETS = "/ui/assets"

#: The scope each route needs: (method, route path) -> scope.
ROUTE_SCOPES: Mapping[tuple[str, str], str] = {
    ("POST", "/v1/screen"): "screen",
    ("GET", "/v1/lists"): "screen",
    ("POST", "/v1/inventory"): "ingest",
    ("GET", "/v1/devices"): "read",
    ("GET", "/v1/devices/detail"): "read",
    ("GET", "/v1/sites"): "read",
    ("GET", "/v1/scans"): "read",
    ("GET", "/metrics"): "metrics",
    ("GET", "/v1/findings"): "read",
    ("GET", "/v1/scans/{scan_id}/diff"): "read",
    ("GET", "/v1/audit/{audit_id}"): "read",
    ("GET", "/v1/decisions"): "read",
    ("POST", "/v1/decisions"): "decide",
    ("DELETE", "/v1/decisions/{decision_id}"): "decide",
}


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith((DOCS_ASSETS + "/", UI_ASSETS + "/"))


async def error(send: Send, status: int, message: str,
                headers: Mapping[str, str] | None = None) -> None:
    """An error in the service's one error shape, `{"error", "details"}`."""
    payload = json.dumps({"error": message, "details": []}).encode()
    head = [(b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


class Authenticate:
    """ASGI middleware: 401 without a valid token, 403 outside its scopes (see module doc)."""

    def __init__(self, app: Any, store: Store, router: Any) -> None:
        self.app = app
        self.store = store
        self.router = router

    def _needed(self, scope: Scope) -> str | None:
        """The scope the matched route needs (None: no route matched; the app answers)."""
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return ROUTE_SCOPES.get((scope["method"], getattr(route, "path", "")), "admin")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        secret = _bearer(scope)
        if secret is None:
            await error(send, 401, "missing bearer token (Authorization: Bearer <token>; "
                                   "create one with `entityscan tokens add NAME`)",
                        {"WWW-Authenticate": "Bearer"})
            return
        token: TokenInfo | None = await to_thread.run_sync(self.store.tokens.check, secret)
        if token is None:
            await error(send, 401, "unknown or revoked token",
                        {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return
        needed = self._needed(scope)
        if needed is not None and not token.allows(needed):
            await error(send, 403, f"token {token.name}#{token.id} may not "
                                   f"{scope['method']} {scope['path']}: that needs the "
                                   f"`{needed}` scope (it has: "
                                   f"{', '.join(sorted(token.scopes))})",
                        {"WWW-Authenticate": 'Bearer error="insufficient_scope", '
                                             f'scope="{needed}"'})
            return
        scope.setdefault("state", {})["token"] = token
        await self.app(scope, receive, send)
