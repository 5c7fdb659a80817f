"""One run of entityscan: its settings, its plugin manager, its screening context and store.

    with Session.open(plugin_modules=["hold_po"], list_paths=[...], db=None) as session:
        done = screen_scan(inventory, session.context(), session.store(), actor=session.actor,
                           source="entityscan scan")

Every face builds one `Session` per run (a CLI command, a scheduled run's child process, the
service process) and passes what it holds to `entityscan.operations`.  The plugin manager is
built once, on first use, and everything in the run uses it: the scanner's
signature directories, the screening context (and its rebuilds when the lists change), the
reaction hooks.  The context is built on first use, the store opened on first use and closed
with the session.
"""

from __future__ import annotations

import getpass
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from entityscan.hooks import EntityscanPluginManager, make_plugin_manager
from entityscan.hooktypes import Settings
from entityscan.lists import ListSet
from entityscan.lists.registry import resolve_data_dir
from entityscan.screening import ScreeningContext, load_lists

if TYPE_CHECKING:
    from entityscan.store import Store

INDEX_CACHE_FOLDER = "index-cache"


def webhook_configured(settings: Settings) -> bool:
    """A webhook URL is set and the built-in notifier is not switched off."""
    return bool(settings.webhook_url) and "builtin.webhook" not in settings.disabled


def deliver_before_exit(store: Store, settings: Settings) -> None:
    """A CLI run delivers the webhook events it recorded for a bounded time; what a receiver
    does not take stays in the outbox for the service's worker or the next run."""
    from entityscan.builtins.webhook import WebhookNotifier
    from entityscan.delivery import deliver_pending

    deliver_pending(store.outbox, WebhookNotifier(settings), within=2 * settings.webhook_timeout)


def cli_actor() -> str:
    """Who runs a command, as the audit log records it: `cli:USER`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class Session:
    """What one run holds; see the module docstring."""

    def __init__(self, settings: Settings, *, list_paths: Sequence[Path] = (),
                 relation_paths: Sequence[Path] = (), actor: str | None = None,
                 one_shot: bool = False) -> None:
        self.settings = settings
        self.one_shot = one_shot  # a run that ends after one screening (not the service)
        self._hooks: EntityscanPluginManager | None = None
        self.list_paths = tuple(Path(p) for p in list_paths)
        self.relation_paths = tuple(Path(p) for p in relation_paths)
        self.actor = actor or cli_actor()
        self._context: ScreeningContext | None = None
        self._store: Store | None = None
        self._lock = threading.RLock()  # context() builds the plugin manager under it

    @classmethod
    def open(cls, *, plugin_modules: Sequence[str] = (), data_dir: Path | None = None,
             db: str | None = None, list_paths: Sequence[Path] = (),
             relation_paths: Sequence[Path] = (), actor: str | None = None,
             one_shot: bool = False) -> Session:
        """Settings from the environment (`ENTITYSCAN_*`), with the command line on top.
        `one_shot`: the run screens once and ends, so a cached index it loads is kept out of
        the garbage collector's sight (`ScreeningContext.load(freeze=True)`)."""
        settings = Settings.from_env(data_dir=data_dir, db_url=db)
        if plugin_modules:
            settings = replace(settings,
                               plugin_modules=settings.plugin_modules + tuple(plugin_modules))
        return cls(settings, list_paths=list_paths, relation_paths=relation_paths, actor=actor,
                   one_shot=one_shot)

    @property
    def hooks(self) -> EntityscanPluginManager:
        """The run's plugin manager, built on first use (token and store commands that never
        screen do not load plugins) and then shared by everything in the run."""
        with self._lock:
            if self._hooks is None:
                self._hooks = make_plugin_manager(self.settings)
            return self._hooks

    @property
    def data_dir(self) -> Path:
        """Where the installed lists, the index cache and the default SQLite store live."""
        return resolve_data_dir(self.settings.data_dir)

    def context(self) -> ScreeningContext:
        """The screening context, built on first use from this run's plugin manager."""
        with self._lock:
            if self._context is None:
                self._context = self.load_context()
            return self._context

    def lists(self) -> ListSet:
        """The lists this run screens against, without building the matcher's index."""
        if self._context is not None:
            return self._context.lists
        return load_lists(self.hooks, self.list_paths)

    def load_context(self) -> ScreeningContext:
        """A fresh context (the service calls this when the installed lists change): loaded
        from the index cache in the data dir when nothing it was built from changed, else
        built and cached (`entityscan.index_cache`)."""
        return ScreeningContext.load(self.hooks, list_paths=self.list_paths,
                                     relation_paths=self.relation_paths,
                                     cache_dir=self.data_dir / INDEX_CACHE_FOLDER,
                                     freeze=self.one_shot)

    def store(self) -> Store:
        """The store (`--db`, `ENTITYSCAN_DB`, else SQLite in the data dir), opened once."""
        from entityscan.store import Store  # SQLAlchemy loads only in runs that use the store

        with self._lock:
            if self._store is None:
                self._store = Store(self.settings.db_url, data_dir=self.settings.data_dir,
                                    outbox=webhook_configured(self.settings))
            return self._store

    def store_exists(self) -> bool:
        """False when nothing was ever saved in the default SQLite store (no file yet)."""
        from entityscan.store import default_url

        url = self.settings.db_url or default_url(self.settings.data_dir)
        if self.settings.db_url or not url.startswith("sqlite:///"):
            return True
        return Path(url.removeprefix("sqlite:///")).exists()

    def close(self) -> None:
        if self._store is not None:
            outbox = self._store.outbox
            if outbox.enqueued and not outbox.watched and webhook_configured(self.settings):
                # this run's events, before it exits
                deliver_before_exit(self._store, self.settings)
            self._store.close()
            self._store = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
