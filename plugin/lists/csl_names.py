"""How the trade.gov CSL writes names, and how to read them back into parties and aliases.

The quirks below come from the published bulk file itself
(https://data.trade.gov/downloadable_consolidated_screening_list/v1/consolidated.csv, described at
https://www.trade.gov/consolidated-screening-list); ignoring any of them loses or garbles entries:

- multi-valued cells are joined with "; ", and Entity List aliases may end "...; and <alias>";
- Entity List names embed affiliates (`... (Huawei). Affiliated Entity: <name>`,
  `Subordinate Institution - <name>`) and location text (`..., Guiyang, Guizhou`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_SPLIT_MULTI = re.compile(r"\s*;\s*")
_LEADING_AND = re.compile(r"^and\s+", re.IGNORECASE)


def split_multi(value: str) -> list[str]:
    """Split a "; "-joined cell; an element after the first loses a leading "and "."""
    if ";" not in value:
        single = value.strip()
        return [single] if single else []
    parts = [p.strip() for p in _SPLIT_MULTI.split(value.strip())] if value.strip() else []
    out: list[str] = []
    for index, part in enumerate(parts):
        if index:
            part = _LEADING_AND.sub("", part).strip()
        if part:
            out.append(part)
    return out


def clean_alias_list(values: Iterable[Any]) -> list[str]:
    """Aliases given as a JSON array: empty items dropped, later ones lose a leading "and "."""
    return [_LEADING_AND.sub("", str(a)).strip() if i else str(a).strip()
            for i, a in enumerate(values) if a not in (None, "")]


# Legal forms and organisation words: a name ending in one is complete, so comma-separated
# words after it are location text ("..., Ltd., Guiyang, Guizhou").
_LEGAL_TAIL = re.compile(
    r"(?:\b(?:co|corp|corporation|company|inc|incorporated|ltd|limited|llc|l\.l\.c|llp|plc|"
    r"gmbh|ag|sa|s\.a|jsc|ojsc|pjsc|cjsc|ooo|bv|b\.v|pte|pvt|fze|fzco|fzc|lp|group|"
    r"institute|university|academy|college|bureau|center|centre|factory|laboratory|"
    r"administration|agency|department|ministry|office|school|hospital)\.?|\))$",
    re.IGNORECASE)
_LEGAL_WORD = re.compile(
    r"^(?:co|corp|corporation|company|inc|ltd|limited|llc|llp|plc|gmbh|ag|sa|jsc|pjsc|ojsc|"
    r"cjsc|ooo|oao|zao|ao|fze|fzco|bv|pte|pvt|lp|group|holding|holdings|trading|technology|"
    r"technologies|industries|industry)\.?$",
    re.IGNORECASE)
_PLACE_SEGMENT = re.compile(r"^[A-Z][A-Za-z'\-]*(?:\s+[A-Z][A-Za-z'\-]*){0,2}$")
#: Region names that end Entity List addresses-in-names ("..., Guiyang, Guizhou").  A trailing
#: segment naming one of these is location text even when the name has no legal form.
_REGIONS = frozenset(s.casefold() for s in (
    "Anhui", "Beijing", "Chongqing", "Fujian", "Gansu", "Guangdong", "Guangxi", "Guizhou",
    "Hainan", "Hebei", "Heilongjiang", "Henan", "Hong Kong", "Hubei", "Hunan", "Inner Mongolia",
    "Jiangsu", "Jiangxi", "Jilin", "Liaoning", "Macau", "Macao", "Ningxia", "Qinghai",
    "Shaanxi", "Shandong", "Shanghai", "Shanxi", "Sichuan", "Tianjin", "Tibet", "Xinjiang",
    "Yunnan", "Zhejiang", "China", "PRC"))


def _is_region(segment: str) -> bool:
    low = segment.casefold()
    return low in _REGIONS or low.endswith((" province", " municipality"))


def strip_location(name: str) -> str | None:
    """The name without trailing location text, or None if there is none to strip.

    Only strips when what remains still ends in a legal form or organisation word, so personal
    names ("SMITH, John") and names that merely contain commas are left alone.
    """
    segments = [s.strip() for s in name.split(",")]
    if len(segments) < 2:
        return None
    cut = len(segments)
    while cut > 1:
        segment = segments[cut - 1]
        if not _PLACE_SEGMENT.match(segment):
            break
        if any(_LEGAL_WORD.match(word) for word in segment.split()):
            break
        cut -= 1
    if cut == len(segments):
        return None
    kept = ", ".join(segments[:cut]).rstrip(" ,")
    if _LEGAL_TAIL.search(kept):
        return kept
    # No legal form left: strip only if the text ends in a region name and a real name
    # (two words or more) remains, so "SMITH, John" never loses its given name.
    if _is_region(segments[-1]) and len(kept.split()) >= 2:
        return kept
    return None


_AFFILIATE_MARK = re.compile(
    r"(?:[.,;]\s*|\s+)(?:Affiliated\s+Entit(?:y|ies)\s*:|Subordinate\s+Institutions?\s*[-:\u2013])\s*",
    re.IGNORECASE)
_LEADING_MARK = re.compile(
    r"^(?:Affiliated\s+Entit(?:y|ies)\s*:|Subordinate\s+Institutions?\s*[-:\u2013])\s*",
    re.IGNORECASE)
_SHORT_NAME = re.compile(r"^(?P<name>.*?\S)\s*\((?P<short>[^()]{1,60})\)\s*\.?$")


def split_short_name(name: str) -> tuple[str, list[str]]:
    """`Huawei Technologies Co., Ltd. (Huawei)` -> (`Huawei Technologies Co., Ltd.`, [`Huawei`])."""
    match = _SHORT_NAME.match(name.strip())
    if not match:
        return name.strip().rstrip("."), []
    short = match.group("short").strip()
    # "(a.k.a., ...)" or "(China)" style notes are not short names.
    if short.lower().startswith(("a.k.a", "aka", "f.k.a", "formerly")):
        return name.strip(), []
    return match.group("name").strip(), [short]


@dataclass
class NameParts:
    """What a published name holds: the main party, affiliates, and cleaned aliases."""

    main: str
    main_aliases: list[str] = field(default_factory=list)
    affiliates: list[tuple[str, list[str]]] = field(default_factory=list)


def parse_name(published: str) -> NameParts:
    """Split affiliate markers and location text out of a published name."""
    text = " ".join(published.split())
    low = text.casefold()
    if "affiliated" not in low and "subordinate" not in low:
        parts = NameParts(main=text)
        if "," in text:
            _add_location_alias(parts.main_aliases, text)
        return parts
    marks = list(_AFFILIATE_MARK.finditer(text))
    if not marks:
        leading = _LEADING_MARK.match(text)
        if leading:  # "Subordinate Institution - X" with no parent text: X is the party
            inner = text[leading.end():].strip()
            parts = NameParts(main=text)
            if inner:
                parts.main_aliases.append(inner)
            _add_location_alias(parts.main_aliases, inner or text)
            return parts
        parts = NameParts(main=text)
        _add_location_alias(parts.main_aliases, text)
        return parts
    head = text[:marks[0].start()].strip()
    main, shorts = split_short_name(head)
    parts = NameParts(main=main, main_aliases=shorts)
    _add_location_alias(parts.main_aliases, main)
    bounds = [m.end() for m in marks]
    ends = [m.start() for m in marks[1:]] + [len(text)]
    for start, end in zip(bounds, ends, strict=True):
        for piece in split_multi(text[start:end]):
            piece = piece.strip().rstrip(";").strip()
            if not piece:
                continue
            aff_name, aff_shorts = split_short_name(piece)
            aliases = list(aff_shorts)
            _add_location_alias(aliases, aff_name)
            parts.affiliates.append((aff_name, aliases))
    return parts


def _add_location_alias(aliases: list[str], name: str) -> None:
    cleaned = strip_location(name)
    if cleaned and cleaned != name and cleaned not in aliases:
        aliases.append(cleaned)

