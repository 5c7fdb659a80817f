"""The service as any number of worker processes: the app built from the environment.

    entityscan serve --workers 4 --db postgresql+psycopg://…   # uvicorn's supervisor
    ENTITYSCAN_DB=postgresql+psycopg://… uvicorn --factory entityscan.service.worker:app_from_env \\
        --workers 4 --host 0.0.0.0 --port 8077              # the same, by hand (or gunicorn)

Each worker is stateless: it holds a screening index and a connection pool, and everything
else (scans, devices, tokens, decisions, the audit chain, the webhook outbox, job leases and
published lists) is in the database, so workers can be added, killed or restarted at will.
Settings come from `ENTITYSCAN_SERVE_CONFIG` (JSON, written by `entityscan serve
--workers N`) or from the individual variables below; the usual ones (`ENTITYSCAN_DB`,
`ENTITYSCAN_DATA_DIR`, `ENTITYSCAN_PLUGINS`, `ENTITYSCAN_WEBHOOK_URL` …) apply as always.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from entityscan.errors import InputError

CONFIG_ENV = "ENTITYSCAN_SERVE_CONFIG"
#: Individual variables for a hand-written uvicorn or gunicorn line.
ENV = {"max_body_mb": "ENTITYSCAN_MAX_BODY_MB", "lists_check": "ENTITYSCAN_LISTS_CHECK_SECONDS",
       "stale_after": "ENTITYSCAN_STALE_AFTER", "lists_update_every":
       "ENTITYSCAN_LISTS_UPDATE_EVERY", "lists_from": "ENTITYSCAN_LISTS_FROM"}


@dataclass
class ServeConfig:
    """What `entityscan serve` hands each worker."""

    db: str | None = None
    data_dir: str | None = None
    plugins: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    max_body_mb: float = 8.0
    lists_check: float = 30.0
    stale_after: str = "2d"
    lists_update_every: str | None = None
    lists_from: str | None = None

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(CONFIG_ENV)
        if raw:
            return cls(**json.loads(raw))
        found: dict[str, Any] = {}
        for name, variable in ENV.items():
            value = os.environ.get(variable)
            if value:
                found[name] = _number(variable, value) if name in NUMBERS else value
        return cls(**found)

    def background(self) -> Any:
        from entityscan.schedule import parse_interval
        from entityscan.service.background import BackgroundConfig

        every = parse_interval(self.lists_update_every, "--lists-update-every") \
            if self.lists_update_every else None
        return BackgroundConfig(lists_update_every=every, lists_source=self.lists_from,
                                tick=max(1.0, min(self.lists_check, 30.0)))

    def stale(self) -> timedelta:
        from entityscan.schedule import parse_interval

        return parse_interval(self.stale_after, "--stale-after")

    def check(self) -> None:
        from entityscan.service.ingest import threads_from_env

        if self.max_body_mb <= 0:
            raise InputError("--max-body-mb must be positive")
        threads_from_env()
        self.stale()
        self.background()


NUMBERS = ("max_body_mb", "lists_check")


def _number(variable: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{variable}={value!r}: not a number") from None


def app_from_env() -> FastAPI:
    """The app of one worker process (uvicorn `--factory`)."""
    return app_from_config(ServeConfig.from_env())


def app_from_config(config: ServeConfig) -> FastAPI:
    from entityscan.service.app import create_app
    from entityscan.service.refresh import ContextSource
    from entityscan.session import Session

    config.check()
    session = Session.open(plugin_modules=config.plugins,
                           data_dir=Path(config.data_dir) if config.data_dir else None,
                           db=config.db, list_paths=[Path(p) for p in config.lists],
                           relation_paths=[Path(p) for p in config.relations])
    contexts = ContextSource(session.load_context, session.data_dir,
                             check_every=config.lists_check)
    return create_app(session.store(), contexts,
                      max_body_bytes=int(config.max_body_mb * 1024 * 1024),
                      stale_after=config.stale(), background=config.background())
