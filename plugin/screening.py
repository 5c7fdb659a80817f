"""The screening library the CLI, the service and the scheduler all call.

    ctx = ScreeningContext.load(list_paths=[...], relation_paths=[...])
    findings = screen_items(items, ctx)          # one Finding per LineItem, same order
    findings = screen_inventory(inventory, ctx)  # one Finding per Device, same order

With `hooks=make_plugin_manager(settings)` the lists, relations and patterns come from the
plugins (built-ins included) and every finding passes through the `entityscan_screen_item` /
`entityscan_screen_device` hooks (see `entityscan.hookspecs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from entityscan.hooks import (
    PluginError,
    amendments,
    contributed_lists,
    contributed_patterns,
    contributed_relations,
)
from entityscan.hooktypes import apply_amendments
from entityscan.lists import ListSet, default_lists, load_list_file
from entityscan.matcher import Matcher, MatchPolicy, load_patterns
from entityscan.model import Finding, LineItem, Relation, Verdict
from entityscan.relations import load_relations
from entityscan.scanners.inventory import Inventory

# What procurement should do with a verdict when no recorded decision says otherwise.
DECISION_FOR_VERDICT = {Verdict.FLAGGED: "block", Verdict.REVIEW: "review",
                        Verdict.CLEAR: "allow"}


@dataclass(frozen=True)
class ScreeningContext:
    """Lists, relations and the matcher built over them: immutable; refresh builds anew."""

    lists: ListSet
    relations: tuple[Relation, ...]
    matcher: Matcher
    hooks: pluggy.PluginManager | None = None

    @classmethod
    def load(cls, list_paths: Sequence[Path] = (), relation_paths: Sequence[Path] = (),
             pattern_paths: Sequence[Path] = (), data_dir: Path | None = None,
             policy: MatchPolicy | None = None,
             hooks: pluggy.PluginManager | None = None) -> ScreeningContext:
        if hooks is None:
            lists = default_lists(extra=[Path(p) for p in list_paths], data_dir=data_dir)
            plain = tuple(load_relations([Path(p) for p in relation_paths]))
            return cls.build(lists, plain, load_patterns([Path(p) for p in pattern_paths]),
                             policy)
        lists = _plugin_lists(hooks, list_paths)
        relations = _merge_relations(contributed_relations(hooks),
                                     _user_relations(relation_paths))
        patterns = contributed_patterns(hooks)
        if pattern_paths:
            # user files may add rules or replace a bundled rule by id
            bundled = {(p.id, p.model_dump_json()) for p in load_patterns()}
            user = [p for p in load_patterns([Path(p) for p in pattern_paths])
                    if (p.id, p.model_dump_json()) not in bundled]
            by_id = {p.id: p for p in patterns}
            by_id.update({p.id: p for p in user})
            patterns = list(by_id.values())
        return cls.build(lists, relations, patterns, policy, hooks=hooks)

    @classmethod
    def build(cls, lists: ListSet, relations: Sequence[Relation], patterns: Sequence = (),
              policy: MatchPolicy | None = None,
              hooks: pluggy.PluginManager | None = None) -> ScreeningContext:
        patterns = patterns or load_patterns()
        matcher = Matcher(lists, relations, patterns, policy)
        return cls(lists, tuple(relations), matcher, hooks)


def _plugin_lists(hooks: pluggy.PluginManager, list_paths: Sequence[Path]) -> ListSet:
    merged: ListSet | None = None
    seen: set[tuple[str, str]] = set()
    contributions = contributed_lists(hooks)
    contributions += [(str(p), load_list_file(Path(p))) for p in list_paths]
    for name, contributed in contributions:
        if not isinstance(contributed, ListSet):
            raise PluginError(f"plugin {name!r}: entityscan_list_sources returned "
                              f"{type(contributed).__name__}, expected a ListSet or None")
        keys = {(s.name, s.content_hash) for s in contributed.sources}
        if keys and keys <= seen:
            continue
        seen |= keys
        merged = contributed if merged is None else merged.merged(contributed)
    if merged is None:
        raise PluginError("no list sources: every plugin that contributes lists is disabled "
                          "and no --list file was given")
    return merged


def _user_relations(paths: Sequence[Path]) -> list[Relation]:
    if not paths:
        return []
    bundled = {r.brand.casefold().strip(): r for r in load_relations()}
    return [r for r in load_relations([Path(p) for p in paths])
            if bundled.get(r.brand.casefold().strip()) != r]


def _merge_relations(*groups: Iterable[Relation]) -> list[Relation]:
    by_brand: dict[str, Relation] = {}
    for group in groups:
        for relation in group:
            by_brand[relation.brand.casefold().strip()] = relation
    return list(by_brand.values())


def screen_items(items: Iterable[LineItem], ctx: ScreeningContext) -> list[Finding]:
    """One finding per line item, in order (plugin amendments applied when ctx has hooks)."""
    if ctx.hooks is None:
        return [ctx.matcher.screen_item(item) for item in items]
    out = []
    for item in items:
        finding = ctx.matcher.screen_item(item)
        changes = amendments(ctx.hooks, "entityscan_screen_item", item=item, finding=finding)
        out.append(apply_amendments(finding, changes))
    return out


def screen_inventory(inventory: Inventory, ctx: ScreeningContext) -> list[Finding]:
    """One finding per device of the inventory, in order (plugin amendments applied)."""
    if ctx.hooks is None:
        return [ctx.matcher.screen_device(device) for device in inventory.devices]
    out = []
    for device in inventory.devices:
        finding = ctx.matcher.screen_device(device)
        changes = amendments(ctx.hooks, "entityscan_screen_device", device=device,
                             finding=finding)
        out.append(apply_amendments(finding, changes))
    return out


def decision_for(finding: Finding) -> str:
    return DECISION_FOR_VERDICT[finding.verdict]


def describe_context(ctx: ScreeningContext) -> dict[str, Any]:
    return {"lists": ctx.lists.describe(), "lists_content_hash": ctx.lists.content_hash,
            "entries": len(ctx.lists), "relations": len(ctx.relations)}
