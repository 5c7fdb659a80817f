"""The service's screening context, rebuilt and swapped when the installed lists change
(`entityscan lists update` while the service runs): no restart, no request sees a half-built
index, and every answer names the lists' content hash it used."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from entityscan.errors import EntityscanError
from entityscan.lists.registry import installed_metadata, resolve_data_dir
from entityscan.screening import ScreeningContext

log = logging.getLogger("entityscan.service")


class ContextSource:
    """`current()` returns the context; at most every `check_every` seconds it looks at the
    installed copy's metadata and rebuilds when it changed (a failed rebuild keeps the old)."""

    def __init__(self, loader: Callable[[], ScreeningContext], data_dir: Path | None = None,
                 check_every: float = 30.0) -> None:
        self._loader = loader
        self._data_dir = resolve_data_dir(data_dir)
        self._every = check_every
        self._lock = threading.Lock()
        self._stamp = self._fingerprint()
        self._ctx = loader()
        self._checked = time.monotonic()

    @classmethod
    def fixed(cls, ctx: ScreeningContext) -> ContextSource:
        source = cls.__new__(cls)
        source._ctx, source._every, source._lock = ctx, float("inf"), threading.Lock()
        source._checked = time.monotonic()
        return source

    def _fingerprint(self) -> Any:
        try:
            meta = installed_metadata(self._data_dir)
        except (EntityscanError, OSError) as exc:
            log.warning("cannot read the installed lists' metadata: %s", exc)
            return None
        return None if meta is None else (meta.get("content_hash"), meta.get("fetched_at"))

    def current(self) -> ScreeningContext:
        if time.monotonic() - self._checked < self._every:
            return self._ctx
        with self._lock:
            if time.monotonic() - self._checked >= self._every:
                stamp = self._fingerprint()
                if stamp != self._stamp:
                    try:
                        ctx = self._loader()
                    except EntityscanError as exc:
                        log.error("installed lists changed but cannot be loaded (%s); still "
                                  "screening with %s", exc, self._ctx.lists.content_hash)
                    else:
                        log.info("lists changed: now screening with %s",
                                 ctx.lists.content_hash)
                        self._ctx, self._stamp = ctx, stamp
                self._checked = time.monotonic()
        return self._ctx
