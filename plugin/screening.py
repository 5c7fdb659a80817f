"""The screening library the CLI, the service and the scheduler all call.

    ctx = ScreeningContext.load(list_paths=[...], relation_paths=[...])
    findings = screen_items(items, ctx)          # one Finding per LineItem, same order
    findings = screen_inventory(inventory, ctx)  # one Finding per Device, same order
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plugin.lists import ListSet, default_lists
from plugin.matcher import Matcher, MatchPolicy, load_patterns
from plugin.model import Finding, LineItem, Relation
from plugin.relations import load_relations
from scanners.inventory import Inventory


@dataclass(frozen=True)
class ScreeningContext:
    """Lists, relations and the matcher built over them: immutable; refresh builds anew."""

    lists: ListSet
    relations: tuple[Relation, ...]
    matcher: Matcher

    @classmethod
    def load(cls, list_paths: Sequence[Path] = (), relation_paths: Sequence[Path] = (),
             pattern_paths: Sequence[Path] = (), data_dir: Path | None = None,
             policy: MatchPolicy | None = None) -> ScreeningContext:
        lists = default_lists(extra=[Path(p) for p in list_paths], data_dir=data_dir)
        relations = tuple(load_relations([Path(p) for p in relation_paths]))
        return cls.build(lists, relations, load_patterns([Path(p) for p in pattern_paths]),
                         policy)

    @classmethod
    def build(cls, lists: ListSet, relations: Sequence[Relation], patterns: Sequence = (),
              policy: MatchPolicy | None = None) -> ScreeningContext:
        patterns = patterns or load_patterns()
        matcher = Matcher(lists, relations, patterns, policy)
        return cls(lists, tuple(relations), matcher)


def screen_items(items: Iterable[LineItem], ctx: ScreeningContext) -> list[Finding]:
    """One finding per line item, in order."""
    return [ctx.matcher.screen_item(item) for item in items]


def screen_inventory(inventory: Inventory, ctx: ScreeningContext) -> list[Finding]:
    """One finding per device of the inventory, in order."""
    return [ctx.matcher.screen_device(device) for device in inventory.devices]
