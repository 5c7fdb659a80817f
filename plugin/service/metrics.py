"""`GET /metrics` in the Prometheus text format (`prometheus_client`), behind the `metrics`
scope.

Per process: requests by route template, method and status; request latency histograms by
route; line items screened and devices ingested.  With several worker processes
(`entityscan serve --workers N` sets PROMETHEUS_MULTIPROC_DIR; set it yourself for gunicorn)
every worker writes its counts to that folder and a scrape of any worker adds them up.
Read from the database at scrape time, the same from every worker: devices by site verdict,
sites and stale sites, webhook outbox depth by status, the ingest queue, and the age of the
lists in use.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from entityscan.service.refresh import ContextSource
from entityscan.store import Store

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

#: Per-process counters, registered once per process (the default registry; in multiprocess
#: mode they write to PROMETHEUS_MULTIPROC_DIR).
REQUESTS = Counter("entityscan_http_requests", "HTTP requests answered",
                   ["route", "method", "status"])
LATENCY = Histogram("entityscan_http_request_duration_seconds",
                    "Time from request to the end of the answer", ["route", "method"],
                    buckets=LATENCY_BUCKETS)
SCREENED = Counter("entityscan_screened_lines", "Line items screened (POST /v1/screen)")
INGESTED = Counter("entityscan_ingested_devices",
                   "Devices of scan documents stored (POST /v1/inventory, repeats excluded)")


class StoreCollector(Collector):
    """Gauges read from the store at scrape time."""

    def __init__(self, store: Store, contexts: ContextSource, stale_after: timedelta) -> None:
        self.store = store
        self.contexts = contexts
        self.stale_after = stale_after

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sites = self.store.sites.list(self.stale_after)
        devices = GaugeMetricFamily("entityscan_devices", "Devices in the registry by current "
                                    "verdict", labels=["verdict"])
        for verdict in ("flagged", "review", "clear"):
            devices.add_metric([verdict], sum(s[verdict] for s in sites))
        yield devices
        yield GaugeMetricFamily("entityscan_sites", "Sites with a saved scan", value=len(sites))
        yield GaugeMetricFamily("entityscan_sites_stale", "Sites whose last scan is older "
                                "than --stale-after", value=sum(1 for s in sites if s["stale"]))
        outbox = GaugeMetricFamily("entityscan_outbox_events", "Webhook outbox events by "
                                   "status", labels=["status"])
        for status, count in self.store.outbox.counts().items():
            outbox.add_metric([status], count)
        yield outbox
        queue = GaugeMetricFamily("entityscan_ingest_queue", "Agents' documents accepted and "
                                  "not yet saved (pending), or kept as unreadable (failed)",
                                  labels=["status"])
        for status, count in self.store.queue.counts().items():
            queue.add_metric([status], count)
        yield queue
        ctx = self.contexts.current()
        age = GaugeMetricFamily("entityscan_lists_age_seconds", "Seconds since the newest list "
                                "source in use was published (or loaded)", labels=["hash"])
        age.add_metric([ctx.lists.content_hash[:19]], _lists_age(ctx.lists.describe()))
        yield age


def _lists_age(sources: list[dict[str, Any]]) -> float:
    newest: datetime | None = None
    for source in sources:
        for field in ("published", "loaded_at"):
            value = source.get(field)
            if not value:
                continue
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                continue
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            newest = moment if newest is None or moment > newest else newest
            break
    return 0.0 if newest is None else max(0.0, (datetime.now(UTC) - newest).total_seconds())


def render(store: Store, contexts: ContextSource, stale_after: timedelta) -> bytes:
    """The scrape: this process's (or, in multiprocess mode, every worker's) counters plus
    the store's gauges."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        from prometheus_client import REGISTRY as counters
    gauges = CollectorRegistry()
    gauges.register(StoreCollector(store, contexts, stale_after))
    return generate_latest(counters) + generate_latest(gauges)


class InFlight:
    """How many requests this process is answering now (background work yields to them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.count -= 1


IN_FLIGHT = InFlight()


class Metered:
    """ASGI middleware counting and timing every HTTP answer by its route template (never the
    raw path: a scanner of URLs cannot make the label set grow)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any],
                       receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            with IN_FLIGHT:
                await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or _static(scope["path"])
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - start)


_METHODS = frozenset({"GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT", "PATCH"})


def _static(path: str) -> str:
    for prefix in ("/ui/assets/", "/docs/assets/"):
        if path.startswith(prefix):
            return prefix + "*"
    return "other"
