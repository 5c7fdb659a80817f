"""Records that cross the hook boundary: plugin settings and finding amendments.

Kept apart from `hookspecs` so a plugin can import them without importing pluggy machinery.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from entityscan.model import Finding, Match, Verdict


@dataclass(frozen=True)
class Settings:
    """Everything plugins may read, passed in (never global) so two managers never share state.

    `plugin_modules` are importable module names registered as plugins (env
    `ENTITYSCAN_PLUGINS`, comma separated); `disabled` names plugins not to register (built-ins
    are `builtin.lists`, `builtin.relations`, `builtin.patterns`, `builtin.webhook`);
    `options` carries free-form per-plugin settings (`ENTITYSCAN_OPT_<NAME>` env variables).
    """

    data_dir: Path | None = None
    db_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_retries: int = 4
    webhook_backoff: float = 0.5
    webhook_timeout: float = 5.0
    plugin_modules: tuple[str, ...] = ()
    disabled: frozenset[str] = frozenset()
    load_entrypoints: bool = True
    trace_plugins: bool = False
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if environ is None else environ)
        modules = tuple(m.strip() for m in env.get("ENTITYSCAN_PLUGINS", "").split(",")
                        if m.strip())
        disabled = frozenset(m.strip() for m in env.get("ENTITYSCAN_DISABLE_PLUGINS", "")
                             .split(",") if m.strip())
        options = {k[len("ENTITYSCAN_OPT_"):].lower(): v for k, v in env.items()
                   if k.startswith("ENTITYSCAN_OPT_")}
        values: dict[str, Any] = {
            "data_dir": Path(env["ENTITYSCAN_DATA_DIR"]) if env.get("ENTITYSCAN_DATA_DIR")
            else None,
            "db_url": env.get("ENTITYSCAN_DB") or None,
            "webhook_url": env.get("ENTITYSCAN_WEBHOOK_URL") or None,
            "webhook_secret": env.get("ENTITYSCAN_WEBHOOK_SECRET") or None,
            "plugin_modules": modules,
            "disabled": disabled,
            "trace_plugins": env.get("ENTITYSCAN_TRACE_PLUGINS", "").strip().lower()
            in ("1", "true", "yes", "on"),
            "options": options,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class AddedMatch(BaseModel):
    """A match a plugin adds to a finding, with the verdict that match alone earns."""

    match: Match
    verdict: Verdict
    maker: str | None = None


class Amendment(BaseModel):
    """What a `entityscan_screen_item` / `entityscan_screen_device` plugin says.

    - `add`: matches to add; the finding's verdict rises to the strongest added verdict.
    - `cap`: the highest verdict the finding may keep (a veto is `cap=clear`; a downgrade
      is `cap=review`).  Caps are applied after every addition, so a veto always wins and
      the outcome does not depend on plugin order; the lowest cap of all plugins applies.
    - `reason`: required; it is appended to the finding's reasons, prefixed with the plugin's
      name, so every result shows which plugin changed it and why.
    """

    model_config = ConfigDict(frozen=True)

    reason: str = Field(min_length=1)
    add: tuple[AddedMatch, ...] = ()
    cap: Verdict | None = None
    plugin: str | None = Field(default=None, description="the registered name of the plugin "
                               "that returned it; set by entityscan, whatever a plugin puts")


def apply_amendments(finding: Finding, amendments: Iterable[Amendment]) -> Finding:
    """A new finding with every plugin's amendment applied (see `Amendment` for the rules)."""
    amendments = list(amendments)
    if not amendments:
        return finding
    verdict = finding.verdict
    maker = finding.maker
    score = finding.score
    matches = list(finding.matches)
    reasons = list(finding.reasons)
    for amendment in amendments:
        for added in amendment.add:
            matches.append(added.match)
            if added.verdict.rank > verdict.rank or (
                    added.verdict is verdict and added.match.score > score):
                verdict = added.verdict
                maker = added.maker or maker
                score = max(score, added.match.score)
        if amendment.add:
            reasons.append(f"plugin {amendment.plugin}: {amendment.reason}")
    caps = sorted(((a.cap, a) for a in amendments if a.cap is not None), key=lambda c: c[0].rank)
    for cap, amendment in caps:
        if verdict.rank > cap.rank:
            reasons.insert(0, f"plugin {amendment.plugin} lowered the verdict from "
                              f"{verdict.value} to {cap.value}: {amendment.reason}")
            verdict = cap
        else:
            reasons.append(f"plugin {amendment.plugin} (cap {cap.value}, no change): "
                           f"{amendment.reason}")
    return finding.model_copy(update={"verdict": verdict, "maker": maker, "score": score,
                                      "matches": matches, "reasons": reasons})


class FindingEvent(BaseModel):
    """A finding at `review` or above, as handed to `entityscan_findings`.

    `decision` is what procurement should do (`allow | review | block`) after the positive
    list (recorded decisions) was applied; `subject` is the line item or device record.
    """

    finding: Finding
    decision: str
    subject: dict[str, Any] = Field(default_factory=dict)
    audit_id: int | None = None
