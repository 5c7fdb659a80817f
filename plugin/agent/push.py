"""A site agent: sends scan documents to the central service and never loses one.

    agent = Agent.open("https://central.example", Path("/etc/entityscan/token"), data_dir)
    agent.deliver(document)      # after a scan: flush what waits, then send this one
    agent.flush()                # `entityscan push --flush`

Every document carries a `document_id`; the service stores a repeat of an id once, so a
document is sent until the centre acknowledges it (2xx) and only then removed from the spool:
a lost answer means it is sent again and recognised there.  What the answer says decides
what happens to the document:

    2xx                               acknowledged: removed from the spool
    connection error, timeout,        the centre is away or busy: the document waits in the
    408, 429, 5xx                     spool (oldest first), sent on the next run or by
                                      `entityscan push --flush`; nothing more is tried now
    401, 403, 404 and other 4xx       the agent is set up wrongly (token, scope, URL): the
                                      document waits, the run ends with an error saying so
    400, 409, 413, 422                the centre refuses this document as it is: it moves to
                                      `rejected/` with the reason, and the rest go on
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from entityscan.agent.spool import Entry, Spool
from entityscan.errors import InputError

TIMEOUT_ENV = "ENTITYSCAN_PUSH_TIMEOUT"
INSECURE_ENV = "ENTITYSCAN_PUSH_INSECURE"
DEFAULT_TIMEOUT = 60.0
RETRY_LATER = frozenset({408, 425, 429})
REJECTED = frozenset({400, 409, 413, 422})
MAX_TOKEN = 512


#: What a scan document holds that the service works out again for itself and never reads:
#: the list metadata and each device's screening results (its verdict, maker and score stay,
#: small, as the claims the service compares with its own answer).
NOT_SENT = ("lists", "summary")
NOT_SENT_PER_DEVICE = ("matches", "reasons", "decision", "applied_decision")


def ingest_form(document: dict[str, Any]) -> dict[str, Any]:
    """The document as sent: without what the service recomputes (`NOT_SENT`), about a
    third of a flagged device's bytes."""
    slim = {k: v for k, v in document.items() if k not in NOT_SENT}
    slim["devices"] = [{k: v for k, v in device.items() if k not in NOT_SENT_PER_DEVICE}
                       if isinstance(device, dict) else device
                       for device in document.get("devices") or []]
    return slim


def read_token(path: Path) -> str:
    """The token in a file only its owner can read (the first non-empty line)."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--token-file {path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"--token-file {path}: not UTF-8 text") from exc
    if info.st_mode & 0o077:
        raise InputError(f"--token-file {path}: readable by group or others (mode "
                         f"{info.st_mode & 0o777:o}); chmod 600 it")
    token = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not token or len(token) > MAX_TOKEN or any(c.isspace() or not c.isprintable()
                                                  for c in token):
        raise InputError(f"--token-file {path}: the first line must be the API token "
                         f"(from `entityscan tokens add NAME --scope ingest`)")
    return token


def inventory_url(url: str) -> str:
    """`https://host[:port][/prefix]` → its `/v1/inventory`; plain http only on loopback
    (the token would cross the network readable) unless ENTITYSCAN_PUSH_INSECURE=1."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--push {url!r}: give the service's http(s) URL, e.g. "
                         f"https://central.example:8077")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError("--push: the URL may hold no user, password, query or fragment "
                         "(the token comes from --token-file)")
    if parts.scheme == "http" and not _loopback(parts.hostname) and \
            os.environ.get(INSECURE_ENV) != "1":
        raise InputError(f"--push {parts.scheme}://{parts.hostname}: plain http would send "
                         f"the token readable over the network; use https (or set "
                         f"{INSECURE_ENV}=1 on a network you trust)")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/inventory"):
        path += "/v1/inventory"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Outcome:
    """What one delivery or flush did."""

    sent: list[str] = field(default_factory=list)       # acknowledged (document ids)
    duplicates: list[str] = field(default_factory=list)  # the centre had them already
    waiting: int = 0                                     # left in the spool
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, why): set aside
    dropped: list[str] = field(default_factory=list)    # dropped by the spool's bounds
    problem: str | None = None                           # why sending stopped
    setup_error: bool = False                            # token/scope/URL: needs a person


