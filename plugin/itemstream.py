"""Line items screened as a stream: the application layer's one path for line items
(`entityscan.operations.screen_line_item_stream`; `screen_line_items` is its in-memory form).

    done = screen_line_item_stream(source.chunks(), ctx, store, actor=..., source="screen",
                                   input_name="po.csv", sink=open_sink("json", out), jobs=4)
    done.notify()          # after the output was committed

Chunks are screened (in worker processes with `jobs` > 1) and handed to the sink in input
order; nothing is kept per line except the duplicate-id check's hash, so memory does not grow
with the input.  With a store, the recorded decisions apply to every line, and the screening
is recorded as one audit entry per `AUDIT_BATCH` consecutive lines (with a finding row per
line at `review` or above), so no single record holds a million lines.  Reaction hooks
(`entityscan_findings`) receive the findings at `review` or above from `notify()`, at most
`HOOK_BATCH` per call, each call's `context["audit_id"]` naming the entry that recorded them;
until then the findings wait in a temporary file, not in memory.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from entityscan.hooks import EntityscanPluginManager, notify_findings
from entityscan.hooktypes import FindingEvent
from entityscan.itemchunks import ChunkOut, ChunkPlan, chunk_outcomes, subject_record
from entityscan.lineitems import RawItem, to_item
from entityscan.model import Verdict
from entityscan.output import screen_header
from entityscan.parallel import screen_chunks
from entityscan.screening import ScreeningContext
from entityscan.streamout import ResultSink

if TYPE_CHECKING:  # SQLAlchemy loads only in runs that open a store
    from entityscan.store import Store

AUDIT_BATCH = 10_000  # lines per audit entry
HOOK_BATCH = 1_000  # findings per `entityscan_findings` call
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bytes of waiting findings kept in memory, the rest on disk


@dataclass
class StreamedScreening:
    """What a streamed screening leaves: counts, the audit entries, and the reactions."""

    summary: dict[str, Any]
    audit_ids: list[int]
    lists_content_hash: str
    notify: Callable[[], list[str]] = field(repr=False)

    @property
    def worst(self) -> Verdict:
        for verdict in (Verdict.FLAGGED, Verdict.REVIEW):
            if self.summary[verdict.value]:
                return verdict
        return Verdict.CLEAR


def has_reactions(hooks: EntityscanPluginManager, saved: bool) -> bool:
    """Whether any plugin reacts to findings: when none does, nothing is kept for `notify()`.
    The built-in webhook reacts only with a URL, and not to saved screenings (their events
    are in the store's outbox)."""
    return any(impl.plugin_name != "builtin.webhook"
               or (hooks.settings.webhook_url and not saved)
               for impl in hooks.hook.entityscan_findings.get_hookimpls())


class _Summary:
    def __init__(self) -> None:
        self.counts = {v.value: 0 for v in Verdict}
        self.makers: dict[str, int] = {}

    def add(self, out: ChunkOut) -> None:
        for verdict, count in out.verdicts.items():
            self.counts[verdict] += count
        for maker, count in out.makers.items():
            self.makers[maker] = self.makers.get(maker, 0) + count

    def document(self) -> dict[str, Any]:
        return {"total": sum(self.counts.values()), **self.counts, "by_maker": self.makers}


class _Spool:
    """Findings at `review` or above waiting for `notify()`, one JSON event per line."""

    def __init__(self) -> None:
        self.file: IO[str] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by replay
            max_size=SPOOL_IN_MEMORY, mode="w+", encoding="utf-8", errors="backslashreplace")
        self.count = 0

    def add(self, rows: list[RawItem], out: ChunkOut, audit_id: int | None) -> None:
        for index, verdict, as_json, decision, _ in out.notable:
            if verdict == Verdict.CLEAR.value:
                continue
            self.file.write(f'{{"finding":{as_json},"decision":{json.dumps(decision)},'
                            f'"subject":{json.dumps(subject_record(rows[index]), default=str)},'
                            f'"audit_id":{json.dumps(audit_id)}}}\n')
            self.count += 1

    def batches(self) -> Iterable[list[FindingEvent]]:
        """The events in order, at most HOOK_BATCH at a time, never mixing audit entries."""
        self.file.seek(0)
        batch: list[FindingEvent] = []
        for line in self.file:
            event = FindingEvent.model_validate_json(line)
            if batch and (len(batch) >= HOOK_BATCH or event.audit_id != batch[0].audit_id):
                yield batch
                batch = []
            batch.append(event)
        if batch:
            yield batch

    def close(self) -> None:
        self.file.close()


