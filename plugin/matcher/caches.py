"""Per-value answers of the matcher's routes, behind the lookalike and bidi guard.

LRU caches that reach the matcher through a weak reference, so it holds no reference cycle (a
replaced matcher is freed by reference counting alone), sized for what repeats in an export (a few
thousand suppliers and brands; part numbers and descriptions are mostly unique): every cached
answer is a long-lived object the garbage collector walks.  The answers are left out when the
matcher is pickled (the on-disk cache, worker processes).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

from entityscan.matcher.findings import Hit
from entityscan.matcher.guard import screen_guarded

NAME_CACHE = 8_192
VALUE_CACHE = 2_048
# An uncached route as the class holds it: (matcher, field name, value, read lookalikes?).
UncachedRoute = Callable[[Any, str, str, bool], tuple[Hit, ...]]
_CACHES = ("_screen_name", "_screen_part", "_screen_text", "_name_hits")


def _screen(matcher: weakref.ReferenceType[CachedRoutes], route: UncachedRoute,
            field_name: str, value: str) -> tuple[Hit, ...]:
    owner = matcher()
    if owner is None:  # pragma: no cover - a cache outliving its matcher is never called
        raise ReferenceError("the matcher behind this cache is gone")
    return screen_guarded(partial(route, owner), field_name, value)


class CachedRoutes:
    """The cached faces of the three uncached routes a subclass defines."""

    _screen_name: Callable[[str, str], tuple[Hit, ...]]
    _screen_part: Callable[[str, str], tuple[Hit, ...]]
    _screen_text: Callable[[str, str], tuple[Hit, ...]]

    def _screen_name_uncached(self, field_name: str, value: str, read: bool) -> tuple[Hit, ...]:
        raise NotImplementedError

    def _screen_part_uncached(self, field_name: str, value: str, read: bool) -> tuple[Hit, ...]:
        raise NotImplementedError

    def _screen_text_uncached(self, field_name: str, value: str, read: bool) -> tuple[Hit, ...]:
        raise NotImplementedError

    def _make_caches(self) -> None:
        # Parts of name-route hits by (record identity, score): identities are per process.
        self._name_hits: dict[tuple[int, float], Any] = {}
        # C-level LRU caches (a hit costs no Python call) over a weak reference: the cache
        # never keeps the matcher alive, so there is no reference cycle.
        me, cls = weakref.ref(self), type(self)
        self._screen_name = lru_cache(maxsize=NAME_CACHE)(
            partial(_screen, me, cls._screen_name_uncached))
        self._screen_part = lru_cache(maxsize=VALUE_CACHE)(
            partial(_screen, me, cls._screen_part_uncached))
        self._screen_text = lru_cache(maxsize=VALUE_CACHE)(
            partial(_screen, me, cls._screen_text_uncached))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for cache in _CACHES:
            state.pop(cache, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_caches()
        settle()


def settle() -> None:
    """Take everything alive, the index above all, out of the cyclic collector's generations.

    The index lives as long as the screening context; left in, every full collection walks its
    million objects again (a third of the screening time on a dense vendor master).  The
    matcher holds no reference cycle, so a replaced one is still freed by reference counting.
    Called when a matcher is built or unpickled (the on-disk cache, a worker process).
    """
    gc.freeze()
