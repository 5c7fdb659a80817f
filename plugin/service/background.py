"""Background work of a service worker, coordinated with the other workers through the
database (`store.leases`), so N workers never do it N times.

Each worker process runs one `Background` thread.  Every `tick` seconds it:

1. follows the published lists (`store.lists`): when the newest copy published in the
   database is not the one installed in its data folder, it installs it there (one worker
   per folder at a time, under a file lock) and swaps its screening index.  So every worker,
   on every host, screens with the same lists a moment after one of them got them;
2. with `--lists-update-every`, takes the `lists-update` job's lease when it is due: the one
   worker holding it downloads the official list (the same fail-closed content checks as
   `entityscan lists update`), publishes the copy, swaps its own index and rescreens the
   stored inventory once, recording the rescreen in the audit log.

Webhook delivery has its own worker (`entityscan.delivery`), whose claims are `SKIP LOCKED`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from entityscan.durable import exclusive_lock
from entityscan.errors import EntityscanError
from entityscan.lists.registry import installed_metadata, update_lists
from entityscan.service.refresh import ContextSource
from entityscan.store import Store

log = logging.getLogger("entityscan.service")
LISTS_UPDATE_JOB = "lists-update"
RETRY_AT_MOST = timedelta(hours=1)


@dataclass(frozen=True)
class BackgroundConfig:
    lists_update_every: timedelta | None = None
    lists_source: str | None = None  # URL or file; None: the public CSL
    tick: float = 5.0
    lease: timedelta = timedelta(minutes=15)


class Background:
    """See the module docstring."""

    def __init__(self, store: Store, contexts: ContextSource, config: BackgroundConfig,
                 holder: str) -> None:
        self.store = store
        self.contexts = contexts
        self.config = config
        self.holder = holder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def data_dir(self) -> Path:
        assert self.contexts.data_dir is not None
        return self.contexts.data_dir

    def start(self) -> None:
        if self.contexts.data_dir is None:
            return  # a fixed context (tests, a library user): nothing to follow
        self._thread = threading.Thread(target=self._run, name="entityscan-background",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.config.tick)

    def run_once(self) -> None:
        """One round; errors are logged and the next round tries again (the database may be
        away for a while)."""
        try:
            self.follow_published()
            if self.config.lists_update_every is not None:
                self.update_lists_if_due()
        except Exception as exc:
            log.error("background work: %s", exc)

    # --- following what another worker published ---------------------------------------------
    def _installed_hash(self) -> str | None:
        with contextlib.suppress(EntityscanError, OSError):
            meta = installed_metadata(self.data_dir)
            return None if meta is None else str(meta.get("content_hash"))
        return None

    @contextlib.contextmanager
    def _install_lock(self) -> Iterator[None]:
        folder = self.data_dir / "csl"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with exclusive_lock(folder / ".install.lock"):
            yield

    def follow_published(self) -> bool:
        """Install the newest published copy when it is not installed here; True when it
        installed one."""
        head = self.store.lists.head()
        if head is None or head == self._installed_hash():
            return False
        with self._install_lock():
            if head == self._installed_hash():  # another worker of this folder did it
                self.contexts.reload()
                return False
            found = self.store.lists.fetch(head)
            if found is None:
                return False
            _meta, data = found
            fd, name = tempfile.mkstemp(dir=self.data_dir / "csl", prefix=".published-",
                                        suffix=".dat")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                # the publisher ran the content checks against its previous copy; this
                # folder's copy may be older still, so a shrink is not refused here
                update_lists(name, self.data_dir, max_shrink=1.0)
            except EntityscanError as exc:
                log.error("the published lists %s cannot be installed here: %s", head[:19],
                          exc)
                return False
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        ctx = self.contexts.reload()
        log.info("installed the published lists %s; screening with %s", head[:19],
                 ctx.lists.content_hash[:19])
        return True

    # --- the one worker that downloads ---------------------------------------------------------
    def update_lists_if_due(self) -> bool:
        """Take the `lists-update` lease when due; download, publish, swap, rescreen once."""
        every = self.config.lists_update_every
        assert every is not None
        if not self.store.leases.take(LISTS_UPDATE_JOB, self.holder, self.config.lease):
            return False
        try:
            with self._install_lock():
                result = update_lists(self.config.lists_source, self.data_dir)
            published = self.store.lists.publish(result.installed, result.meta)
            changed = result.meta["content_hash"] != (result.previous_meta or {}).get(
                "content_hash")
            summary = f"installed {result.meta['content_hash'][:19]}…"
            if published or changed:
                from entityscan.operations import rescreen

                ctx = self.contexts.reload()
                report = rescreen(self.store, ctx, actor=f"service:{LISTS_UPDATE_JOB}")
                report.notify()
                summary += f"; rescreened {report.screened}, {len(report.changes)} changed " \
                           f"(audit {report.audit_id})"
            self.store.leases.done(LISTS_UPDATE_JOB, self.holder, every, summary)
            log.info("lists update: %s", summary)
        except EntityscanError as exc:
            log.error("lists update refused or failed, kept the installed copy: %s", exc)
            self.store.leases.failed(LISTS_UPDATE_JOB, self.holder, min(every, RETRY_AT_MOST),
                                     str(exc))
        return True
