"""Every entityscan hook, in one place.  A plugin implements any subset with `@hookimpl`:

    from entityscan import Relation, hookimpl

    @hookimpl
    def entityscan_relations(settings):
        return [Relation(brand="NightOwl Pro", maker="Dahua", ...)]

Plugins are found through the entry-point group `entityscan`, the `ENTITYSCAN_PLUGINS`
environment variable (comma-separated module names), `--plugin MODULE` and
`Settings.plugin_modules`; the built-in behaviour (bundled lists, relations, patterns, the
webhook notifier) ships as default plugins in `entityscan.builtins`, which `Settings.disabled`
(`ENTITYSCAN_DISABLE_PLUGINS`) can switch off one by one.

Every hook is called through pluggy (`pm.hook.<name>(...)`), so pluggy's own tools work:
`tryfirst`/`trylast` on an implementation, hook wrappers (`@hookimpl(wrapper=True)`, which see
and may change the combined results), and call monitoring; `ENTITYSCAN_TRACE_PLUGINS=1` logs
every call with its plugins and durations.  pluggy calls implementations last-registered
first; "registration order" below means built-ins first, then entry points (by name), then
`ENTITYSCAN_PLUGINS`/`--plugin` modules.

Every hook receives `settings` (a `entityscan.Settings`), never a global.  No hook is
`firstresult`: contributions from all plugins are combined as each docstring says.  A data or
screening hook that raises, or returns the wrong type, stops the operation that called it with
a `PluginError` naming the plugin (a screening must not silently skip a plugin that was meant
to veto or hold something); reaction hooks (`entityscan_findings`, `entityscan_scan_completed`,
`entityscan_inventory_changed`) are the exception: their errors are logged with the plugin's
name and the remaining plugins still run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    from entityscan.hooktypes import Amendment, FindingEvent, Settings
    from entityscan.lists import ListSet
    from entityscan.matcher import PartPattern
    from entityscan.model import Finding, LineItem, Relation
    from entityscan.scanners.inventory import Device

hookspec = pluggy.HookspecMarker("entityscan")


# ----- data contributions (called once when a ScreeningContext is built) -----
@hookspec
def entityscan_list_sources(settings: Settings) -> ListSet | None:
    """Contribute restricted-party list entries.

    Called: once per screening-context build, i.e. once per CLI run, scheduled run or service
    process (and again when the service sees the installed lists change), and by
    `entityscan lists` to show what a run would use.  When only the built-in data plugins
    contribute lists, relations and patterns and none of their files changed, a run loads
    the compiled index from the cache in the data dir and these three hooks are not called
    (`entityscan.index_cache`); when any other plugin implements one of them, all three are
    called every time and the cache is keyed by what they return.
    Arguments: `settings`.
    Returns: a `entityscan.lists.ListSet` (entries plus `ListSource` metadata: name, location,
    published date, count, content hash), or None to contribute nothing.
    Combined: all non-None results are merged, in pluggy's call order, with the `--list`
    files given on the command line after them; a source whose `(name, content_hash)` was already
    contributed is skipped, so two plugins shipping the same file count once.  The merged
    set's content hash goes into every result and audit record.
    The built-in `builtin.lists` returns the bundled cited starter set plus the installed
    official copy (`entityscan lists update`).
    """


@hookspec
def entityscan_relations(settings: Settings) -> Sequence[Relation] | None:
    """Contribute brand relations (brand, subsidiary or relabel -> maker, with certainty).

    Called: once per screening-context build, like `entityscan_list_sources`.
    Arguments: `settings`.
    Returns: a sequence of `entityscan.model.Relation`, or None.
    Combined: rows are merged by normalised brand name in registration order (the built-in
    relations first), then `--relations` files; a later row for the same brand replaces the
    earlier one (so an in-house plugin can both add and correct).
    The built-in `builtin.relations` returns `plugin/relations/brands.yaml`.
    """


@hookspec
def entityscan_patterns(settings: Settings) -> Sequence[PartPattern] | None:
    """Contribute model / part-number signatures used by the matcher.

    Called: once per screening-context build.
    Arguments: `settings`.
    Returns: a sequence of `entityscan.matcher.PartPattern` (id, maker, regex, certainty, source,
    examples), or None.
    Combined: merged by rule `id` in registration order; a later plugin's rule with the same
    id replaces the earlier.
    The built-in `builtin.patterns` returns `plugin/matcher/patterns.yaml`.
    """


@hookspec
def entityscan_signature_dirs(settings: Settings) -> Sequence[Path] | None:
    """Contribute device-fingerprint signature directories (recog-style YAML rule files).

    Called: by `entityscan.hooks.signatures(pm)`, which `entityscan scan` and `entityscan demo`
    call once per run to build the scanner's rule set (the scanner itself never imports the
    rest of entityscan; the command passes the compiled `Signatures` down).
    Arguments: `settings`.
    Returns: a sequence of directories holding `<kind>.yaml` files in the format of
    `scanners/signatures/`, or None.
    Combined: the bundled directory first, then plugin directories in call order; a later
    file for the same kind replaces the earlier one whole (the scanner's own override rule),
    so a plugin ships the complete file for a kind it extends.  An invalid file stops the scan
    with its path, rule id and field named.
    """


# ----- screening (called once per line item / device, after the matcher) -----
@hookspec
def entityscan_screen_item(item: LineItem, finding: Finding,
                           settings: Settings) -> Amendment | None:
    """Add to or veto the matcher's finding for one procurement line item.

    Called: for every line item of every screening (`entityscan screen`, `POST /v1/screen`),
    after the matcher and before recorded decisions (the positive list) and reactions; every
    plugin sees the matcher's original finding, not another plugin's amendment.  With
    `entityscan screen --jobs N` (default: every core) it is called in worker processes
    forked from the run's process: the same plugin objects and settings, but state a plugin
    changes there stays in that worker, so keep it a function of its arguments.
    Arguments: `item` (`entityscan.model.LineItem`), `finding` (the matcher's `Finding`),
    `settings`.
    Returns: None (no opinion) or an `entityscan.Amendment`:
      - `add=[AddedMatch(match, verdict, maker)]` adds matches; the verdict rises to the
        strongest added verdict (a plugin can flag what the lists miss);
      - `cap=Verdict.REVIEW` / `Verdict.CLEAR` lowers the verdict to at most that (a veto);
      - `reason` is required and appended to the finding's reasons as `plugin NAME: ...`
        (NAME is the registered name, which entityscan sets on `Amendment.plugin`).
    Combined: additions first, then the lowest cap of all plugins; independent of plugin
    order.  A cap only lowers the verdict; it never hides the matches, which stay in the result
    so a reviewer sees what was vetoed.
    """


@hookspec
def entityscan_screen_device(device: Device, finding: Finding,
                             settings: Settings) -> Amendment | None:
    """Add to or veto the matcher's finding for one scanned device.

    Called: for every device of every screened inventory (`scan`, `usb`, `demo`,
    `store import`, `rescreen`, `POST /v1/inventory`), after the matcher.  Same contract as
    `entityscan_screen_item`, with `device` an `entityscan.Device` (evidence included).
    Returns: None or an `Amendment`; combined exactly as for line items.
    """


# ----- reactions (called after results are final; return values are ignored) -----
@hookspec
def entityscan_findings(events: Sequence[FindingEvent], context: dict[str, Any],
                        settings: Settings) -> None:
    """React to findings: hold a purchase order, open a ticket, page someone.

    Called: once per screening run (`scan`, `usb`, `store import`, a rescreen, a
    `POST /v1/screen` batch or `POST /v1/inventory`) with the findings at `review` or above,
    after plugin amendments AND recorded decisions were applied, and after the result was
    shown or sent; not called when there is none.  `entityscan screen` (files of any size)
    calls it in batches, after the whole output was written: at most 1,000 findings per call,
    in input order, each call's findings recorded by the one audit entry its
    `context["audit_id"]` names (with `--save`, an entry records up to 10,000 lines); until
    then they wait in a temporary file, not in memory.
    Arguments: `events` (`FindingEvent`: the finding, the procurement `decision`
    `allow|review|block`, the subject record, the audit id), `context` (`source`:
    `screen|service|inventory|rescreen`, `actor`: who asked, `audit_id`, `scan_id`,
    `lists_content_hash`), `settings`.
    Returns: nothing (ignored).  Errors are logged and do not stop other plugins.
    The built-in `builtin.webhook` posts them as signed JSON when a webhook URL is set.
    """


@hookspec
def entityscan_scan_completed(scan_id: int | None, document: dict[str, Any],
                              settings: Settings) -> None:
    """React to a completed scan (network or USB).

    Called: after every screened scan (`entityscan scan`, `usb`, `demo`, `store import`,
    `POST /v1/inventory`), once the document was shown or written; with `--save` or in the
    service, after it was saved.
    Arguments: `scan_id` (the store's id, None when not saved), `document` (the very
    `entityscan.scan/1` document that was printed, written and stored), `settings`.
    Returns: nothing (ignored).  Errors are logged and do not stop other plugins.
    """


@hookspec
def entityscan_inventory_changed(diff: dict[str, Any], settings: Settings) -> None:
    """React to a change in the stored inventory.

    Called: after a saved scan differs from the previous scan of the same kind (something
    new, gone, changed or newly flagged) and after a rescreen changed at least one verdict.
    Arguments: `diff` — a dict with `reason` (`scan` or `rescreen`), `scan_a`, `scan_b` (ids
    or None), `new`, `gone`, `changed`, `newly_flagged` (lists of device records with `key`,
    `verdict`, `maker`, …, and for `changed` a `changes` mapping field -> [before, after]),
    and for a rescreen `lists_content_hash`; `settings`.
    Returns: nothing (ignored).  Errors are logged and do not stop other plugins.
    The built-in `builtin.webhook` posts newly flagged devices.
    """
