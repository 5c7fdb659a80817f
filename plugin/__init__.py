"""entityscan: find equipment made by restricted manufacturers, before purchase and after install.

The public API for plugin authors and library users is what this module exports:

    from entityscan import hookimpl, Amendment, AddedMatch, Verdict, Relation, LineItem, Device

- `hookimpl` marks a hook implementation (every hook is documented in `entityscan.hookspecs`);
- `Settings` is what every hook receives; `Amendment` and `AddedMatch` are what the screening
  hooks return; `FindingEvent` is what `entityscan_findings` receives;
- the records: `LineItem`, `Finding`, `Match`, `Verdict`, `Relation`, `ListEntry`,
  `ListSet`/`ListSource` (what `entityscan_list_sources` returns), `PartPattern`, and the
  inventory's `Inventory`, `Device`, `Evidence`, `Certainty`;
- `EntityscanError`, the root of every error entityscan raises on purpose, and `PluginError`.

Everything else (modules and names not listed in `__all__`) may change between releases.
Names load on first use, so `import entityscan.scanners` stays free of the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "hookimpl": "entityscan.hooks",
    "PluginError": "entityscan.hooks",
    "Settings": "entityscan.hooktypes",
    "Amendment": "entityscan.hooktypes",
    "AddedMatch": "entityscan.hooktypes",
    "FindingEvent": "entityscan.hooktypes",
    "LineItem": "entityscan.model",
    "Finding": "entityscan.model",
    "Match": "entityscan.model",
    "Verdict": "entityscan.model",
    "Relation": "entityscan.model",
    "ListEntry": "entityscan.model",
    "ListSet": "entityscan.lists",
    "ListSource": "entityscan.lists",
    "PartPattern": "entityscan.matcher",
    "Inventory": "entityscan.scanners.inventory",
    "Device": "entityscan.scanners.inventory",
    "Evidence": "entityscan.scanners.inventory",
    "Certainty": "entityscan.scanners.inventory",
    "EntityscanError": "entityscan.errors",
}
__all__ = [
    "AddedMatch", "Amendment", "Certainty", "Device", "EntityscanError", "Evidence", "Finding",
    "FindingEvent", "Inventory", "LineItem", "ListEntry", "ListSet", "ListSource", "Match",
    "PartPattern", "PluginError", "Relation", "Settings", "Verdict", "__version__", "hookimpl",
]

if TYPE_CHECKING:
    from entityscan.errors import EntityscanError
    from entityscan.hooks import PluginError, hookimpl
    from entityscan.hooktypes import AddedMatch, Amendment, FindingEvent, Settings
    from entityscan.lists import ListSet, ListSource
    from entityscan.matcher import PartPattern
    from entityscan.model import Finding, LineItem, ListEntry, Match, Relation, Verdict
    from entityscan.scanners.inventory import Certainty, Device, Evidence, Inventory


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'entityscan' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
