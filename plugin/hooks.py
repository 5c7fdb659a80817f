"""The plugin manager: pluggy, with entityscan's built-ins registered as default plugins.

    pm = make_plugin_manager(Settings.from_env())
    relations = contributed_relations(pm)     # -> pm.hook.entityscan_relations(settings=...)

Every hook is called through pluggy (`pm.hook.<name>(...)`), never by calling an
implementation directly, so hook wrappers, `tryfirst`/`trylast` and pluggy's call monitoring
all work.  When a plugin is registered, each of its implementations is wrapped once
(`_guarded`) so that:

- what it returns is checked against its spec, and a wrong type is a `PluginError` naming the
  plugin (data and screening hooks that raise stop the run the same way: a veto must never be
  skipped silently);
- a screening `Amendment` carries the registered name of the plugin that made it (set here,
  so no plugin can speak for another);
- a reaction hook that raises is logged and reported, and the other plugins still run;
- with `ENTITYSCAN_TRACE_PLUGINS=1` every call is logged with its plugin and duration on the
  `entityscan.plugins` logger.

`hookimpl` is the marker plugins use (also exported as `entityscan.hookimpl`).
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from entityscan import hookspecs
from entityscan.errors import EntityscanError
from entityscan.hooktypes import Amendment, FindingEvent, Settings

if TYPE_CHECKING:
    from entityscan.lists import ListSet
    from entityscan.matcher import PartPattern
    from entityscan.model import Relation
    from entityscan.scanners.signatures import Signatures

log = logging.getLogger("entityscan.hooks")
trace_log = logging.getLogger("entityscan.plugins")

PROJECT = "entityscan"
ENTRY_POINT_GROUP = "entityscan"
hookimpl = pluggy.HookimplMarker(PROJECT)
BUILTIN_MODULES = {
    "builtin.lists": "entityscan.builtins.lists",
    "builtin.relations": "entityscan.builtins.relations",
    "builtin.patterns": "entityscan.builtins.patterns",
    "builtin.webhook": "entityscan.builtins.webhook",
}
REACTION_HOOKS = frozenset({"entityscan_findings", "entityscan_scan_completed",
                            "entityscan_inventory_changed"})


class PluginError(EntityscanError):
    """A plugin cannot be loaded, failed, or returned something unusable."""


@dataclass(frozen=True)
class ReactionFailure:
    """What a reaction hook that raised returns instead (the others still run)."""

    plugin: str
    hook: str
    message: str


@dataclass(frozen=True)
class PluginInfo:
    name: str
    origin: str
    hooks: tuple[str, ...]


class EntityscanPluginManager(pluggy.PluginManager):
    """pluggy's manager with the run's `settings` and where each plugin came from."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(PROJECT)
        self.settings = settings
        self.origins: dict[str, str] = {}
        self.add_hookspecs(hookspecs)
        if settings.trace_plugins:
            self._trace_started: list[float] = []
            self.add_hookcall_monitoring(self._trace_before, self._trace_after)

    def register(self, plugin: object, name: str | None = None,
                 origin: str = "registered directly") -> str | None:
        try:
            registered = super().register(plugin, name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {name or plugin!r} ({origin}) cannot be registered: "
                              f"{exc}") from exc
        if registered is None:
            return None
        self.origins[registered] = origin
        for caller in self.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    # pluggy calls `impl.function(*args)`; the guard keeps its signature.
                    impl.function = _guarded(  # type: ignore[misc]
                        caller.name, registered, impl.function, self.settings.trace_plugins)
        return registered

    def describe(self) -> list[PluginInfo]:
        """Every registered plugin, where it came from and which hooks it implements."""
        return [PluginInfo(name, self.origins.get(name, "registered directly"),
                           tuple(sorted(c.name for c in self.get_hookcallers(plugin) or ())))
                for name, plugin in self.list_name_plugin()]

    def _trace_before(self, hook_name: str, impls: Sequence[pluggy.HookImpl],
                      kwargs: Mapping[str, Any]) -> None:
        self._trace_started.append(time.perf_counter())

    def _trace_after(self, outcome: pluggy.Result[Any], hook_name: str,
                     impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        took = (time.perf_counter() - self._trace_started.pop()) * 1000
        names = ", ".join(impl.plugin_name for impl in reversed(impls)) or "no plugin"
        trace_log.info("%s: %.3f ms in all (%s)", hook_name, took, names)


def _guarded(hook: str, plugin: str, function: Callable[..., Any],
             trace: bool) -> Callable[..., Any]:
    check = _RESULT_CHECKS.get(hook)

    @functools.wraps(function)
    def guarded(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            result = function(*args)
        except PluginError:
            raise
        except Exception as exc:
            message = f"plugin {plugin!r} failed in {hook}: {type(exc).__name__}: {exc}"
            if hook in REACTION_HOOKS:  # a broken notifier must not lose the others' work
                log.error(message)
                return ReactionFailure(plugin, hook, message)
            raise PluginError(message) from exc
        finally:
            if trace:
                trace_log.info("%s <- %s: %.3f ms", hook, plugin,
                               (time.perf_counter() - started) * 1000)
        return result if result is None or check is None else check(plugin, hook, result)

    return guarded


def _expect_sequence(plugin: str, hook: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise PluginError(f"plugin {plugin!r}: {hook} returned {type(value).__name__}, "
                          f"expected a list or None")
    return list(value)


def _expect_list_set(plugin: str, hook: str, value: Any) -> Any:
    from entityscan.lists import ListSet  # the lists load only when a context is built

    if not isinstance(value, ListSet):
        raise PluginError(f"plugin {plugin!r}: {hook} returned {type(value).__name__}, "
                          f"expected a ListSet or None")
    return value


def _expect_amendment(plugin: str, hook: str, value: Any) -> Amendment:
    if not isinstance(value, Amendment):
        raise PluginError(f"plugin {plugin!r}: {hook} returned {type(value).__name__}, "
                          f"expected Amendment or None")
    return value.model_copy(update={"plugin": plugin})


_RESULT_CHECKS: dict[str, Callable[[str, str, Any], Any]] = {
    "entityscan_list_sources": _expect_list_set,
    "entityscan_relations": _expect_sequence,
    "entityscan_patterns": _expect_sequence,
    "entityscan_signature_dirs": _expect_sequence,
    "entityscan_screen_item": _expect_amendment,
    "entityscan_screen_device": _expect_amendment,
}


# ----- building the manager -----
def make_plugin_manager(settings: Settings, plugins: Iterable[object] = ()
                        ) -> EntityscanPluginManager:
    """A fresh manager: built-ins (minus `settings.disabled`), entry points, named modules,
    then `plugins` (objects or modules, e.g. from a test)."""
    pm = EntityscanPluginManager(settings)
    for name, module_name in BUILTIN_MODULES.items():
        if name in settings.disabled:
            continue
        module = importlib.import_module(module_name)
        factory = getattr(module, "make_plugin", None)
        plugin = factory(settings) if callable(factory) else module
        pm.register(plugin, name, f"built-in ({module_name})")
    if settings.load_entrypoints:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name not in settings.disabled and pm.get_plugin(ep.name) is None:
                pm.register(_load_entry_point(ep), ep.name, _entry_point_origin(ep))
    for module_name in settings.plugin_modules:
        if module_name in settings.disabled:
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(f"plugin module {module_name!r} cannot be imported: {exc}; "
                              f"check ENTITYSCAN_PLUGINS / --plugin") from exc
        pm.register(module, module_name, f"module {getattr(module, '__file__', module_name)}")
    for plugin in plugins:
        base = getattr(plugin, "__name__", None) or type(plugin).__name__
        name, n = base, 1
        while pm.has_plugin(name):
            n += 1
            name = f"{base}#{n}"
        pm.register(plugin, name, "passed in by the caller")
    return pm


def _load_entry_point(ep: EntryPoint) -> object:
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(f"entry point {ep.name!r} ({ep.value}) in group "
                          f"{ENTRY_POINT_GROUP!r} cannot be loaded: {exc}") from exc


def _entry_point_origin(ep: EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return f"entry point {ep.value}"
    return f"entry point {ep.value} from {dist.metadata['Name']} {dist.version}"


# ----- calling the hooks, combined as their specs say -----
def contributed_lists(pm: EntityscanPluginManager) -> list[ListSet]:
    """List sets in pluggy's call order."""
    return list(pm.hook.entityscan_list_sources(settings=pm.settings))


def contributed_relations(pm: EntityscanPluginManager) -> list[Relation]:
    """Relations in registration order (built-ins first), so a later plugin can correct an
    earlier row for the same brand."""
    return [r for rows in reversed(pm.hook.entityscan_relations(settings=pm.settings))
            for r in rows]


def contributed_patterns(pm: EntityscanPluginManager) -> list[PartPattern]:
    """Part-number patterns merged by id, a later plugin's rule replacing an earlier one."""
    by_id: dict[str, PartPattern] = {}
    for rules in reversed(pm.hook.entityscan_patterns(settings=pm.settings)):
        by_id.update((rule.id, rule) for rule in rules)
    return list(by_id.values())


def signature_dirs(pm: EntityscanPluginManager) -> list[Path]:
    """Signature directories contributed by plugins, de-duplicated, in call order."""
    seen: dict[Path, None] = {}
    for paths in pm.hook.entityscan_signature_dirs(settings=pm.settings):
        for path in paths:
            seen.setdefault(Path(path).resolve(), None)
    return list(seen)


def signatures(pm: EntityscanPluginManager) -> Signatures:
    """The scanner's compiled rule set: bundled rules plus every plugin's directories."""
    from entityscan.scanners.signatures import load_signatures
    from entityscan.scanners.signatures.engine import RULES_DIR

    return load_signatures([RULES_DIR, *signature_dirs(pm)])


def item_amendments(pm: EntityscanPluginManager, item: Any, finding: Any) -> list[Amendment]:
    return list(pm.hook.entityscan_screen_item(item=item, finding=finding,
                                               settings=pm.settings))


def device_amendments(pm: EntityscanPluginManager, device: Any, finding: Any
                      ) -> list[Amendment]:
    return list(pm.hook.entityscan_screen_device(device=device, finding=finding,
                                                 settings=pm.settings))


def _failures(results: Iterable[object]) -> list[str]:
    return [r.message for r in results if isinstance(r, ReactionFailure)]


def notify_findings(pm: EntityscanPluginManager, events: Sequence[FindingEvent],
                    context: dict[str, Any]) -> list[str]:
    """React to findings (none: no call).  Returns the failures' messages."""
    if not events:
        return []
    return _failures(pm.hook.entityscan_findings(events=list(events), context=context,
                                                 settings=pm.settings))


def notify_scan_completed(pm: EntityscanPluginManager, scan_id: int | None,
                          document: dict[str, Any]) -> list[str]:
    return _failures(pm.hook.entityscan_scan_completed(scan_id=scan_id, document=document,
                                                       settings=pm.settings))


def notify_inventory_changed(pm: EntityscanPluginManager, diff: dict[str, Any]) -> list[str]:
    return _failures(pm.hook.entityscan_inventory_changed(diff=diff, settings=pm.settings))


__all__ = ["ENTRY_POINT_GROUP", "EntityscanPluginManager", "PluginError", "PluginInfo",
           "ReactionFailure", "contributed_lists", "contributed_patterns",
           "contributed_relations", "device_amendments", "hookimpl", "item_amendments",
           "make_plugin_manager", "notify_findings", "notify_inventory_changed",
           "notify_scan_completed", "signature_dirs", "signatures"]
