"""The plugin manager: built-in default plugins, entry points, named modules.

    pm = make_plugin_manager(Settings.from_env())
    ctx = ScreeningContext.load(..., hooks=pm)

`hookimpl` is the marker third-party plugins use.  Helpers here call the hooks the way their
specs in `entityscan.hookspecs` describe (how results combine, which errors propagate).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from entityscan import hookspecs
from entityscan.errors import EntityscanError
from entityscan.hooktypes import Amendment, FindingEvent, Settings

log = logging.getLogger("entityscan.hooks")

hookimpl = pluggy.HookimplMarker("entityscan")
ENTRY_POINT_GROUP = "entityscan"
BUILTIN_MODULES = {
    "builtin.lists": "entityscan.builtins.lists",
    "builtin.relations": "entityscan.builtins.relations",
    "builtin.patterns": "entityscan.builtins.patterns",
    "builtin.webhook": "entityscan.builtins.webhook",
}


class PluginError(EntityscanError):
    """A plugin cannot be loaded or returned something unusable."""


def make_plugin_manager(settings: Settings, plugins: Iterable[object] = ()) -> pluggy.PluginManager:
    """A fresh manager: built-ins (minus `settings.disabled`), entry points, named modules,
    then `plugins` (objects or modules, e.g. from a test)."""
    pm = pluggy.PluginManager("entityscan")
    pm.add_hookspecs(hookspecs)
    pm.entityscan_settings = settings  # type: ignore[attr-defined]
    pm.entityscan_origins = {}  # type: ignore[attr-defined]
    for name, module_name in BUILTIN_MODULES.items():
        if name in settings.disabled:
            continue
        module = importlib.import_module(module_name)
        factory = getattr(module, "make_plugin", None)
        plugin = factory(settings) if callable(factory) else module
        _register(pm, plugin, name, f"built-in ({module_name})")
    if settings.load_entrypoints:
        for ep in _entry_points():
            if ep.name in settings.disabled or pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"entry point {ep.name!r} ({ep.value}) in group "
                                  f"{ENTRY_POINT_GROUP!r} cannot be loaded: {exc}") from exc
            dist = getattr(ep, "dist", None)
            where = (f"entry point {ep.value} from {dist.metadata['Name']} {dist.version}"
                     if dist is not None else f"entry point {ep.value}")
            _register(pm, plugin, ep.name, where)
    for module_name in settings.plugin_modules:
        if module_name in settings.disabled:
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(f"plugin module {module_name!r} cannot be imported: {exc}; "
                              f"check ENTITYSCAN_PLUGINS / --plugin") from exc
        _register(pm, module, module_name, f"module {getattr(module, '__file__', module_name)}")
    for plugin in plugins:
        base = getattr(plugin, "__name__", None) or type(plugin).__name__
        name, n = base, 1
        while pm.has_plugin(name):
            n += 1
            name = f"{base}#{n}"
        _register(pm, plugin, name, "passed in by the caller")
    return pm


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _register(pm: pluggy.PluginManager, plugin: object, name: str, origin: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginError(f"plugin {name!r} ({origin}) cannot be registered: {exc}") from exc
    pm.entityscan_origins[name] = origin  # type: ignore[attr-defined]


def settings_of(pm: pluggy.PluginManager) -> Settings:
    return pm.entityscan_settings  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PluginInfo:
    name: str
    origin: str
    hooks: tuple[str, ...]


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every registered plugin, where it came from and which hooks it implements."""
    origins: dict[str, str] = pm.entityscan_origins  # type: ignore[attr-defined]
    out = []
    for name, plugin in pm.list_name_plugin():
        hooks = tuple(sorted(impl_caller.name for impl_caller in pm.get_hookcallers(plugin) or ()))
        out.append(PluginInfo(name, origins.get(name, "registered directly"), hooks))
    return out