class Agent:
    """Sends documents to `url` with `token`, spooling what cannot go now."""

    def __init__(self, url: str, token: str, spool: Spool, *, timeout: float = DEFAULT_TIMEOUT,
                 report: Callable[[str], None] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = inventory_url(url)
        self.token = token
        self.spool = spool
        self.timeout = timeout
        self.report = report or (lambda line: print(f"entityscan push: {line}",
                                                    file=sys.stderr, flush=True))
        self._transport = transport
        self.token_file: Path | None = None

    @classmethod
    def open(cls, url: str, token_file: Path, data_dir: Path) -> Agent:
        timeout = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)
        agent = cls(url, read_token(token_file), Spool(data_dir / "spool"), timeout=timeout)
        agent.token_file = token_file
        return agent

    # --- the two things an agent does ---------------------------------------------------------
    def deliver(self, document: dict[str, Any]) -> Outcome:
        """Flush what waits (oldest first), then send `document`; whatever cannot go now is
        spooled.  Raises InputError after spooling when the setup is wrong."""
        body = json.dumps(ingest_form(document), ensure_ascii=False,
                          separators=(",", ":")).encode()
        document_id = str(document.get("document_id") or "")
        with self.spool.locked():
            self._remember()
            entry, dropped = self.spool.add(body, document_id)  # durable before any send
            outcome = self._flush()
            outcome.dropped += dropped
        self._summarise(outcome, entry.name)
        return outcome

    def flush(self) -> Outcome:
        """Send every spooled document, oldest first, until one cannot go now."""
        with self.spool.locked():
            self._remember()
            outcome = self._flush()
        self._summarise(outcome, None)
        return outcome

    def _remember(self) -> None:
        """Where these documents go, for a later `entityscan push --flush` without options."""
        if self.token_file is not None:
            self.spool.remember_target(self.url, self.token_file)

    # --- the work -----------------------------------------------------------------------------
    def _flush(self) -> Outcome:
        outcome = Outcome()
        entries = self.spool.entries()
        with httpx.Client(timeout=self.timeout, transport=self._transport,
                          headers={"Authorization": f"Bearer {self.token}",
                                   "Content-Type": "application/json",
                                   # acknowledged once queued in the centre's database
                                   "Prefer": "respond-async",
                                   "User-Agent": "entityscan-agent"}) as client:
            for index, entry in enumerate(entries):
                if not self._send(client, entry, outcome):
                    outcome.waiting = len(entries) - index
                    break
        return outcome

    def _send(self, client: httpx.Client, entry: Entry, outcome: Outcome) -> bool:
        """True to go on with the next document."""
        document_id = unquote(entry.name.split("-", 1)[-1].removesuffix(".json"))
        try:
            body = entry.path.read_bytes()
            response = client.post(self.url, content=body)
        except httpx.HTTPError as exc:
            outcome.problem = f"{_host(self.url)} unreachable ({type(exc).__name__}: " \
                              f"{str(exc)[:200] or 'no answer'})"
            return False
        status = response.status_code
        if 200 <= status < 300:
            self.spool.remove(entry)
            duplicate = _json(response).get("duplicate") is True
            (outcome.duplicates if duplicate else outcome.sent).append(document_id)
            return True
        why = str(_json(response).get("error") or response.reason_phrase)[:300]
        if status in RETRY_LATER or status >= 500:
            outcome.problem = f"{_host(self.url)} answered {status} ({why})"
            return False
        if status in REJECTED:
            self.spool.reject(entry, f"HTTP {status}: {why}\n")
            outcome.rejected.append((entry.name, f"HTTP {status}: {why}"))
            return True
        outcome.problem = f"{_host(self.url)} refused the agent: HTTP {status} ({why})"
        outcome.setup_error = True
        return False

    def _summarise(self, outcome: Outcome, this_file: str | None) -> None:
        for name in outcome.dropped:
            self.report(f"warning: the spool is full; dropped the oldest waiting document "
                        f"{name}")
        for name, why in outcome.rejected:
            self.report(f"error: rejected by the service, moved to "
                        f"{self.spool.folder / 'rejected' / name}: {why}")
        if outcome.sent or outcome.duplicates:
            self.report(f"sent {len(outcome.sent) + len(outcome.duplicates)} document(s) to "
                        f"{_host(self.url)}"
                        + (f" ({len(outcome.duplicates)} it already had)"
                           if outcome.duplicates else ""))
        if outcome.waiting:
            self.report(f"{outcome.waiting} document(s) wait in {self.spool.folder}: "
                        f"{outcome.problem}; they are sent on the next run or by "
                        f"`entityscan push --flush`")
        if outcome.setup_error:
            raise InputError(f"push: {outcome.problem}; the document waits in "
                             f"{self.spool.folder} (fix the token or URL, then `entityscan "
                             f"push --flush`)")
        if this_file is not None and any(name == this_file for name, _ in outcome.rejected):
            raise InputError(f"push: the service rejected this scan's document; it was "
                             f"kept in {self.spool.folder / 'rejected'}")


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def open_agent(url: str | None, token_file: Path | None, data_dir: Path) -> Agent | None:
    """The agent `--push URL --token-file F` asks for, checked before any scanning (None
    without --push)."""
    if url is None:
        if token_file is not None:
            raise InputError("--token-file goes with --push URL")
        return None
    if token_file is None:
        raise InputError("--push needs --token-file FILE (a token with the `ingest` scope)")
    return Agent.open(url, token_file, data_dir)
