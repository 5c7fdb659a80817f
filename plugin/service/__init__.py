"""The HTTP screening service: `create_app(store, ctx)` and `serve(...)` (uvicorn)."""

from entityscan.service.app import create_app
from entityscan.service.server import is_loopback, serve

__all__ = ["create_app", "is_loopback", "serve"]
