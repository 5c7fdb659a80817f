"""Recorded decisions: the procurement "positive list" (and explicit blocks).

A decision says what to do (`allow | review | block`) with findings that meet ALL of its
criteria — `subject` (a line-item id or device key), `entry_id` (a list entry), `value` (the
input value that matched, e.g. a brand or part number; case-insensitive), `maker` — at least
one of which is given.  It applies from its creation until `until` (exclusive) unless revoked;
among several that apply, the most recent wins.  Applying one never changes the finding (the
verdict and its matches stay as the matcher and plugins said); it changes the procurement
decision and is shown alongside, so every affected result names who decided, why and until
when.  Pure functions; the store keeps the records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from entityscan.model import Finding, Verdict

DEFAULT_DECISION = {Verdict.FLAGGED: "block", Verdict.REVIEW: "review", Verdict.CLEAR: "allow"}
#: How far ahead `until` may be without the `admin` scope.
MAX_SPAN = timedelta(days=366)


class DecisionValue(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class DecisionKind(StrEnum):
    FALSE_POSITIVE = "false_positive"
    EXCEPTION = "exception"
    BLOCK = "block"


class DecisionIn(BaseModel):
    """A decision as a reviewer records it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("subject", "entry_id", "value", "maker")]})

    decision: DecisionValue = Field(description="what procurement does with matching findings")
    kind: DecisionKind = Field(description="false_positive (the match is wrong), exception "
                                           "(right match, approved anyway), block (always block)")
    who: str = Field(min_length=1, max_length=200, description="the reviewer who decided")
    why: str = Field(min_length=1, max_length=5000)
    until: datetime = Field(description="the decision stops applying at this instant "
                                        "(ISO 8601 with a time zone)")
    subject: str | None = Field(default=None, min_length=1, max_length=300,
                                description="a line-item id or device key")
    entry_id: str | None = Field(default=None, min_length=1, max_length=300,
                                 description="a list entry id, as in a match's `entry_id`")
    value: str | None = Field(default=None, min_length=1, max_length=500,
                              description="an input value that matched (brand, part number…)")
    maker: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _check(self) -> DecisionIn:
        if not any((self.subject, self.entry_id, self.value, self.maker)):
            raise ValueError("give at least one of subject, entry_id, value, maker: a decision "
                             "must say which findings it covers")
        if self.until.tzinfo is None:
            raise ValueError("until needs a time zone, e.g. 2027-01-31T00:00:00Z")
        # kind says why, decision says what: they must agree (an `allow` that calls itself a
        # block, or a block that calls itself a false positive, is a mistake or a trick)
        blocks = self.decision is DecisionValue.BLOCK
        if blocks != (self.kind is DecisionKind.BLOCK):
            raise ValueError(f"decision {self.decision.value!r} contradicts kind "
                             f"{self.kind.value!r}: kind `block` goes with decision `block`; "
                             f"`false_positive` and `exception` with `allow` or `review`")
        return self


class Decision(DecisionIn):
    model_config = ConfigDict(extra="ignore")

    id: int
    created_at: datetime
    recorded_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Decision:
        return self  # a stored record is what was recorded; only new decisions are checked

    def active(self, at: datetime) -> bool:
        return (self.revoked_at is None or self.revoked_at > at) and \
            self.created_at <= at < self.until

    def covers(self, finding: Finding) -> bool:
        if self.subject is not None and finding.subject != self.subject:
            return False
        if self.entry_id is not None and all(m.entry_id != self.entry_id
                                              for m in finding.matches):
            return False
        if self.value is not None:
            wanted = self.value.casefold().strip()
            if all((m.value or "").casefold().strip() != wanted for m in finding.matches):
                return False
        return not (self.maker is not None and
                    (finding.maker or "").casefold() != self.maker.casefold())

    def summary(self) -> dict[str, object]:
        return {"decision_id": self.id, "decision": self.decision.value,
                "kind": self.kind.value, "who": self.who, "why": self.why,
                "until": self.until.isoformat(), "recorded_by": self.recorded_by}


def admin_needed(decision: DecisionIn, created: datetime,
                 names_a_listed_party: Callable[[str], bool]) -> str | None:
    """Why recording (or revoking) `decision` needs the `admin` scope, or None.

    A decision covers a whole maker when nothing narrows it to one line or device (`subject`)
    or to one matched value (`value`) — a maker or a list entry alone covers every finding
    for it — or when its `value` is itself a restricted party's name or brand (an `allow`
    for the value "EZVIZ" allows every EZVIZ line).  `names_a_listed_party(value)` says the
    latter (the service screens the value on its own).  A decision running more than
    `MAX_SPAN` from its creation is an admin's too.
    """
    if decision.until - created > MAX_SPAN:
        return f"until is more than {MAX_SPAN.days} days ahead"
    if decision.subject is None and decision.value is None:
        covered = " and ".join(f"{name} {getattr(decision, name)!r}"
                               for name in ("maker", "entry_id") if getattr(decision, name))
        return f"it covers every finding for {covered} (no subject or value narrows it)"
    if decision.subject is None and decision.value and names_a_listed_party(decision.value):
        return (f"value {decision.value!r} is itself a restricted party's name or brand, so "
                f"the decision would cover all of it")
    return None


@dataclass(frozen=True)
class Outcome:
    """A finding with its procurement decision, ready to record; `subject` is the line item or
    device record for findings at `review` or above (empty for clear ones: nothing records it).
    """

    finding: Finding
    decision: str
    applied: Mapping[str, Any] | None
    subject: Mapping[str, Any]


def decide(finding: Finding, decisions: Sequence[Decision], at: datetime | None = None
           ) -> tuple[str, dict[str, object] | None]:
    """(procurement decision, the recorded decision that set it or None)."""
    if not decisions:
        return DEFAULT_DECISION[finding.verdict], None
    at = at or datetime.now(UTC)
    applicable = [d for d in decisions if d.active(at) and d.covers(finding)]
    if not applicable:
        return DEFAULT_DECISION[finding.verdict], None
    chosen = max(applicable, key=lambda d: d.id)
    return chosen.decision.value, chosen.summary()
