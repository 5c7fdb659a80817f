"""Screening chunks on every core: worker processes, results in input order, bounded memory.

    for rows, out in screen_chunks(chunks, plan, jobs=4):   # out: a ChunkOut, in order

The workers are forked from the run's process once its index is loaded, so they share the
index's memory pages (no copy is loaded or sent; `gc.freeze` first, so the collector does not
touch, and so copy, those pages) and use the run's very plugin manager: plugins'
`entityscan_screen_item` amendments run in the workers exactly as in one process, with the
same plugin objects and settings.  State a screening plugin changes in a worker stays there
(the hook is a pure function of its arguments); reaction hooks run in the parent.

At most `2 × jobs` chunks are in flight, so a slow output never lets the input pile up.  A
worker that grew by more than `MAX_WORKER_GROWTH` since it was forked (the matcher's memo
caches fill with every distinct name on a dense input) finishes its chunks and is replaced by
a fresh fork, so no worker's memory grows with the input.  `jobs=1` still screens in one
worker (the run's own process reads and writes meanwhile, and its memory stays bounded the
same way).  Where processes cannot be forked (Windows), or for a single chunk (a small file,
a service batch), the chunks are screened in the run's own process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any

from entityscan.errors import EntityscanError
from entityscan.itemchunks import ChunkOut, ChunkPlan, screen_chunk
from entityscan.lineitems import RawItem

_PLAN: ChunkPlan | None = None  # the run's plan, inherited by forked workers
# A worker that has grown by more than this since it was forked (a per-process memo such as
# the matcher's caches, a plugin's state) finishes its chunks and is replaced by a fresh fork.
MAX_WORKER_GROWTH = 16 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class WorkerError(EntityscanError):
    """A screening worker process died."""


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _resident() -> int:
    """This process's resident memory in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _sendable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
    except Exception:
        return WorkerError(f"{type(exc).__name__}: {exc}")
    return exc


def _worker_loop(tasks: Queue[Any], results: Queue[Any], max_growth: int) -> None:
    """A forked worker: screen chunks until told to stop; say when it has grown too much."""
    assert _PLAN is not None, "worker started without a plan"
    started = _resident()
    while (job := tasks.get()) is not None:
        seq, rows = job
        try:
            out = screen_chunk(rows, _PLAN)
        except BaseException as exc:
            results.put((seq, None, _sendable(exc), False))
            continue
        results.put((seq, out, None, _resident() - started > max_growth))
    results.close()
    results.join_thread()  # everything put is flushed before the process ends


@dataclass
class _Worker:
    process: BaseProcess
    tasks: Queue[Any]
    inflight: int = 0
    retiring: bool = False


class _Pool:
    """Forked workers fed through their own task queues; results come back on one queue,
    tagged with their chunk's sequence number, and are handed out in order."""

    def __init__(self, jobs: int, max_growth: int) -> None:
        self.mp = multiprocessing.get_context("fork")
        self.results: Queue[Any] = self.mp.Queue()
        self.max_growth = max_growth
        self.workers = [self._start() for _ in range(jobs)]
        self.owner: dict[int, _Worker] = {}
        self.done: dict[int, tuple[ChunkOut | None, BaseException | None]] = {}

    def _start(self) -> _Worker:
        tasks: Queue[Any] = self.mp.Queue()
        process = self.mp.Process(target=_worker_loop, daemon=True,
                                  args=(tasks, self.results, self.max_growth))
        process.start()
        return _Worker(process, tasks)

    def submit(self, seq: int, rows: list[RawItem]) -> None:
        while all(w.retiring for w in self.workers):
            self._receive()  # every worker is finishing before its replacement
        worker = min((w for w in self.workers if not w.retiring), key=lambda w: w.inflight)
        worker.tasks.put((seq, rows))
        worker.inflight += 1
        self.owner[seq] = worker

    def result(self, seq: int) -> ChunkOut:
        while seq not in self.done:
            self._receive()
        out, exc = self.done.pop(seq)
        if exc is not None:
            raise exc
        assert out is not None
        return out

    def _receive(self) -> None:
        """Wait for one result; replace its worker when it has grown and has no more work."""
        while True:
            try:
                seq, out, exc, grown = self.results.get(timeout=1.0)
                break
            except queue.Empty:
                for worker in self.workers:
                    if worker.inflight and not worker.process.is_alive():
                        raise WorkerError(
                            f"a screening worker process died (exit code "
                            f"{worker.process.exitcode}, perhaps ended for lack of memory); "
                            f"nothing was written. --jobs 1 runs a single worker") from None
        self.done[seq] = (out, exc)
        worker = self.owner.pop(seq)
        worker.inflight -= 1
        worker.retiring = worker.retiring or grown
        if worker.retiring and not worker.inflight:
            self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.tasks.put(None)
        worker.process.join()
        worker.tasks.close()
        self.workers[self.workers.index(worker)] = self._start()

    def close(self, *, abandon: bool) -> None:
        for worker in self.workers:
            if abandon:
                worker.process.terminate()
            else:
                worker.tasks.put(None)
        for worker in self.workers:
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.tasks.cancel_join_thread()
            worker.tasks.close()
        self.results.cancel_join_thread()
        self.results.close()


def screen_chunks(chunks: Iterable[list[RawItem]], plan: ChunkPlan, *, jobs: int,
                  keep_findings: bool = False, before_fork: Callable[[], None] | None = None,
                  max_worker_growth: int = MAX_WORKER_GROWTH
                  ) -> Iterator[tuple[list[RawItem], ChunkOut]]:
    """Each chunk with its `ChunkOut`, in input order, screened by `jobs` forked workers (in
    this process for a single chunk or without fork).  `before_fork` runs once, just before
    the workers start (e.g. to close the store's connections, which a child must not share).
    `keep_findings` asks for finding objects; only chunks screened in this process have them."""
    source = iter(chunks)
    first = next(source, None)
    if first is None:
        return
    second = next(source, None)
    if second is None or "fork" not in multiprocessing.get_all_start_methods():
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
    pool = _Pool(jobs, max_worker_growth)
    pending: deque[tuple[int, list[RawItem]]] = deque()
    finished = False
    try:
        for seq, rows in enumerate(_chain(first, second, source)):
            pool.submit(seq, rows)
            pending.append((seq, rows))
            if len(pending) >= 2 * jobs:
                seq_done, rows_done = pending.popleft()
                yield rows_done, pool.result(seq_done)
        while pending:
            seq_done, rows_done = pending.popleft()
            yield rows_done, pool.result(seq_done)
        finished = True
    finally:
        pool.close(abandon=not finished)
        _PLAN = None


def _chain(first: list[RawItem], second: list[RawItem],
           rest: Iterator[list[RawItem]]) -> Iterator[list[RawItem]]:
    yield first
    yield second
    yield from rest
