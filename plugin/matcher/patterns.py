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
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from entityscan.errors import InputError
from entityscan.scanners.inventory import Certainty

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
    trigger: str = Field(description="a short regex every match contains (prefilter)")
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PatternHit:
    rule: PartPattern
    text: str


def load_patterns(extra: Sequence[Path] = ()) -> list[PartPattern]:
    bundled = resources.files("entityscan.matcher") / "patterns.yaml"
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
                for regex in (rule.pattern, rule.trigger):
                    re.compile(regex)
                    # Matching runs on upper-cased text, so a lower-case letter never matches.
                    if re.search(r"[a-z]", re.sub(r"\\.|\(\?[a-zA-Z<>=!:]+", "", regex)):
                        raise ValueError(f"write {regex!r} in capitals (text is upper-cased)")
            except (ValidationError, re.error, TypeError, ValueError) as exc:
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
        # Patterns are written in capitals and matched against upper-cased text: Python's
        # IGNORECASE alternations are several times slower.
        # Boundaries: not preceded/followed by a character that continues a part number.
        self._anchored = re.compile(rf"(?:{body})")
        self._search = re.compile(rf"(?<![\w-])(?:{body})(?![\w-])")
        triggers = "|".join(loosen_dashes(rule.trigger) for rule in self.rules)
        self._trigger = re.compile(triggers or "(?!)")

    def _hit(self, match: re.Match[str], original: str) -> PatternHit:
        group = match.lastgroup
        if group is None:  # nested groups: find the outer rule group that matched
            group = next(name for name, value in match.groupdict().items()
                         if value is not None and name in self._group_to_rule)
        # Report the text as the user wrote it when upper-casing kept the positions.
        same = len(original) == len(match.string)
        text = original[match.start():match.end()] if same else match.group(0)
        return PatternHit(self._group_to_rule[group], text)

    def part_number(self, value: str) -> PatternHit | None:
        """The rule a whole part number matches, if any."""
        value = value.strip()
        if not value or len(value) > MAX_PART_NUMBER or not self.rules:
            return None
        match = self._anchored.fullmatch(value.upper())
        return self._hit(match, value) if match else None

    def search(self, text: str) -> list[PatternHit]:
        """Every rule hit in free text, each rule once."""
        text = text[:10_000]
        upper = text.upper()
        if not self.rules or self._trigger.search(upper) is None:
            return []
        seen: set[str] = set()
        hits: list[PatternHit] = []
        for match in self._search.finditer(upper):
            hit = self._hit(match, text)
            if hit.rule.id not in seen:
                seen.add(hit.rule.id)
                hits.append(hit)
        return hits
