"""Restricted-party lists: the bundled cited starter set, the official CSL files, and the
installed copy that `entityscan lists update` keeps.

Public API:
- `ListSet`: an immutable bundle of entries with per-source metadata and a content hash;
- `load_bundled()`: the cited starter dataset shipped with entityscan;
- `load_list_file(path)`: a CSL CSV/JSON file (or a bundled-format YAML file);
- `default_lists(extra, data_dir)`: bundled + the installed CSL copy + `--list` files;
- `update_lists(source, data_dir)`: fetch, validate and install a new CSL copy, fail-closed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

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

    @property
    def content_hash(self) -> str:
        """sha256 over the entries' canonical JSON, independent of load order."""
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


from entityscan.lists.bundled_loader import load_bundled  # noqa: E402
from entityscan.lists.registry import default_lists, load_list_file, update_lists  # noqa: E402

__all__ = ["ListSet", "ListSource", "default_lists", "load_bundled", "load_list_file",
           "update_lists"]
