"""Delivering the webhook outbox (`entityscan.store.outbox`): an asyncio core with a thin sync
face.

    worker = OutboxWorker(store.outbox, notifier)     # the service: a background thread
    worker.start(); ...; worker.stop()
    deliver_pending(store.outbox, notifier, within=10)  # a CLI run, before it exits

The worker claims due events (a lease, so several processes sharing one database never
deliver the same event), posts at most `concurrency` at once, each bounded by the webhook
timeout as a whole (a receiver that trickles a byte a second is cut off like one that never
answers), and settles each: delivered, retried later with exponential backoff, or dead after
`max_attempts` or a refusal.  Nothing here runs in a request: a slow or dead receiver only
ever holds the worker's own connections.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
from datetime import timedelta
from typing import Any

import httpx

from entityscan.builtins.webhook import Attempt, WebhookNotifier, redact_url
from entityscan.store.clock import now
from entityscan.store.outbox import Claimed, OutboxStore

log = logging.getLogger("entityscan.webhook")
#: An outbox event is tried this many times (the first attempt and the retries) before it
#: goes to the dead letters; with the default 0.5 s backoff doubling up to MAX_BACKOFF that is
#: about 17 minutes of a receiver being down.
MAX_ATTEMPTS = 12
MAX_BACKOFF = 300.0
DEFAULT_CONCURRENCY = 4
POLL_SECONDS = 2.0
KEEP_DELIVERED = timedelta(days=7)


def worker_name() -> str:
    """Who holds a lease: host, process and a random tag (unique across restarts)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{random.getrandbits(32):08x}"


class OutboxWorker:
    """Delivers an outbox until stopped (see the module docstring)."""

    def __init__(self, outbox: OutboxStore, notifier: WebhookNotifier, *,
                 concurrency: int = DEFAULT_CONCURRENCY, max_attempts: int = MAX_ATTEMPTS,
                 poll: float = POLL_SECONDS) -> None:
        self.outbox = outbox
        self.notifier = notifier
        self.concurrency = max(1, concurrency)
        self.max_attempts = max(1, max_attempts)
        self.poll = poll
        self.name = worker_name()
        self.lease = timedelta(seconds=2 * notifier.timeout + 30)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # --- the sync face ------------------------------------------------------------------------
    def start(self) -> None:
        """Deliver in a background thread; `wake()` after new events, `stop()` at the end."""
        self._thread = threading.Thread(target=self._thread_main, name="entityscan-outbox",
                                        daemon=True)
        self._thread.start()
        self.outbox.on_enqueue(self.wake)

    def wake(self) -> None:
        """New events were committed: look now instead of at the next poll."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; deliveries under way get until `timeout` (an unsettled one is
        claimed again after its lease)."""
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def _thread_main(self) -> None:
        asyncio.run(self.serve())

    # --- the async core -----------------------------------------------------------------------
    async def serve(self, until: float | None = None) -> None:
        """Claim and deliver until stopped, or until the monotonic time `until` when nothing
        more is due (a CLI run's bounded drain)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        pruned = 0.0
        async with httpx.AsyncClient(follow_redirects=False) as client:
            while not self._stopping.is_set():
                if until is not None and time.monotonic() >= until:
                    break
                free = self.concurrency - len(tasks)
                claimed: list[Claimed] = []
                if free > 0:
                    try:
                        claimed = await asyncio.to_thread(self.outbox.claim, self.name, free,
                                                          self.lease)
                    except Exception as exc:  # the database may be away for a while
                        log.error("webhook outbox: cannot claim events: %s", exc)
                for event in claimed:
                    task = asyncio.create_task(self._deliver(client, event))
                    tasks.add(task)
                    task.add_done_callback(self._finished(tasks))
                if until is not None and not claimed and not tasks:
                    break  # a drain: nothing due and nothing under way
                if not claimed:
                    self._wake.clear()
                    wait = self.poll if until is None else min(self.poll, until -
                                                               time.monotonic())
                    await _wait(self._wake, max(0.0, wait))
                if until is None and time.monotonic() - pruned > 3600:
                    pruned = time.monotonic()
                    await asyncio.to_thread(self._prune)
            if tasks:
                await asyncio.wait(tasks, timeout=self.notifier.timeout + 1)

    def _finished(self, tasks: set[asyncio.Task[None]]) -> Any:
        def done(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if self._wake is not None:
                self._wake.set()  # a slot is free
        return done

    async def _deliver(self, client: httpx.AsyncClient, event: Claimed) -> None:
        result = await self._attempt(client, event)
        attempts = event.attempts + 1
        where = redact_url(self.notifier.url or "")
        retry_at = None
        if result.delivered:
            pass
        elif result.retry and attempts < self.max_attempts:
            delay = min(MAX_BACKOFF, self.notifier.backoff * 2 ** (attempts - 1))
            retry_at = now() + timedelta(seconds=delay * (0.8 + 0.4 * random.random()))
            log.warning("webhook %s: event %d: %s (attempt %d of %d); retrying at %s", where,
                        event.id, result.problem, attempts, self.max_attempts,
                        retry_at.isoformat(timespec="seconds"))
        else:
            log.error("webhook %s: event %d is dead after %d attempt(s): %s", where, event.id,
                      attempts, result.problem)
        try:
            await asyncio.to_thread(self.outbox.settle, event.id, self.name,
                                    delivered=result.delivered, retry_at=retry_at,
                                    error=result.problem)
        except Exception as exc:  # the lease runs out and the event is tried again
            log.error("webhook outbox: cannot record event %d: %s", event.id, exc)

    async def _attempt(self, client: httpx.AsyncClient, event: Claimed) -> Attempt:
        url = self.notifier.url
        if not url:
            return Attempt(False, False, "no webhook URL configured")
        body, headers = self.notifier.request(event.payload, delivery_id=event.id)
        try:
            async with asyncio.timeout(self.notifier.timeout):
                response = await client.post(url, content=body, headers=headers,
                                             timeout=self.notifier.timeout)
            return self.notifier.judge(response.status_code)
        except TimeoutError as exc:
            return self.notifier.judge(None, exc)
        except httpx.HTTPError as exc:
            return self.notifier.judge(None, exc)

    def _prune(self) -> None:
        try:
            self.outbox.prune(KEEP_DELIVERED)
        except Exception as exc:
            log.warning("webhook outbox: cannot prune delivered events: %s", exc)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass


def deliver_pending(outbox: OutboxStore, notifier: WebhookNotifier, *, within: float,
                    max_attempts: int = MAX_ATTEMPTS) -> None:
    """Deliver what is due now, for at most `within` seconds (what is left stays pending
    for the service or the next run)."""
    worker = OutboxWorker(outbox, notifier, max_attempts=max_attempts, poll=0.2)
    asyncio.run(worker.serve(until=time.monotonic() + within))