# ----- calling hooks as their specs say -----
def _results(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """(plugin name, result) for each implementation, in pluggy's call order (LIFO)."""
    caller = getattr(pm.hook, hook_name)
    out = []
    for impl in reversed(caller.get_hookimpls()):
        result = impl.function(*[kwargs[arg] for arg in impl.argnames])
        if result is not None:
            out.append((impl.plugin_name, result))
    return out


def contributed_lists(pm: pluggy.PluginManager) -> list[tuple[str, Any]]:
    return _results(pm, "entityscan_list_sources", settings=settings_of(pm))


def contributed_relations(pm: pluggy.PluginManager) -> list[Any]:
    """Relations merged by brand, built-ins first so other plugins can correct them."""
    results = _results(pm, "entityscan_relations", settings=settings_of(pm))
    results.sort(key=lambda nr: not nr[0].startswith("builtin."))
    rows: list[Any] = []
    for name, relations in results:
        _expect_sequence(name, "entityscan_relations", relations)
        rows.extend(relations)
    return rows


def contributed_patterns(pm: pluggy.PluginManager) -> list[Any]:
    results = _results(pm, "entityscan_patterns", settings=settings_of(pm))
    results.sort(key=lambda nr: not nr[0].startswith("builtin."))
    by_id: dict[str, Any] = {}
    for name, patterns in results:
        _expect_sequence(name, "entityscan_patterns", patterns)
        for rule in patterns:
            by_id[rule.id] = rule
    return list(by_id.values())


def signature_dirs(pm: pluggy.PluginManager) -> list[Path]:
    """Signature directories contributed by plugins, de-duplicated, in call order."""
    seen: dict[Path, None] = {}
    for name, paths in _results(pm, "entityscan_signature_dirs", settings=settings_of(pm)):
        _expect_sequence(name, "entityscan_signature_dirs", paths)
        for path in paths:
            seen.setdefault(Path(path).resolve(), None)
    return list(seen)


def signatures(pm: pluggy.PluginManager) -> Any:
    """The scanner's compiled rule set: bundled rules plus every plugin's directories."""
    from entityscan.scanners.signatures import load_signatures
    from entityscan.scanners.signatures.engine import RULES_DIR

    return load_signatures([RULES_DIR, *signature_dirs(pm)])


def amendments(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any
               ) -> list[tuple[str, Amendment]]:
    out = []
    for name, result in _results(pm, hook_name, settings=settings_of(pm), **kwargs):
        if not isinstance(result, Amendment):
            raise PluginError(f"plugin {name!r}: {hook_name} returned "
                              f"{type(result).__name__}, expected Amendment or None")
        out.append((name, result))
    return out


def _expect_sequence(plugin: str, hook: str, value: Any) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise PluginError(f"plugin {plugin!r}: {hook} returned {type(value).__name__}, "
                          f"expected a list or None")


def _react(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[str]:
    """Call a reaction hook on every plugin; errors are logged, not raised. Returns errors."""
    errors = []
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        try:
            impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception as exc:  # a broken notifier must not lose the screening result
            message = f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}"
            log.error(message)
            errors.append(message)
    return errors


def notify_findings(pm: pluggy.PluginManager | None, events: Sequence[FindingEvent],
                    context: dict[str, Any]) -> list[str]:
    if pm is None or not events:
        return []
    return _react(pm, "entityscan_findings", events=list(events), context=context,
                  settings=settings_of(pm))


def notify_scan_completed(pm: pluggy.PluginManager | None, scan_id: int | None,
                          document: dict[str, Any]) -> list[str]:
    if pm is None:
        return []
    return _react(pm, "entityscan_scan_completed", scan_id=scan_id, document=document,
                  settings=settings_of(pm))


def notify_inventory_changed(pm: pluggy.PluginManager | None, diff: dict[str, Any]) -> list[str]:
    if pm is None:
        return []
    return _react(pm, "entityscan_inventory_changed", diff=diff, settings=settings_of(pm))


__all__ = ["ENTRY_POINT_GROUP", "PluginError", "PluginInfo", "Settings", "describe_plugins",
           "hookimpl", "make_plugin_manager", "notify_findings", "notify_inventory_changed",
           "notify_scan_completed", "signature_dirs", "signatures"]
