"""The agent's spool: scan documents waiting for the central service, on local disk.

Durable: a document is written to a temporary file, flushed to disk, renamed into place and
the folder synced before the run reports it spooled, so a crash or power cut leaves either
the whole document or none of it.  Private: the folder is 0700 and every file 0600 (the
documents name every device of a site).  Ordered: file names start with the time they were
spooled, and documents are sent oldest first, so the centre sees a site's scans in the order
they were made.  Bounded: at most `max_documents` documents and `max_bytes` bytes; past
either, the oldest are dropped with a warning naming them (the newest scan of a site says
most about it).  One process at a time works on it (an exclusive `flock`).

    spool/
      .lock
      target.json                       where the documents go: URL and token file path
      00001733380000123456789-<id>.json a document waiting
      rejected/…                        documents the centre refused as invalid (kept to
                                        read; never sent again)
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from entityscan.durable import exclusive_lock, replacing, sync_folder
from entityscan.errors import InputError

DIR_MODE = 0o700
FILE_MODE = 0o600
DEFAULT_MAX_DOCUMENTS = 10_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int

    @property
    def name(self) -> str:
        return self.path.name


class Spool:
    """A spool folder (see the module docstring)."""

    def __init__(self, folder: Path, *, max_documents: int = DEFAULT_MAX_DOCUMENTS,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_documents = max(1, max_documents)
        self.max_bytes = max(1, max_bytes)

    # --- the folder ---------------------------------------------------------------------------
    def _prepare(self) -> None:
        try:
            missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
            for folder in reversed(missing):
                folder.mkdir(mode=DIR_MODE, exist_ok=True)
            (self.folder / "rejected").mkdir(mode=DIR_MODE, exist_ok=True)
            for folder in (self.folder, self.folder / "rejected"):
                info = folder.stat()
                if info.st_mode & 0o077 and info.st_uid == os.getuid():
                    folder.chmod(DIR_MODE)
        except OSError as exc:
            raise InputError(f"{self.folder}: cannot use the spool folder: "
                             f"{exc.strerror or exc}") from exc

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of the spool by this process (another waits its turn)."""
        self._prepare()
        with exclusive_lock(self.folder / ".lock", FILE_MODE):
            yield

    # --- entries ------------------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        """Documents waiting, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            if path.suffix == ".json" and path.name[0].isdigit() and path.is_file():
                found.append(Entry(path, path.stat().st_size))
        return sorted(found, key=lambda e: e.name)

    def rejected(self) -> list[Path]:
        folder = self.folder / "rejected"
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def add(self, body: bytes, document_id: str) -> tuple[Entry, list[str]]:
        """Write a document durably; returns its entry and the names of older documents
        dropped to stay within the bounds.  Call under `locked()`."""
        name = f"{time.time_ns():023d}-{quote(document_id, safe='')[:200]}.json"
        path = self.folder / name
        _write_durably(path, body)
        return Entry(path, len(body)), self._bound(keep=path)

    def _bound(self, keep: Path) -> list[str]:
        entries = self.entries()
        total = sum(e.size for e in entries)
        dropped = []
        while entries and (len(entries) > self.max_documents or total > self.max_bytes):
            oldest = entries.pop(0)
            if oldest.path == keep:
                entries.append(oldest)  # never drop the document just written
                break
            with contextlib.suppress(FileNotFoundError):
                oldest.path.unlink()
            total -= oldest.size
            dropped.append(oldest.name)
        if dropped:
            sync_folder(self.folder)
        return dropped

    def remove(self, entry: Entry) -> None:
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
        sync_folder(self.folder)

    def reject(self, entry: Entry, reason: str) -> Path:
        """Move a document the centre refused aside, with the reason beside it."""
        target = self.folder / "rejected" / entry.name
        os.replace(entry.path, target)
        _write_durably(target.with_suffix(".reason.txt"), reason.encode("utf-8", "replace"))
        sync_folder(self.folder)
        return target

    # --- where documents go -------------------------------------------------------------------
    def remember_target(self, url: str, token_file: Path) -> None:
        _write_durably(self.folder / "target.json", json.dumps(
            {"url": url, "token_file": str(token_file)}).encode())

    def target(self) -> dict[str, Any] | None:
        try:
            found = json.loads((self.folder / "target.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None


def _write_durably(path: Path, body: bytes) -> None:
    with replacing(path, mode=FILE_MODE) as out:
        out.write(body)
    sync_folder(path.parent)
