"""The Unicode Character Database files the matcher ships, read once each, on first use.

`unicode/` holds the Unicode Consortium's own files, byte for byte, all of Unicode 17.0.0
(source, version and licence in `unicode/README.md`):

- `confusables.txt` (UTS #39): each confusable code point and its prototype;
- `Scripts.txt`: the Script property of every assigned code point;
- `PropList.txt`: binary properties (Dash, Other_Default_Ignorable_Code_Point, …);
- `DerivedGeneralCategory.txt`: the General_Category of every code point.

They are package data, so the matcher needs no system library and no compiler.  Every file has
the UCD's line format: `code point or range ; value [; more] # comment`.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Iterator
from functools import cache
from importlib import resources

UNICODE_VERSION = "17.0.0"
_ZERO_WIDTH_JOINERS = frozenset("\u200c\u200d")


def _rows(name: str) -> Iterator[list[str]]:
    """The data fields of each line of a bundled file, comments and blank lines skipped."""
    text = (resources.files("entityscan.matcher") / "unicode" / name).read_text(
        encoding="utf-8-sig")
    for line in text.splitlines():
        data = line.split("#", 1)[0]
        if data.strip():
            yield [field.strip() for field in data.split(";")]


def _code_points(field: str) -> range:
    """`0041` or `0041..005A` as a range of code points."""
    first, _, last = field.partition("..")
    return range(int(first, 16), int(last or first, 16) + 1)


def _with_value(name: str, wanted: frozenset[str]) -> dict[str, set[int]]:
    """Code points of each of the `wanted` values of a two-field file (property or category)."""
    found: dict[str, set[int]] = {value: set() for value in wanted}
    for code, value, *_ in _rows(name):
        if value in wanted:
            found[value].update(_code_points(code))
    return found


@cache
def _properties() -> dict[str, set[int]]:
    return {**_with_value("PropList.txt", frozenset({
                "Dash", "Other_Default_Ignorable_Code_Point", "Variation_Selector",
                "White_Space", "Prepended_Concatenation_Mark", "Bidi_Control"})),
            **_with_value("DerivedGeneralCategory.txt", frozenset({"Cf", "Pd"}))}


@cache
def default_ignorable() -> frozenset[int]:
    """Default_Ignorable_Code_Point, derived as the UCD derives it (DerivedCoreProperties.txt):
    Other_Default_Ignorable_Code_Point + Cf + Variation_Selector - White_Space - FFF9..FFFB
    (interlinear annotation) - 13430..13440 (Egyptian hieroglyph format controls) -
    Prepended_Concatenation_Mark."""
    props = _properties()
    derived = props["Other_Default_Ignorable_Code_Point"] | props["Cf"] \
        | props["Variation_Selector"]
    derived -= props["White_Space"] | props["Prepended_Concatenation_Mark"]
    derived -= {*range(0xFFF9, 0xFFFC), *range(0x13430, 0x13441)}
    return frozenset(derived)


@cache
def format_characters() -> frozenset[int]:
    """General category Cf."""
    return frozenset(_properties()["Cf"])


@cache
def dashes() -> frozenset[int]:
    """Property Dash and category Pd (every dash, hyphen and minus)."""
    props = _properties()
    return frozenset(props["Dash"] | props["Pd"])


@cache
def hidden_after_reordering() -> frozenset[str]:
    """Bidi_Control characters (embeddings, overrides, isolates, marks) and the zero-width
    joiners: none shows once text is laid out."""
    return frozenset(map(chr, _properties()["Bidi_Control"])) | _ZERO_WIDTH_JOINERS


@cache
def _skeleton_table() -> dict[int, str | None]:
    """confusables.txt as a `str.translate` table, default-ignorables mapped to nothing."""
    table: dict[int, str | None] = {
        int(source, 16): "".join(chr(int(code, 16)) for code in target.split())
        for source, target, *_ in _rows("confusables.txt")}
    table.update(dict.fromkeys(default_ignorable()))
    return table


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text` (section 4, "Confusable Detection"): NFD, default
    ignorable code points removed, each code point replaced by its prototype, NFD again."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", decomposed.translate(_skeleton_table()))


@cache
def _script_ranges() -> tuple[list[int], list[int], list[str]]:
    """Scripts.txt as sorted (starts, ends, script names) for a binary search."""
    ranges = sorted((span.start, span.stop - 1, script)
                    for span, script in ((_code_points(code), script)
                                         for code, script, *_ in _rows("Scripts.txt")))
    return [r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges]


def script(char: str) -> str:
    """The Script property value of one character (`Latin`, `Cyrillic`, `Common` …); `Unknown`
    for a code point Scripts.txt does not list (unassigned, private use, surrogates)."""
    starts, ends, names = _script_ranges()
    code = ord(char)
    at = bisect.bisect_right(starts, code) - 1
    return names[at] if at >= 0 and code <= ends[at] else "Unknown"


@cache
def script_characters(name: str) -> frozenset[str]:
    """Every character whose Script is `name`."""
    starts, ends, names = _script_ranges()
    return frozenset(chr(code) for first, last, value in zip(starts, ends, names, strict=True)
                     if value == name for code in range(first, last + 1))