def screen_line_item_stream(
        chunks: Iterable[list[RawItem]], ctx: ScreeningContext, store: Store | None, *,
        actor: str, source: str, input_name: str | None, sink: ResultSink, jobs: int = 1,
        lean: bool = True, audit_batch: int | None = None,
        on_chunk: Callable[[list[RawItem], ChunkOut], None] | None = None
        ) -> StreamedScreening:
    """Screen `chunks` of rows (`entityscan.lineitems.LineItemFile.chunks()`) into `sink`;
    with a store, apply its decisions and record the screening (see the module docstring).
    `audit_batch`: lines per audit entry (default `AUDIT_BATCH`).  `on_chunk` sees every
    chunk screened in this process, with its finding objects."""
    audit_batch = audit_batch or AUDIT_BATCH
    decisions = tuple(store.decisions.list()) if store is not None else ()
    lists_hash = ctx.lists.content_hash
    plan = ChunkPlan(ctx, decisions, datetime.now(UTC), sink.output, lean, sink.extra_columns)
    summary = _Summary()
    spool = _Spool() if has_reactions(ctx.hooks, store is not None) else None
    audit_ids: list[int] = []
    batch: list[tuple[list[RawItem], ChunkOut]] = []

    def record_batch() -> None:
        assert store is not None
        items = [to_item(row) for rows, _ in batch for row in rows]
        outcomes = [o for rows, out in batch for o in chunk_outcomes(rows, out)]
        audit_id = store.findings.record_screening(items, outcomes, actor=actor,
                                                   source=source,
                                                   lists_content_hash=lists_hash)
        audit_ids.append(audit_id)
        if spool is not None:
            for rows, out in batch:
                spool.add(rows, out, audit_id)
        batch.clear()

    def close_store_connections() -> None:  # a forked worker must not share them
        if store is not None:
            store.engine.dispose()

    sink.begin(screen_header(ctx.lists, input_name))
    try:
        for rows, out in screen_chunks(chunks, plan, jobs=jobs, keep_findings=on_chunk
                                       is not None, before_fork=close_store_connections):
            summary.add(out)
            sink.write(out)
            if on_chunk is not None:
                on_chunk(rows, out)
            out.text, out.records = "", None  # written: only the findings are kept
            if store is not None:
                batch.append((rows, out))
                if sum(len(r) for r, _ in batch) >= audit_batch:
                    record_batch()
            elif spool is not None:
                spool.add(rows, out, None)
        if store is not None and (batch or not audit_ids):
            record_batch()  # an empty input is recorded too: every screening has its entry
        tail: dict[str, Any] = {"summary": summary.document()}
        if audit_ids:
            tail.update(audit_id=audit_ids[0], audit_ids=audit_ids)
        sink.finish(tail)
    except BaseException:
        sink.abort()
        if spool is not None:
            spool.close()
        raise
    context = {"source": source, "actor": actor, "input": input_name,
               "lists_content_hash": lists_hash}

    def notify() -> list[str]:
        if spool is None:
            return []
        failures: list[str] = []
        try:
            for events in spool.batches():
                failures += notify_findings(ctx.hooks, events,
                                            {**context, "audit_id": events[0].audit_id})
        finally:
            spool.close()
        return failures

    return StreamedScreening(summary.document(), audit_ids, lists_hash, notify)
