"""Saving posted scan documents: at once (`POST /v1/inventory`), or later from the ingest
queue (`Prefer: respond-async`, what site agents send) by a thread in every worker.

Both paths do the same: attribute every device again from its evidence with this server's
rules, screen, save under the document's site and id (a repeat is stored once), diff against
the site's previous scan, and fire the reaction hooks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from functools import lru_cache
from typing import Any

from entityscan.errors import EntityscanError, InputError
from entityscan.hooks import EntityscanPluginManager, signatures
from entityscan.operations import ScanScreening, screen_scan
from entityscan.screening import ScreeningContext
from entityscan.service.metrics import IN_FLIGHT
from entityscan.service.refresh import ContextSource
from entityscan.store import Store, inventory_from_document
from entityscan.store.queue import Queued

log = logging.getLogger("entityscan.service")
#: A document is saved in well under a second; a lease that runs out only means another
#: worker saves it too, and the document id keeps that to one scan.
LEASE = timedelta(seconds=60)
IDLE_POLL = 0.5
RETRY_PAUSE = 2.0
YIELD_AT_MOST = 5.0
THREADS_ENV = "ENTITYSCAN_INGEST_THREADS"
# One saving thread per worker: a second one in the same process competes with answering
# pushes for the interpreter lock (p99 per push 1.76-2.11 s with two, 1.52-1.60 s with one, same
# throughput: `bench/fleet_bench.py ingest --sites 200 --workers 2`, alternated in one session).
DEFAULT_THREADS = 1


def threads_from_env() -> int:
    """`ENTITYSCAN_INGEST_THREADS`, checked: a whole number, 1 or more (default one)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_THREADS
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(f"{THREADS_ENV}={raw!r}: give a whole number of saving threads per "
                         "worker, 1 or more")
    return int(raw)


@lru_cache(maxsize=4)
def server_rules(hooks: EntityscanPluginManager) -> Any:
    """This server's signature rules (bundled plus plugins'), compiled once per manager."""
    return signatures(hooks)


def save_document(store: Store, ctx: ScreeningContext, doc: dict[str, Any], *, site: str,
                  document_id: str | None, document_hash: str, actor: str,
                  source: str = "POST /v1/inventory") -> ScanScreening:
    """Attribute, screen and save one posted document (see the module docstring)."""
    inventory = inventory_from_document(doc, rules=server_rules(ctx.hooks))
    return screen_scan(inventory, ctx, store, actor=actor, source=source, site=site,
                       document_id=document_id, document_hash=document_hash)


class IngestWorker:
    """Saves queued documents until stopped: `threads` at a time per worker process (one by
    default, `ENTITYSCAN_INGEST_THREADS` to change it), the processes sharing the queue through
    the database."""

    def __init__(self, store: Store, contexts: ContextSource, name: str,
                 on_saved: Any = None, threads: int = DEFAULT_THREADS) -> None:
        self.store = store
        self.contexts = contexts
        self.name = name
        self.on_saved = on_saved
        self.threads = max(1, threads)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._running: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"entityscan-ingest-{n}",
                                      daemon=True)
            thread.start()
            self._running.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._running:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception as exc:  # the database may be away for a while
                log.error("ingest queue: %s", exc)
                self._stop.wait(RETRY_PAUSE)
                continue
            if not busy:
                self._wake.wait(IDLE_POLL)
                self._wake.clear()

    def _yield_to_requests(self) -> None:
        """Answering agents comes first: a push waits for one insert, and a screening is
        someone waiting; while requests are being answered here, queued documents wait a
        little (at most YIELD_AT_MOST, so the queue always moves)."""
        deadline = time.monotonic() + YIELD_AT_MOST
        while IN_FLIGHT.count > 0 and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.02)

    def run_once(self) -> bool:
        """Save the oldest queued document; False when none was waiting."""
        self._yield_to_requests()
        queued = self.store.queue.claim(self.name, LEASE)
        if queued is None:
            return False
        self._save(queued)
        return True

    def _save(self, queued: Queued) -> None:
        try:
            done = save_document(self.store, self.contexts.current(), queued.document,
                                 site=queued.site, document_id=queued.document_id,
                                 document_hash=queued.document_hash, actor=queued.actor,
                                 source="POST /v1/inventory (queued)")
        except InputError as exc:  # the document itself: another try cannot help
            log.error("ingest queue: document %s cannot be saved: %s", queued.document_id, exc)
            self.store.queue.failed(queued, self.name, str(exc), final=True)
            return
        except EntityscanError as exc:
            self.store.queue.failed(queued, self.name, str(exc), final=False)
            raise
        self.store.queue.done(queued)
        if not done.duplicate:
            if self.on_saved is not None:
                self.on_saved(len(done.document["devices"]))
            errors = done.notify()
            for error in errors:
                log.warning("ingest queue: a reaction hook failed: %s", error)
