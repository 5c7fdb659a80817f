"""What the matcher looks for beyond the name index, built once from the lists and relations:
the squashed names of equipment makers and their brands (a brute-force typo check the token
index cannot do), their short all-capital names (`ZTE`) and the names that count as a mention
in free text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from entityscan.matcher.normalise import normalise
from entityscan.model import ListEntry, Relation


def maker_core_names(entries: Iterable[ListEntry],
                     relations: Sequence[Relation]) -> dict[str, tuple[str, str]]:
    """Squashed names (6+ letters) of equipment makers and their brands -> (maker, name)."""
    cores: dict[str, tuple[str, str]] = {}
    named = [(e.maker, n) for e in entries if e.maker for n in e.all_names]
    named += [(r.maker, n) for r in relations for n in (r.brand, *r.aliases)]
    for maker, name in named:
        core = "".join(normalise(name).distinct)
        if len(core) >= 6:
            cores.setdefault(core, (maker, name))
    return cores


def acronym_makers(entries: Iterable[ListEntry]) -> dict[str, str]:
    """Short all-capital maker names (`ZTE`) -> maker, found case-sensitively in free text."""
    found: dict[str, str] = {}
    for entry in entries:
        for name in entry.all_names if entry.maker else ():
            if 2 < len(name) <= 4 and name.isupper() and name.isalpha():
                found.setdefault(name, entry.maker or name)
    return found


def acronym_pattern(makers: dict[str, str]) -> re.Pattern[str] | None:
    if not makers:
        return None
    return re.compile(r"\b(" + "|".join(map(re.escape, sorted(makers))) + r")\b")


def mention_keys(entries: Iterable[ListEntry],
                 relations: Sequence[Relation]) -> dict[str, tuple[str, tuple[str, str]]]:
    """Squashed names that count as a mention in free text -> (first token, (maker, name)).

    Only equipment makers and their brands: a description naming a sanctioned person is not
    what a product description means.
    """
    named: list[tuple[str, str]] = []
    for entry in entries:
        if entry.maker:
            named.extend((entry.maker, name) for name in (entry.maker, *entry.all_names))
    for rel in relations:
        named.extend((rel.maker, name) for name in (rel.brand, *rel.aliases))
    keys: dict[str, tuple[str, tuple[str, str]]] = {}
    for maker, name in named:
        distinct = normalise(name).distinct
        key = "".join(distinct)
        if len(key) >= 4 or (key and not key.isascii()):
            keys.setdefault(key, (distinct[0], (maker, name)))
    return keys
