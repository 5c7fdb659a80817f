"""`ListSet`, the frozen bundle of list entries a run screens against, and `ListSource`, the
metadata of where each group of entries came from (for the report and the audit trail)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cached_property

from pydantic import BaseModel, Field

from entityscan.model import ListEntry


class ListSource(BaseModel):
    """Where a group of entries came from, for the report and the audit trail."""

    name: str = Field(description="`bundled`, `csl`, or the file name")
    location: str = Field(description="path or URL it was read from")
    loaded_at: datetime | None = None
    published: str | None = Field(default=None, description="the publisher's date, if known")
    count: int = 0
    per_list: dict[str, int] = Field(default_factory=dict)
    content_hash: str = ""
    note: str | None = Field(default=None, description="a warning about this source, e.g. "
                                                       "a fallback to the backup copy")


class ListSet:
    """Entries from one or more sources, frozen once built."""

    def __init__(self, entries: Iterable[ListEntry], sources: Sequence[ListSource]) -> None:
        self.entries: tuple[ListEntry, ...] = tuple(entries)
        self.sources: tuple[ListSource, ...] = tuple(sources)

    def __len__(self) -> int:
        return len(self.entries)

    def merged(self, other: ListSet) -> ListSet:
        return ListSet(self.entries + other.entries, self.sources + other.sources)

    @cached_property
    def content_hash(self) -> str:
        """sha256 over the entries' canonical JSON, independent of load order (computed once:
        the entries are frozen)."""
        digest = hashlib.sha256()
        for line in sorted(json.dumps(e.model_dump(mode="json"), sort_keys=True,
                                      ensure_ascii=False) for e in self.entries):
            digest.update(line.encode("utf-8"))
            digest.update(b"\n")
        return "sha256:" + digest.hexdigest()

    def per_list(self) -> dict[str, int]:
        return dict(Counter(e.list for e in self.entries))

    def describe(self) -> list[dict[str, object]]:
        """Sources as plain dicts for JSON output."""
        return [s.model_dump(mode="json") for s in self.sources]
