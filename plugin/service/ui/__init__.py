"""The fleet dashboard at `/ui`: one read-only page with its own script and style.

The page holds no data: its script asks the API (`/v1/sites`, `/v1/devices`, …) with the
token its user enters once per browser session (kept in `sessionStorage`, gone when the tab
closes), so it sees exactly what that token may read.  Everything comes from this service:
the page, its script, the report's style sheet (`entityscan.reports`, the same look as the
HTML report) and a few rules of its own; the Content-Security-Policy allows nothing from
another host, no inline script and no connection elsewhere.  The script builds the page with
`textContent` only, so a hostile banner in a device record stays text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import Response

from entityscan.service.auth import UI_ASSETS

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ASSETS = {
    "dashboard.js": ("entityscan.service.ui", "dashboard.js", "text/javascript"),
    "dashboard.css": ("entityscan.service.ui", "dashboard.css", "text/css"),
    "report.css": ("entityscan.reports", "templates/report.css", "text/css"),
}


@cache
def _read(package: str, name: str) -> bytes:
    return (resources.files(package) / name).read_bytes()


def _answer(body: bytes, media_type: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache",
                             "X-Frame-Options": "DENY"})


def add_dashboard(app: FastAPI) -> None:
    @app.get("/ui", include_in_schema=False)
    def page() -> Response:
        return _answer(_read("entityscan.service.ui", "dashboard.html"),
                       "text/html; charset=utf-8")

    @app.get(UI_ASSETS + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        found = ASSETS.get(name)
        if found is None:
            return Response(b'{"error": "no such asset", "details": []}', 404,
                            media_type="application/json")
        package, path, media_type = found
        return _answer(_read(package, path), f"{media_type}; charset=utf-8")
