"""Model and part-number patterns (data in `patterns.yaml`) compiled into one scanner.

All patterns are joined into one alternation with a named group per rule, so a description is
searched once, not once per rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from plugin.errors import InputError
from scanners.inventory import Certainty

# Part numbers are short; a longer value is a description and goes through `search`.
MAX_PART_NUMBER = 80


class PartPattern(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    maker: str
    pattern: str
    certainty: Certainty
    description: str
    source: str
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PatternHit:
    rule: PartPattern
    text: str


def load_patterns(extra: Sequence[Path] = ()) -> list[PartPattern]:
    bundled = resources.files("plugin.matcher") / "patterns.yaml"
    sources = [("patterns.yaml (bundled)", bundled.read_text(encoding="utf-8"))]
    for path in extra:
        try:
            sources.append((str(path), Path(path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read pattern file: {exc}") from exc
    rules: dict[str, PartPattern] = {}
    for where, text in sources:
        doc = yaml.safe_load(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("patterns"), list):
            raise InputError(f"{where}: not a pattern file (needs a top-level `patterns` list)")
        for index, raw in enumerate(doc["patterns"], start=1):
            try:
                rule = PartPattern.model_validate(raw)
                re.compile(rule.pattern)
            except (ValidationError, re.error, TypeError) as exc:
                raise InputError(f"{where}: pattern {index}: {exc}") from exc
            rules[rule.id] = rule
    return list(rules.values())


def loosen_dashes(pattern: str) -> str:
    """Let every literal `-` outside a character class also match a space or nothing."""
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        elif char == "-" and not in_class:
            out.append("[- ]?")
        else:
            out.append(char)
    return "".join(out)


class PatternSet:
    """Every rule compiled twice: anchored (a part-number field) and word-bounded (free text)."""

    def __init__(self, rules: Sequence[PartPattern]) -> None:
        self.rules = tuple(rules)
        self._group_to_rule = {f"r{i}": rule for i, rule in enumerate(self.rules)}
        body = "|".join(f"(?P<r{i}>{loosen_dashes(rule.pattern)})"
                        for i, rule in enumerate(self.rules))
        # Boundaries: not preceded/followed by a character that continues a part number.
        self._anchored = re.compile(rf"(?:{body})", re.IGNORECASE)
        self._search = re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)

    def _hit(self, match: re.Match[str]) -> PatternHit:
        group = match.lastgroup
        if group is None:  # nested groups: find the outer rule group that matched
            group = next(name for name, value in match.groupdict().items()
                         if value is not None and name in self._group_to_rule)
        return PatternHit(self._group_to_rule[group], match.group(0))

    def part_number(self, value: str) -> PatternHit | None:
        """The rule a whole part number matches, if any."""
        value = value.strip()
        if not value or len(value) > MAX_PART_NUMBER or not self.rules:
            return None
        match = self._anchored.fullmatch(value)
        return self._hit(match) if match else None

    def search(self, text: str) -> list[PatternHit]:
        """Every rule hit in free text, each rule once."""
        if not self.rules:
            return []
        seen: set[str] = set()
        hits: list[PatternHit] = []
        for match in self._search.finditer(text[:10_000]):
            hit = self._hit(match)
            if hit.rule.id not in seen:
                seen.add(hit.rule.id)
                hits.append(hit)
        return hits
