"""Text an attacker cannot step around: the Unicode half of the one normalisation.

Every name, brand, description and part number passes through here before it is tokenised, on
both sides of a match (list names and user input):

- NFKC: fullwidth `ＤＳ`, math bold and ligatures become plain letters;
- default-ignorable and format characters (Unicode property Default_Ignorable_Code_Point and
  category Cf: zero-width spaces and joiners, soft hyphens, bidi controls, variation selectors,
  tag characters) are removed;
- every dash, hyphen and minus (property Dash, category Pd: U+2010 … U+2015, U+2212, fullwidth
  and small forms) becomes `-`;
- accents on Latin letters are dropped (`Ürümqi` -> `Urumqi`);
- `visual_order` gives the order a reader sees when explicit bidi controls reorder the text
  (an RLO-reversed `\u202enoisivkih` shows as `hikvision`);
- `read_word` gives the Latin reading of a word written with lookalike letters from another
  script (`Dаhuа` with Cyrillic `а`), from the UTS #39 confusable skeleton.

The Unicode data are the Unicode Consortium's own files, shipped with the package
(`unicode_data`, Unicode 17.0.0: confusables.txt of UTS #39, Scripts.txt, PropList.txt,
DerivedGeneralCategory.txt), not a hand-made table; skeletons follow UTS #39's definition over
them.  Bidi reordering is python-bidi (the Unicode Bidirectional Algorithm of the Rust crate
unicode-bidi, published as wheels).  Nothing here needs a system library or a compiler.  The
tables are read once, on first use, and live in these modules, never on a `Matcher`, which must
stay picklable.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from bidi import get_display

from entityscan.matcher.unicode_data import (
    dashes,
    default_ignorable,
    format_characters,
    hidden_after_reordering,
    script,
    script_characters,
    skeleton,
)

# Scripts whose letters are never read as Latin: a Han, kana or Hangul word is a name in its own
# right (`大华`), and some of its characters have lookalikes elsewhere (`口`, `工`).
_OWN_NAME_SCRIPTS = frozenset({"Han", "Hiragana", "Katakana", "Hangul", "Bopomofo"})
# Explicit embeddings, overrides and isolates: the characters that reorder what a reader sees.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# A lone surrogate is no character: a reader sees U+FFFD in its place (and bidi takes only text).
_SURROGATE = re.compile("[\ud800-\udfff]")


@cache
def _clean_table() -> dict[int, str | None]:
    """`str.translate` table: invisible and format characters to nothing, dashes to `-`."""
    table: dict[int, str | None] = dict.fromkeys(default_ignorable() | format_characters())
    table.update({code: "-" for code in dashes() if code != ord("-")})
    return table


@cache
def _invisible_table() -> dict[int, None]:
    """`str.translate` table: invisible and format characters but the bidi controls, which
    change what a reader sees and are read by `visual_order`."""
    invisible = default_ignorable() | format_characters()
    return dict.fromkeys(invisible - {ord(c) for c in BIDI_CONTROLS})


def strip_invisible(text: str) -> str:
    """The text without the invisible characters that change nothing a reader sees
    (zero-width spaces, joiners, tags): what a bound on a value's length must not count."""
    if text.isascii():
        return text
    return text.translate(_invisible_table())


def without_bidi_controls(text: str) -> str:
    """The text in its written order with the bidi controls taken out."""
    return "".join(char for char in text if char not in BIDI_CONTROLS)


def clean(text: str) -> str:
    """NFKC, invisible and format characters removed, dashes folded, Latin accents dropped."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text).translate(_clean_table())
    if text.isascii():
        return text
    latin = script_characters("Latin")
    out: list[str] = []
    after_latin = False
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.category(char) == "Mn":
            if after_latin:
                continue  # an accent on a Latin letter
        else:
            after_latin = char in latin
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def visual_order(text: str) -> str | None:
    """The text in the order a reader sees it, when explicit bidi controls reorder it; else None."""
    if BIDI_CONTROLS.isdisjoint(text):
        return None
    text = _SURROGATE.sub("\ufffd", text)
    shown = get_display(text, base_dir="L")  # a left-to-right document
    hidden = hidden_after_reordering()
    return "".join(char for char in shown if char not in hidden)


@lru_cache(maxsize=16_384)
def script_of(char: str) -> str:
    """The Unicode Script property of a character: `Cyrillic`, `Greek`, `Latin`, `Common` …"""
    return script(char)


@lru_cache(maxsize=16_384)
def _reading(char: str) -> str | None:
    """The ASCII letters or digits a non-ASCII letter is confusable with (lower case), if any.

    The UTS #39 skeleton maps lower-case Cyrillic `к` to Latin kra `ĸ`, not to `k`; its capital
    `К` maps to `K`.  Trying the letter, then its capital, reads both the way a person does.
    """
    for form in (char, char.upper()):
        prototype = skeleton(form)
        if prototype.isascii() and prototype.isalnum():
            return prototype.lower()
    return None


@lru_cache(maxsize=65_536)
def read_word(word: str) -> tuple[str, str]:
    """(Latin reading, the letters read) of one word; (word, "") when there is nothing to read.

    A word is read only when every non-ASCII letter in it has an ASCII lookalike: `Dаhuа` (two
    Cyrillic `а`) reads `dahua`, `ΖΤΕ` (Greek capitals) reads `zte`.  A word with one letter
    that has none (`Москвич` has `ч`; `大华`) is genuinely of its own script and is left alone.
    The reading is lower case, like the tokens it becomes.
    """
    if word.isascii():
        return word, ""
    out: list[str] = []
    read: list[str] = []
    for char in word:
        if char.isascii():
            out.append(char)
            continue
        if script_of(char) in _OWN_NAME_SCRIPTS:
            return word, ""
        reading = _reading(char)
        if reading is None:
            return word, ""
        out.append(reading)
        read.append(char)
    return "".join(out), "".join(read)


def read_text(text: str) -> tuple[str, str]:
    """`read_word` over every word of `text`, keeping case and everything between words.

    For part numbers and acronyms (`ΖΤΕ`, `DЅ-2CD2143G2-I`), which are matched case-sensitively
    or upper-cased.
    """
    if text.isascii():
        return text, ""
    out: list[str] = []
    read: list[str] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            original = "".join(word)
            reading, letters = read_word(original.casefold())
            if letters and len(reading) >= len(original):
                reading = "".join(r.upper() if o.isupper() else r
                                  for o, r in zip(original, reading, strict=False)) \
                    + reading[len(original):]
            out.append(reading if letters else original)
            read.append(letters)
            word.clear()

    for char in text:
        if char.isalnum():
            word.append(char)
        else:
            flush()
            out.append(char)
    flush()
    return "".join(out), "".join(read)


def describe_lookalikes(letters: str) -> str:
    """`Cyrillic letters (Н, і, к) in a Latin name`, for reasons."""
    shown = ", ".join(dict.fromkeys(letters))
    scripts = sorted({script_of(char) for char in letters})
    if scripts == ["Latin"]:
        return f"lookalike letters ({shown}) in a Latin name"
    return f"{' and '.join(scripts)} letters ({shown}) in a Latin name"
