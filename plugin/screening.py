"""The screening library every face calls through `entityscan.operations`.

    ctx = ScreeningContext.load(pm, list_paths=[...], relation_paths=[...])
    findings = screen_items(items, ctx)          # one Finding per LineItem, same order
    findings = screen_inventory(inventory, ctx)  # one Finding per Device, same order

The lists, relations and patterns always come from the plugin manager's hooks (the bundled
ones are the default plugins `builtin.lists`, `builtin.relations`, `builtin.patterns`), and
every finding passes through `entityscan_screen_item` / `entityscan_screen_device` (see
`entityscan.hookspecs`).  Without a manager, `load` builds the default one: the built-ins only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from entityscan import index_cache
from entityscan.hooks import (
    EntityscanPluginManager,
    PluginError,
    contributed_lists,
    contributed_patterns,
    contributed_relations,
    device_amendments,
    item_amendments,
    make_plugin_manager,
)
from entityscan.hooktypes import Settings, apply_amendments
from entityscan.lists import ListSet, load_list_file
from entityscan.lists.registry import resolve_data_dir
from entityscan.matcher import Matcher, MatchPolicy, PartPattern, load_patterns
from entityscan.model import Finding, LineItem, Relation
from entityscan.relations import load_relations
from entityscan.scanners.inventory import Inventory


@dataclass(frozen=True)
class ScreeningContext:
    """Lists, relations and the matcher built over them, with the plugin manager that supplied
    them: immutable; a list refresh builds a new one with the same manager."""

    lists: ListSet
    relations: tuple[Relation, ...]
    matcher: Matcher
    hooks: EntityscanPluginManager

    @classmethod
    def load(cls, hooks: EntityscanPluginManager | None = None, *,
             list_paths: Sequence[Path] = (), relation_paths: Sequence[Path] = (),
             pattern_paths: Sequence[Path] = (), data_dir: Path | None = None,
             policy: MatchPolicy | None = None, cache_dir: Path | None = None,
             freeze: bool = False) -> ScreeningContext:
        """Build the index from the plugins' contributions plus the user's files.

        `data_dir` only matters without `hooks` (the default manager's installed-lists folder);
        a given manager carries its own in `settings.data_dir`.  With `cache_dir` the built
        index is cached there and loaded instead of built when nothing changed
        (`entityscan.index_cache`; `Session` passes `<data dir>/index-cache`).  `freeze`
        (one-shot runs): a loaded index is moved out of the garbage collector's sight.
        """
        if hooks is None:
            hooks = make_plugin_manager(Settings(load_entrypoints=False, data_dir=data_dir))

        def contributions() -> tuple[ListSet, list[Relation], list[PartPattern]]:
            return (load_lists(hooks, list_paths),
                    _merge_relations(contributed_relations(hooks),
                                     _user_relations(relation_paths)),
                    _merge_patterns(contributed_patterns(hooks), pattern_paths))

        if cache_dir is None:
            lists, relations, patterns = contributions()
            return cls(lists, tuple(relations), Matcher(lists, relations, patterns, policy),
                       hooks)
        policy = policy or MatchPolicy()
        common = [index_cache.data_plugins(hooks), repr(policy)]
        if index_cache.only_builtin_data(hooks):
            # the built-ins' inputs are files: fingerprinted, nothing is read on a warm start
            key = index_cache.make_key("files", common, index_cache.builtin_inputs(
                resolve_data_dir(hooks.settings.data_dir),
                [*list_paths, *relation_paths, *pattern_paths]))

            def build() -> tuple[ListSet, tuple[Relation, ...], Matcher]:
                lists, relations, patterns = contributions()
                return lists, tuple(relations), Matcher(lists, relations, patterns, policy)

            lists, relations, matcher = index_cache.load_or_build(
                cache_dir, key, build, _describe, freeze=freeze)
            return cls(lists, relations, matcher, hooks)
        # another plugin contributes data: only its content says whether it changed
        lists, relation_list, patterns = contributions()
        key = index_cache.make_key("content", common, lists.content_hash, _digest(
            [r.model_dump(mode="json") for r in relation_list],
            [p.model_dump(mode="json") for p in patterns]))
        matcher = index_cache.load_or_build(
            cache_dir, key, lambda: Matcher(lists, relation_list, patterns, policy),
            lambda m: {"lists_content_hash": lists.content_hash}, freeze=freeze)
        return cls(lists, tuple(relation_list), matcher, hooks)


def _describe(value: tuple[ListSet, tuple[Relation, ...], Matcher]) -> dict[str, object]:
    lists, relations, _ = value
    return {"lists_content_hash": lists.content_hash, "entries": len(lists),
            "relations": len(relations)}


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def load_lists(hooks: EntityscanPluginManager, list_paths: Sequence[Path] = ()) -> ListSet:
    """The lists a run screens against: the plugins' contributions, then the user's files.

    Merged in order; a source already contributed (same name and content hash) counts once,
    so two plugins shipping the same file do not double its entries."""
    contributions = contributed_lists(hooks) + [load_list_file(Path(p)) for p in list_paths]
    merged: ListSet | None = None
    seen: set[tuple[str, str]] = set()
    for contributed in contributions:
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
    """A `--relations` file's rows; rows identical to a bundled one are left to the bundle."""
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


def _merge_patterns(contributed: list[PartPattern], paths: Sequence[Path]) -> list[PartPattern]:
    """User files add rules or replace a contributed rule by id."""
    if not paths:
        return contributed
    bundled = {(p.id, p.model_dump_json()) for p in load_patterns()}
    user = [p for p in load_patterns([Path(p) for p in paths])
            if (p.id, p.model_dump_json()) not in bundled]
    by_id = {p.id: p for p in contributed}
    by_id.update({p.id: p for p in user})
    return list(by_id.values())


def screen_items(items: Sequence[LineItem], ctx: ScreeningContext) -> list[Finding]:
    """One finding per line item, in order, with the plugins' amendments applied."""
    findings = [ctx.matcher.screen_item(item) for item in items]
    if not ctx.hooks.hook.entityscan_screen_item.get_hookimpls():
        return findings  # no plugin screens line items: skip an empty call per item
    return [apply_amendments(finding, item_amendments(ctx.hooks, item, finding))
            for item, finding in zip(items, findings, strict=True)]


def screen_inventory(inventory: Inventory, ctx: ScreeningContext) -> list[Finding]:
    """One finding per device of the inventory, in order, with the plugins' amendments."""
    findings = [ctx.matcher.screen_device(device) for device in inventory.devices]
    if not ctx.hooks.hook.entityscan_screen_device.get_hookimpls():
        return findings
    return [apply_amendments(finding, device_amendments(ctx.hooks, device, finding))
            for device, finding in zip(inventory.devices, findings, strict=True)]
