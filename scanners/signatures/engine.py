"""Load, validate and run the signature rule files (`<kind>.yaml` next to this module).

A rule file holds the rules for one signal kind (an HTTP `Server` header, an ONVIF scope, a MAC
registrant name …).  Rules are tried in file order and the first match wins, unless a rule says
`continue: true`.  A rule may hand one of its extracted fields on to another kind (`chain`), so
an ONVIF `Model` value is also judged by the model rules.

Values come from devices and are hostile: every value is truncated to the file's `max_length`
before matching, and patterns are checked at load time for nested unbounded repeats (the shape
behind catastrophic backtracking).
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Certainty, Evidence

RULES_DIR = Path(__file__).resolve().parent
# A rule file may not raise the truncation limit above this: bodies are read bounded anyway.
HARD_MAX_LENGTH = 256 * 1024
# Evidence keeps at most this much of a value (the matched part for long values).
EVIDENCE_VALUE_MAX = 200
FIELD_VALUE_MAX = 128
CHAIN_DEPTH_MAX = 3

# libyaml's safe loader when present (10x faster start-up); same safety as yaml.safe_load.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FLAGS = {"ignorecase": re.IGNORECASE, "multiline": re.MULTILINE, "dotall": re.DOTALL}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class SignatureError(ScannerError):
    """A rule file is malformed, or a caller asked for a kind that has no rule file."""


class Example(BaseModel):
    """A real-format value and exactly the fields the rule must extract from it."""

    model_config = ConfigDict(extra="forbid")

    value: str
    field: str | None = Field(default=None, description="the probe field, for field-scoped rules")
    fields: dict[str, str] = Field(default_factory=dict)
    note: str | None = None


class Rule(BaseModel):
    """One signature: a pattern, what a match points to, and what it extracts."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,79}$")
    pattern: str = Field(min_length=1, max_length=4000)
    flags: list[Literal["ignorecase", "multiline", "dotall"]] = Field(default_factory=list)
    search: bool = Field(default=False, description="True: the pattern may match anywhere "
                                                    "(it is deliberately not anchored)")
    indicates: str | None = None
    kind: Literal["platform", "registrant", "label"] = "platform"
    certainty: Certainty
    fields: list[str] = Field(default_factory=list, description="named groups it extracts")
    set: dict[str, str] = Field(default_factory=dict, description="constant fields")
    on_fields: list[str] = Field(default_factory=list, description="only for these probe "
                                                                   "fields (any case)")
    chain: dict[str, str] = Field(default_factory=dict, description="extracted field -> kind "
                                                                    "that judges it further")
    continue_: bool = Field(default=False, alias="continue")
    description: str = Field(min_length=1)
    source: str = Field(min_length=1)
    examples: list[Example] = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"does not compile: {exc}") from exc
        if _has_nested_unbounded_repeat(pattern):
            raise ValueError("nests an unbounded repeat inside another repeat (catastrophic "
                             "backtracking risk); bound the inner or outer repeat")
        return pattern


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    description: str = Field(min_length=1)
    max_length: int = Field(default=1024, ge=16, le=HARD_MAX_LENGTH)
    preprocess: list[Literal["percent_decode", "strip"]] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)


def _has_nested_unbounded_repeat(pattern: str) -> bool:
    """True when an unbounded repeat sits inside another repeat, e.g. `(a+)+` or `(?:x*y)*`."""
    try:
        from re import _constants as sre_constants  # type: ignore[attr-defined]
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - other interpreters: rely on the adversarial test
        return False
    repeats = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
               sre_constants.POSSESSIVE_REPEAT}
    unbounded_high = sre_constants.MAXREPEAT

    def children(op: Any, arg: Any) -> list[Any]:
        if op is sre_constants.SUBPATTERN:
            return [arg[-1]]
        if op is sre_constants.BRANCH:
            return list(arg[1])
        if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            return [arg[1]]
        return []

    def walk(items: Any, inside_repeat: bool) -> bool:
        for op, arg in items:
            if op in repeats:
                _, high, sub = arg
                if inside_repeat and high == unbounded_high:
                    return True
                if walk(sub, inside_repeat or high > 1):
                    return True
            elif any(walk(child, inside_repeat) for child in children(op, arg)):
                return True
        return False

    return walk(sre_parse.parse(pattern), False)


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    regex: re.Pattern[str]
    on_fields: frozenset[str]


