"""Screening chunks on every core: worker processes, results in input order, bounded memory.

    for rows, out in screen_chunks(chunks, plan, jobs=4):   # out: a ChunkOut, in order

The workers are forked from the run's process once its index is loaded, so they share the
index's memory pages (no copy is loaded or sent; `gc.freeze` first, so the collector does not
touch, and so copy, those pages) and use the run's very plugin manager: plugins'
`entityscan_screen_item` amendments run in the workers exactly as in one process, with the
same plugin objects and settings.  State a screening plugin changes in a worker stays there
(the hook is a pure function of its arguments); reaction hooks run in the parent.

At most `2 × jobs` chunks are in flight, so a slow output never lets the input pile up.  Where
processes cannot be forked (Windows), or for a single chunk, the chunks are screened in the
run's own process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from entityscan.errors import EntityscanError
from entityscan.itemchunks import ChunkOut, ChunkPlan, screen_chunk
from entityscan.lineitems import RawItem

_PLAN: ChunkPlan | None = None  # the run's plan, inherited by forked workers


class WorkerError(EntityscanError):
    """A screening worker process died."""


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _screen_in_worker(rows: list[RawItem]) -> ChunkOut:
    assert _PLAN is not None, "worker started without a plan"
    return screen_chunk(rows, _PLAN)


def screen_chunks(chunks: Iterable[list[RawItem]], plan: ChunkPlan, *, jobs: int,
                  keep_findings: bool = False, before_fork: Callable[[], None] | None = None
                  ) -> Iterator[tuple[list[RawItem], ChunkOut]]:
    """Each chunk with its `ChunkOut`, in input order.  `before_fork` runs once, just before
    the workers start (e.g. to close the store's connections, which a child must not share).
    `keep_findings` asks for finding objects; only chunks screened in this process have them."""
    source = iter(chunks)
    first = next(source, None)
    if first is None:
        return
    second = next(source, None)
    if second is None or jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield first, screen_chunk(first, plan, keep_findings=keep_findings)
        if second is not None:
            yield second, screen_chunk(second, plan, keep_findings=keep_findings)
        for rows in source:
            yield rows, screen_chunk(rows, plan, keep_findings=keep_findings)
        return
    global _PLAN
    _PLAN = plan
    if before_fork is not None:
        before_fork()
    gc.freeze()  # the collector must not write to (and so copy) the shared index pages
    pending: deque[tuple[list[RawItem], Future[ChunkOut]]] = deque()
    executor = ProcessPoolExecutor(max_workers=jobs,
                                   mp_context=multiprocessing.get_context("fork"))
    try:
        for rows in _chain(first, second, source):
            pending.append((rows, executor.submit(_screen_in_worker, rows)))
            if len(pending) >= 2 * jobs:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())
    finally:
        for _, future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
        _PLAN = None


def _chain(first: list[RawItem], second: list[RawItem],
           rest: Iterator[list[RawItem]]) -> Iterator[list[RawItem]]:
    yield first
    yield second
    yield from rest


def _result(rows: list[RawItem], future: Future[ChunkOut]) -> tuple[list[RawItem], ChunkOut]:
    try:
        return rows, future.result()
    except BrokenProcessPool as exc:
        raise WorkerError(f"a screening worker process died ({exc}); nothing was written. "
                          f"Try again with --jobs 1, which screens in one process") from None
