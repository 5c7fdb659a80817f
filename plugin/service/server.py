"""Running the service under uvicorn, with the bind-address safety rule."""

from __future__ import annotations

import ipaddress

from entityscan.errors import InputError
from entityscan.screening import ScreeningContext
from entityscan.service.refresh import ContextSource
from entityscan.store import Store


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, store: Store) -> None:
    """Refuse a non-loopback bind while no API token exists (it would be reachable and
    unusable, or worse, an invitation to disable auth)."""
    if not is_loopback(host) and not store.tokens.has_active():
        raise InputError(f"refusing to listen on {host}: no API token exists yet; create one "
                         f"with `entityscan tokens add NAME` first (or bind 127.0.0.1)")


def serve(store: Store, ctx: ScreeningContext | ContextSource, host: str = "127.0.0.1",
          port: int = 8077,
          *, max_body_bytes: int | None = None, log_level: str = "info") -> None:
    import uvicorn

    from entityscan.service.app import DEFAULT_MAX_BODY, create_app

    check_bind(host, store)
    app = create_app(store, ctx, max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                limit_concurrency=256, timeout_keep_alive=5)
