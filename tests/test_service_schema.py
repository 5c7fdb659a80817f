"""Schemathesis against the OpenAPI schema the running service serves (bounded: a few
examples per operation so it stays well under a minute)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from _server_support import running
from _store_support import hik, import_doc, scan_doc
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from entityscan.hooks import make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.screening import ScreeningContext
from entityscan.service import create_app
from entityscan.store import Store

HOST = "127.60.5.20"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    db = Path(tmp_path_factory.mktemp("schema")) / "s.db"
    store = Store(f"sqlite:///{db}")
    ctx = ScreeningContext.load(hooks=make_plugin_manager(Settings(load_entrypoints=False)))
    import_doc(scan_doc([hik("44:19:b6:ee:00:01", "127.60.8.1")], ctx), ctx, store)
    _, token = store.tokens.add("schemathesis")
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
