"""Schemathesis against the OpenAPI schema the running service serves (bounded: a few
examples per operation so it stays well under a minute)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from _server_support import running
from _store_support import hik, import_doc, scan_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from entityscan.hooks import make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store

HOST = "127.60.5.20"


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("schema")) / "s.db"


@pytest.fixture(scope="module")
def served(db_file: Path) -> Iterator[tuple[str, str]]:
    store = Store(f"sqlite:///{db_file}")
    ctx = ScreeningContext.load(hooks=make_plugin_manager(Settings(load_entrypoints=False)))
    import_doc(scan_doc([hik("44:19:b6:ee:00:01", "127.60.8.1")], ctx), ctx, store)
    _, token = store.tokens.add("schemathesis", ["admin"])
    with running(create_app(store, ctx, max_body_bytes=1024 * 1024), HOST) as base:
        yield base, token
    store.close()


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> Any:
    base, _ = served
    return schemathesis.openapi.from_url(f"{base}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, served: tuple[str, str]) -> None:
    base, token = served
    # Business rules the schema cannot express (a decision's `until` must be in the future)
    # answer schema-valid requests with 422, so `positive_data_acceptance` is off.  The scan
    # document's devices are the scanner's pydantic model, which coerces 0/1 to booleans,
    # so `negative_data_rejection` is off for that one operation.
    excluded = [positive_data_acceptance]
    if case.operation.path == "/v1/inventory":
        excluded.append(negative_data_rejection)
    case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=excluded, timeout=30)


# ----- hypothesis: the auth and error contract holds for any request -----
ROUTES = [("POST", "/v1/screen"), ("GET", "/v1/lists"), ("POST", "/v1/inventory"),
          ("GET", "/v1/devices"), ("GET", "/v1/findings"), ("GET", "/v1/scans/{n}/diff"),
          ("GET", "/v1/audit/{n}"), ("GET", "/v1/decisions"), ("POST", "/v1/decisions"),
          ("DELETE", "/v1/decisions/{n}")]
SCOPE_OF = {("POST", "/v1/screen"): "screen", ("GET", "/v1/lists"): "screen",
            ("POST", "/v1/inventory"): "ingest", ("POST", "/v1/decisions"): "decide",
            ("DELETE", "/v1/decisions/{n}"): "decide"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=4),
    max_leaves=12)
bodies = st.one_of(json_values.map(lambda v: json.dumps(v).encode()),
                   st.binary(max_size=200),
                   st.builds(lambda items: json.dumps({"items": items}).encode(),
                             st.lists(st.fixed_dictionaries({"id": st.text(max_size=20)},
                                                            optional={"brand": st.text()}),
                                      max_size=3)))


@pytest.fixture(scope="module")
def scoped(served: tuple[str, str], db_file: Path) -> dict[str, str]:
    """One token per scope, in the served store (reached through a second Store)."""
    with Store(f"sqlite:///{db_file}") as store:
        return {scope: store.tokens.add(f"h-{scope}", [scope])[1]
                for scope in ("screen", "ingest", "read", "decide")}


@given(route=st.sampled_from(ROUTES), n=st.integers(-5, 2**40), body=bodies,
       who=st.sampled_from(["none", "garbage", "screen", "ingest", "read", "decide"]),
       query=st.dictionaries(st.sampled_from(["limit", "offset", "verdict", "x", "active_only"]),
                             st.text(max_size=8), max_size=2))
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_any_request_meets_the_auth_and_error_contract(
        served: tuple[str, str], scoped: dict[str, str], route: tuple[str, str], n: int,
        body: bytes, who: str, query: dict[str, str]) -> None:
    base, _ = served
    method, template = route
    headers = {"Content-Type": "application/json"}
    if who == "garbage":
        headers["Authorization"] = "Bearer es_not-a-token"
    elif who != "none":
        headers["Authorization"] = f"Bearer {scoped[who]}"
    r = httpx.request(method, base + template.format(n=n), params=query, headers=headers,
                      content=body if method == "POST" else None, timeout=30)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/json"
        assert isinstance(r.json()["error"], str) and r.json()["error"]
    needed = SCOPE_OF.get(route, "read")
    if who in ("none", "garbage"):
        assert r.status_code == 401  # before anything about the body or the query
    elif who != needed:
        assert r.status_code == 403
    else:
        assert r.status_code in (200, 201, 204, 400, 403, 404, 413, 422), r.text
