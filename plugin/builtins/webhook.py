"""Default plugin `builtin.webhook`: post new findings as HMAC-SHA256-signed JSON.

Enabled when `Settings.webhook_url` (env `ENTITYSCAN_WEBHOOK_URL`) is set.  Each POST carries

    X-Entityscan-Timestamp: <unix seconds>
    X-Entityscan-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

so a receiver can verify the body and refuse replays (compare the timestamp with its clock).
Failures (connection errors, 408/429/5xx) are retried with exponential backoff; a 4xx other
than those is final.  The secret and the URL's credentials/query never reach a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
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

    def post(self, payload: dict[str, Any]) -> bool:
        """Deliver one event; True once the receiver answered 2xx."""
        if not self.url:
            return False
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode("utf-8")
        where = redact_url(self.url)
        for attempt in range(self.retries + 1):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json",
                       "User-Agent": "entityscan-webhook/1",
                       "X-Entityscan-Event": str(payload.get("event")),
                       "X-Entityscan-Timestamp": timestamp}
            if self._secret:
                headers["X-Entityscan-Signature"] = sign(self._secret, timestamp, body)
            try:
                response = httpx.post(self.url, content=body, headers=headers,
                                      timeout=self.timeout, follow_redirects=False)
                status: int | None = response.status_code
            except httpx.HTTPError as exc:
                status = None
                problem = type(exc).__name__
            else:
                if 200 <= response.status_code < 300:
                    return True
                problem = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUS:
                    log.error("webhook %s refused the event (%s); not retrying", where, problem)
                    self.failed += 1
                    return False
            if attempt < self.retries:
                delay = self.backoff * (2 ** attempt)
                log.warning("webhook %s: %s (attempt %d of %d); retrying in %.1fs", where,
                            problem, attempt + 1, self.retries + 1, delay)
                self._sleep(delay)
            del status
        log.error("webhook %s: giving up after %d attempts", where, self.retries + 1)
        self.failed += 1
        return False

    @hookimpl
    def entityscan_findings(self, events: Sequence[FindingEvent], context: dict[str, Any],
                            settings: Settings) -> None:
        if not self.url:
            return
        self.post({"event": "findings", "sent": datetime.now(UTC).isoformat(),
                   "context": context,
                   "findings": [e.model_dump(mode="json") for e in events]})

    @hookimpl
    def entityscan_inventory_changed(self, diff: dict[str, Any], settings: Settings) -> None:
        if not self.url or not diff.get("newly_flagged"):
            return
        self.post({"event": "inventory_changed", "sent": datetime.now(UTC).isoformat(),
                   "diff": diff})


def make_plugin(settings: Settings) -> WebhookNotifier:
    return WebhookNotifier(settings)
