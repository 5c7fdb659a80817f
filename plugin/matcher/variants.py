"""Other ways to write a listed name, derived from the list entry itself (index side only).

- `CHEN, Quanguo` (the lists' `LAST, First` for people) is also `Quanguo CHEN`; `Chen Quanguo`
  already meets it, since squashed keys ignore the comma;
- `Xinjiang Uighur Autonomous Region (XUAR) People's Government Public Security Bureau` is also
  `XUAR People's Government Public Security Bureau` (the acronym for the words it spells);
- a Chinese-script name of an entry that also has a Latin name is also its Hanyu Pinyin
  (`杭州海康威视数字技术股份有限公司` -> `hangzhou haikangweishi shuzi jishu`), the way suppliers
  romanise their own names.  Pinyin comes from pypinyin, whose phrase dictionary reads place
  names right (`厦门` Xiamen, `重庆` Chongqing), which a character-by-character reading does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from entityscan.matcher.normalise import (
    _CJK_GENERIC,
    _CJK_PLACES,
    _HAS_CJK,
    LEGAL_FORMS,
    _clean_cjk,
    defined_acronyms,
    fold,
)
from entityscan.model import ListEntry

PINYIN = "pinyin"
GIVEN_NAME_FIRST = "given name first"
ACRONYM_FORM = "acronym form"

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+")
_PERSON = re.compile(r"^\s*([^\W\d_][^,\d]{0,60}?)\s*,\s*([^\W\d_][^,\d]{0,60}?)\s*$")


def given_name_first(name: str) -> str | None:
    """`CHEN, Quanguo` -> `Quanguo CHEN`; None for anything that is not a person's name
    (a company with a legal form after its comma, more than one comma, digits)."""
    match = _PERSON.match(name)
    if match is None:
        return None
    family, given = match.group(1), match.group(2)
    words = fold(f"{family} {given}").split()
    if not 2 <= len(words) <= 6 or any(w.strip(".") in LEGAL_FORMS for w in words):
        return None
    return f"{given} {family}"


def acronym_form(name: str) -> str | None:
    """The name with the words a parenthetical acronym spells replaced by the acronym."""
    found = defined_acronyms(name)
    if not found:
        return None
    match, count = found[0]
    starts = [w.start() for w in _WORD.finditer(name[:match.start()])
              if w.group(0).casefold() not in {"of", "and", "the", "for", "s", "de"}]
    # Trailing legal forms may sit between the words and the acronym: count from the first
    # word the acronym could start at.
    for begin in range(len(starts) - count, max(len(starts) - count - 3, -1), -1):
        initials = "".join(name[i].casefold() for i in starts[begin:begin + count])
        if initials == match.group(1).casefold():
            variant = f"{name[:starts[begin]]}{match.group(1)}{name[match.end():]}"
            return " ".join(variant.split())
    return None


def _pinyin_words(piece: str) -> list[str]:
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(piece)
    if piece in _CJK_GENERIC and len(syllables) % 2 == 0:
        # 数字技术 -> `shuzi jishu`: generic words are two characters each, and pinyin words
        # (`jishu`, `shuzi`) are what the normaliser knows as generic.
        return ["".join(syllables[i:i + 2]) for i in range(0, len(syllables), 2)]
    return ["".join(syllables)]


def pinyin_form(name: str) -> str | None:
    """Hanyu Pinyin of the Chinese words of a name, one word per place, core and generic word
    (`浙江大华技术股份有限公司` -> `zhejiang dahua jishu`); None without Chinese characters."""
    if not _HAS_CJK.search(name):
        return None
    out: list[str] = []
    for part in re.split(f"({_CJK_RUN.pattern})", name):
        if not part:
            continue
        if not _CJK_RUN.fullmatch(part):
            out.append(part)
            continue
        for piece in _clean_cjk(part):
            if piece in _CJK_PLACES or piece in _CJK_GENERIC:
                out.extend(_pinyin_words(piece))
            else:
                out.append("".join(_pinyin_words(piece)))
    return " ".join(" ".join(out).split()) or None


def entry_variants(entry: ListEntry) -> Iterator[tuple[str, str]]:
    """(variant name, how it was derived) for each listed name of an entry."""
    names = entry.all_names
    has_latin = any(not _HAS_CJK.search(n) for n in names)
    for name in names:
        person = given_name_first(name)
        if person:
            yield person, f"{GIVEN_NAME_FIRST} of {name!r}"
        short = acronym_form(name)
        if short:
            yield short, f"{ACRONYM_FORM} of {name!r}"
        if has_latin:
            pinyin = pinyin_form(name)
            if pinyin:
                yield pinyin, f"{PINYIN} of {name!r}"


def listed_names(entries: Iterable[ListEntry]) -> Iterator[tuple[ListEntry, str, bool, str]]:
    """(entry, name, is an alias, how derived) for every listed name and alias of every entry,
    then the forms derived from them, for the name index."""
    for entry in entries:
        for i, name in enumerate(entry.all_names):
            yield entry, name, i > 0, ""
        for name, how in entry_variants(entry):
            yield entry, name, True, how