@dataclass(frozen=True)
class _RuleSet:
    kind: str
    path: str
    max_length: int
    preprocess: tuple[str, ...]
    rules: tuple[_Compiled, ...]


@dataclass(frozen=True)
class Match:
    """One rule that matched a value, with the fields it extracted."""

    kind: str
    rule: Rule
    value: str
    matched: str
    fields: dict[str, str]


class Signatures:
    """A compiled, immutable set of rule files.  Build with `load_signatures`."""

    def __init__(self, rule_sets: Mapping[str, _RuleSet]):
        self._sets = dict(rule_sets)
        self._check_chains()

    def kinds(self) -> list[str]:
        return sorted(self._sets)

    def rules(self, kind: str) -> list[Rule]:
        return [c.rule for c in self._set(kind).rules]

    def match(self, kind: str, value: str | bytes | None, *,
              field: str | None = None) -> list[Match]:
        """The rules of `kind` that match `value` (first wins unless a rule says continue)."""
        rule_set = self._set(kind)
        if isinstance(value, bytes | bytearray):  # tolerate raw payloads; devices send anything
            value = bytes(value[: rule_set.max_length * 4]).decode("utf-8", "replace")
        if not isinstance(value, str) or not value:
            return []
        text = _prepare(value, rule_set)
        field_key = field.lower() if field is not None else None
        found: list[Match] = []
        for compiled in rule_set.rules:
            if field_key is not None and compiled.on_fields and \
                    field_key not in compiled.on_fields:
                continue
            m = compiled.regex.search(text)
            if m is None:
                continue
            fields = {name: _clean(v) for name, v in m.groupdict().items() if v is not None}
            fields = {k: v for k, v in fields.items() if v}
            fields.update(compiled.rule.set)
            found.append(Match(kind, compiled.rule, text, m.group(0), fields))
            if not compiled.rule.continue_:
                break
        return found

    def evaluate(self, kind: str, value: str | bytes | None, *, probe: str, field: str,
                 _depth: int = 0) -> list[Evidence]:
        evidence: list[Evidence] = []
        for hit in self.match(kind, value, field=field):
            rule = hit.rule
            evidence.append(Evidence(
                probe=probe, field=field, value=_evidence_value(hit.value, hit.matched),
                indicates=rule.indicates, certainty=rule.certainty,
                source=rule.source, rule=f"{hit.kind}/{rule.id}", kind=rule.kind,
                fields=hit.fields,
            ))
            if _depth < CHAIN_DEPTH_MAX:
                for name, target in rule.chain.items():
                    if hit.fields.get(name):
                        evidence.extend(self.evaluate(target, hit.fields[name], probe=probe,
                                                      field=field, _depth=_depth + 1))
        return evidence

    def extract(self, kind: str, value: str | bytes | None, *,
                field: str | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for hit in self.match(kind, value, field=field):
            for name, v in hit.fields.items():
                out.setdefault(name, v)
        return out

    def _set(self, kind: str) -> _RuleSet:
        try:
            return self._sets[kind]
        except KeyError:
            raise SignatureError(f"no signature rule file for kind {kind!r}; known kinds: "
                                 f"{', '.join(sorted(self._sets))}") from None

    def _check_chains(self) -> None:
        for rule_set in self._sets.values():
            for compiled in rule_set.rules:
                for name, target in compiled.rule.chain.items():
                    if target not in self._sets:
                        raise SignatureError(
                            f"{rule_set.path}: rule {compiled.rule.id!r}: field 'chain': "
                            f"unknown kind {target!r}")
                    if name not in compiled.rule.fields and name not in compiled.rule.set:
                        raise SignatureError(
                            f"{rule_set.path}: rule {compiled.rule.id!r}: field 'chain': "
                            f"{name!r} is not one of the rule's fields")


def _prepare(value: str, rule_set: _RuleSet) -> str:
    text = value[: rule_set.max_length]
    for step in rule_set.preprocess:
        if step == "percent_decode":
            text = urllib.parse.unquote(text, errors="replace")
        elif step == "strip":
            text = text.strip()
    return text


def _clean(value: str) -> str:
    value = _CONTROL.sub("", unicodedata.normalize("NFKC", value)).strip()
    return value[:FIELD_VALUE_MAX]


def _evidence_value(value: str, matched: str) -> str:
    shown = value if len(value) <= EVIDENCE_VALUE_MAX else (matched or value)
    shown = _CONTROL.sub("", shown)
    return shown if len(shown) <= EVIDENCE_VALUE_MAX else shown[: EVIDENCE_VALUE_MAX - 1] + "…"


def _loc(path: Path, data: Any, err: Mapping[str, Any]) -> str:
    """`file: rule 'id': field 'x'` for a pydantic error location."""
    loc = list(err.get("loc", ()))
    where = f"{path}"
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rule_id = "?"
        try:
            rule_id = str(data["rules"][loc[1]].get("id", f"#{loc[1] + 1}"))
        except (KeyError, IndexError, TypeError, AttributeError):
            rule_id = f"#{loc[1] + 1}"
        where += f": rule {rule_id!r}"
        loc = loc[2:]
    if loc:
        where += f": field {'.'.join(str(p) for p in loc)!r}"
    return where


def _load_file(path: Path) -> _RuleSet:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SignatureError(f"{path}: cannot read rule file: {exc}") from exc
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SignatureError(f"{_loc(path, data, first)}: {first['msg']}") from exc
    if parsed.kind != path.stem:
        raise SignatureError(f"{path}: field 'kind': {parsed.kind!r} must equal the file name "
                             f"{path.stem!r}")
    seen: set[str] = set()
    compiled: list[_Compiled] = []
    for rule in parsed.rules:
        where = f"{path}: rule {rule.id!r}"
        if rule.id in seen:
            raise SignatureError(f"{where}: field 'id': duplicate id")
        seen.add(rule.id)
        flags = 0
        for name in rule.flags:
            flags |= _FLAGS[name]
        regex = re.compile(rule.pattern, flags)
        groups = set(regex.groupindex)
        if groups != set(rule.fields):
            raise SignatureError(f"{where}: field 'fields': declares {sorted(rule.fields)} but "
                                 f"the pattern's named groups are {sorted(groups)}")
        if not rule.search and not rule.pattern.startswith(("^", r"\A")):
            raise SignatureError(f"{where}: field 'pattern': not anchored; start it with ^ or "
                                 f"\\A, or set `search: true` to match anywhere on purpose")
        compiled.append(_Compiled(rule, regex, frozenset(f.lower() for f in rule.on_fields)))
    return _RuleSet(parsed.kind, str(path), parsed.max_length, tuple(parsed.preprocess),
                    tuple(compiled))


def load_signatures(directories: Iterable[Path | str] = (RULES_DIR,)) -> Signatures:
    """Load every `*.yaml` rule file in `directories`; a later directory's file for the same
    kind replaces an earlier one (so users can override a bundled file)."""
    sets: dict[str, _RuleSet] = {}
    for directory in directories:
        folder = Path(directory)
        if not folder.is_dir():
            raise SignatureError(f"{folder}: signature directory does not exist")
        for path in sorted(folder.glob("*.yaml")):
            rule_set = _load_file(path)
            sets[rule_set.kind] = rule_set
    if not sets:
        raise SignatureError(f"no rule files (*.yaml) found in {list(map(str, directories))}")
    return Signatures(sets)


@cache
def default_signatures() -> Signatures:
    """The bundled rule files, loaded and compiled once per process."""
    return load_signatures()
