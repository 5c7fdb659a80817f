"""The service's screening context, rebuilt and swapped when the installed lists change
(`entityscan lists update` while the service runs): no restart, no request sees a half-built
index, and every answer names the lists' content hash it used.

It never screens with less without saying so: when the installed copy disappears, turns out
corrupt or cannot be loaded, the last good index stays in use, `problems()` says why (the
service's `/healthz` reports `degraded`) and an error is logged.  A good copy installed
later is picked up and clears the problem.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from entityscan.errors import EntityscanError
from entityscan.lists.registry import installed_state, resolve_data_dir
from entityscan.screening import ScreeningContext

log = logging.getLogger("entityscan.service")
#: A copy being swapped in by `lists update` is inconsistent for an instant: look again once
#: after this long before calling it broken.
SETTLE_SECONDS = 0.3


def settle_heap() -> None:
    """Move what is alive now (the screening index: millions of long-lived objects) out of the
    garbage collector's sight: otherwise every full collection walks it, which was half the
    time of saving a 200-device scan.  Unfrozen and collected first, so an index replaced by a
    list refresh is freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ContextSource:
    """`current()` returns the context; at most every `check_every` seconds it looks at the
    installed copy and rebuilds when it changed (a broken copy keeps the old, see above)."""

    def __init__(self, loader: Callable[[], ScreeningContext], data_dir: Path | None = None,
                 check_every: float = 30.0) -> None:
        self._loader = loader
        self._data_dir: Path | None = resolve_data_dir(data_dir)
        self._every = check_every
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._stamp, problem = installed_state(self._data_dir, verify=True)
        self._ctx = loader()
        settle_heap()
        if problem is not None:
            self._degrade(f"installed lists unusable at start ({problem}); screening with "
                          f"{self._describe(self._ctx)}")
        self._checked = time.monotonic()

    @classmethod
    def fixed(cls, ctx: ScreeningContext) -> ContextSource:
        source = cls.__new__(cls)
        source._ctx, source._every, source._lock = ctx, float("inf"), threading.Lock()
        source._checked, source._problem, source._data_dir = time.monotonic(), None, None
        return source

    @staticmethod
    def _describe(ctx: ScreeningContext) -> str:
        return f"lists {ctx.lists.content_hash[:19]}…"

    def problems(self) -> list[str]:
        """Why the service is degraded (empty when it is not)."""
        return [self._problem] if self._problem else []

    def _degrade(self, problem: str) -> None:
        if problem != self._problem:
            log.error("%s", problem)
        self._problem = problem

    def current(self) -> ScreeningContext:
        if time.monotonic() - self._checked < self._every:
            return self._ctx
        with self._lock:
            if time.monotonic() - self._checked >= self._every:
                self._refresh()
                self._checked = time.monotonic()
        return self._ctx

    def reload(self) -> ScreeningContext:
        """Look at the installed copy now (after this process installed or published one),
        and return the context that results."""
        with self._lock:
            if self._data_dir is not None:
                self._refresh()
                self._checked = time.monotonic()
        return self._ctx

    @property
    def data_dir(self) -> Path | None:
        """The folder whose installed lists it follows (None: a fixed context)."""
        return self._data_dir

    def _refresh(self) -> None:
        assert self._data_dir is not None
        stamp, problem = installed_state(self._data_dir)
        if stamp == self._stamp and self._problem is None:
            return
        if problem is None and stamp is not None:
            stamp, problem = installed_state(self._data_dir, verify=True)
        if problem is not None:  # perhaps caught mid-swap: look once more
            time.sleep(SETTLE_SECONDS)
            stamp, problem = installed_state(self._data_dir, verify=True)
        keep = f"still screening with the last good index ({self._describe(self._ctx)})"
        if stamp is None and self._stamp is not None:
            self._degrade(f"the installed lists in {self._data_dir} disappeared; {keep}")
            return
        if problem is not None:
            self._degrade(f"the installed lists are unusable: {problem}; {keep}")
            return
        if stamp == self._stamp:  # back as it was
            self._problem = None
            return
        try:
            ctx = self._loader()
        except EntityscanError as exc:
            self._degrade(f"the installed lists changed but cannot be loaded ({exc}); {keep}")
            return
        log.info("lists changed: now screening with %s", ctx.lists.content_hash)
        self._ctx, self._stamp, self._problem = ctx, stamp, None
        settle_heap()

    def __repr__(self) -> str:
        return f"ContextSource({self._describe(self._ctx)}, problems={self.problems()})"
