"""Default plugin `builtin.webhook`: post new findings as HMAC-SHA256-signed JSON.

Enabled when `Settings.webhook_url` (env `ENTITYSCAN_WEBHOOK_URL`) is set.  Each POST carries

    X-Entityscan-Timestamp: <unix seconds>
    X-Entityscan-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

so a receiver can verify the body and refuse replays (compare the timestamp with its clock).
Events from the outbox also carry `X-Entityscan-Delivery: <event id>` (delivery is at least
once: a receiver drops an id it has seen).  Failures (connection errors, 408/425/429/5xx) are
retried with exponential backoff; a 4xx other than those is final.  The secret and the URL's
credentials/query never reach a log line.

Events of a run that has a store go through the store's outbox, written in the transaction
that records the findings, and are delivered by `entityscan.delivery` (the service's
background worker, or a CLI run before it exits); the hooks here post directly only for runs
without a store (`entityscan screen` without `--save`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from entityscan.hooks import hookimpl
from entityscan.hooktypes import FindingEvent, Settings

log = logging.getLogger("entityscan.webhook")
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _RedactUrls(logging.Filter):
    """httpx logs each request's full URL at INFO; a webhook URL may carry a token in its
    query or user-info, so those are cut from every httpx log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(str(a)) if isinstance(a, httpx.URL) else a
                                for a in record.args)
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _RedactUrls) for f in _httpx_log.filters):
    _httpx_log.addFilter(_RedactUrls())


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt: delivered, or why not and whether trying again may help."""

    delivered: bool
    retry: bool
    problem: str = ""


class WebhookNotifier:
    """Posts `findings` and `inventory_changed` events; a no-op without a URL."""

    def __init__(self, settings: Settings, sleep: Any = time.sleep) -> None:
        self.url = settings.webhook_url
        self._secret = settings.webhook_secret or ""
        self.retries = max(0, settings.webhook_retries)
        self.backoff = settings.webhook_backoff
        self.timeout = settings.webhook_timeout
        self._sleep = sleep
        self.failed = 0

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookNotifier(url={redact_url(self.url) if self.url else None})"

    def request(self, payload: dict[str, Any], delivery_id: int | None = None
                ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt (signed now: the timestamp is the send time)."""
        body = json.dumps({**payload, "sent": datetime.now(UTC).isoformat()},
                          separators=(",", ":"), ensure_ascii=False, default=str
                          ).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json",
                   "User-Agent": "entityscan-webhook/1",
                   "X-Entityscan-Event": str(payload.get("event")),
                   "X-Entityscan-Timestamp": timestamp}
        if delivery_id is not None:
            headers["X-Entityscan-Delivery"] = str(delivery_id)
        if self._secret:
            headers["X-Entityscan-Signature"] = sign(self._secret, timestamp, body)
        return body, headers

    @staticmethod
    def judge(status: int | None, error: BaseException | None = None) -> Attempt:
        """What an answer (or a failure to get one) means."""
        if status is None:
            return Attempt(False, True, type(error).__name__ if error else "no answer")
        if 200 <= status < 300:
            return Attempt(True, False)
        return Attempt(False, status in RETRY_STATUS, f"HTTP {status}")

    def post(self, payload: dict[str, Any]) -> bool:
        """Deliver one event now, retrying with backoff; True once the receiver answered 2xx.
        (Runs without a store only: the outbox delivers the others without blocking.)"""
        if not self.url:
            return False
        where = redact_url(self.url)
        for attempt in range(self.retries + 1):
            body, headers = self.request(payload)
            try:
                response = httpx.post(self.url, content=body, headers=headers,
                                      timeout=self.timeout, follow_redirects=False)
                result = self.judge(response.status_code)
            except httpx.HTTPError as exc:
                result = self.judge(None, exc)
            if result.delivered:
                return True
            if not result.retry:
                log.error("webhook %s refused the event (%s); not retrying", where,
                          result.problem)
                self.failed += 1
                return False
            if attempt < self.retries:
                delay = self.backoff * (2 ** attempt)
                log.warning("webhook %s: %s (attempt %d of %d); retrying in %.1fs", where,
                            result.problem, attempt + 1, self.retries + 1, delay)
                self._sleep(delay)
        log.error("webhook %s: giving up after %d attempts", where, self.retries + 1)
        self.failed += 1
        return False

    @hookimpl
    def entityscan_findings(self, events: Sequence[FindingEvent], context: dict[str, Any],
                            settings: Settings) -> None:
        # A recorded screening (it has an audit id) put its event in the store's outbox.
        if not self.url or context.get("audit_id") is not None:
            return
        self.post({"event": "findings", "context": context,
                   "findings": [e.model_dump(mode="json") for e in events]})

    # `entityscan_inventory_changed` fires only for saved scans and rescreens, whose events
    # are in the store's outbox: nothing to post from the hook.


def make_plugin(settings: Settings) -> WebhookNotifier:
    return WebhookNotifier(settings)
