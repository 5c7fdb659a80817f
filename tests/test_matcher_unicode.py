"""The Unicode data the matcher ships and what it derives from them.

The files in `plugin/matcher/unicode/` are the Unicode Consortium's, byte for byte, one version
for all; the skeleton is UTS #39's definition over `confusables.txt`; scripts, dashes and
default-ignorables come from the same version's UCD files; bidi reordering (python-bidi) never
fails on hostile text and loses no visible character.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from entityscan.matcher import unicode_data
from entityscan.matcher.unicode_data import (
    UNICODE_VERSION,
    dashes,
    default_ignorable,
    hidden_after_reordering,
    script,
    skeleton,
)
from entityscan.matcher.unicode_guard import clean, read_text, read_word, visual_order
from entityscan.model import LineItem
from entityscan.screening import ScreeningContext

UNICODE = Path(__file__).resolve().parent.parent / "plugin" / "matcher" / "unicode"
FILES = ("confusables.txt", "Scripts.txt", "PropList.txt", "DerivedGeneralCategory.txt")


def _git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_shipped_files_are_the_recorded_originals() -> None:
    """Each file still has the git blob id its README records: nobody edited the data."""
    readme = (UNICODE / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"\| `([\w.]+)` \| `([0-9a-f]{40})` \|", readme))
    assert sorted(recorded) == sorted(FILES)
    for name in FILES:
        assert _git_blob_id(UNICODE / name) == recorded[name], name
    assert sorted(p.name for p in UNICODE.iterdir()) == sorted((*FILES, "README.md"))


def test_files_are_whole_and_of_one_unicode_version() -> None:
    for name in FILES:
        text = (UNICODE / name).read_text(encoding="utf-8")
        header = "\n".join(text.splitlines()[:10])
        assert (f"Version: {UNICODE_VERSION}" in header
                or f"-{UNICODE_VERSION}.txt" in header), (name, header)
        assert "© 2025 Unicode®, Inc." in header, name
        assert text.rstrip().endswith(("# EOF", "# total: 6565")), name
    lines = (UNICODE / "confusables.txt").read_text(encoding="utf-8").splitlines()
    mappings = [line for line in lines if line.strip() and not line.startswith("#")]
    assert f"# total: {len(mappings)}" in lines[-3:]


def test_skeleton_is_the_uts39_definition() -> None:
    # Cyrillic р, а, у in a Latin word; the prototype of `m` is two letters, `rn`.
    assert skeleton("раураl") == skeleton("paypal") == "paypal"
    assert skeleton("m") == skeleton("rn") == "rn"
    # NFD first: a precomposed letter and its decomposed form have one skeleton.
    assert skeleton("\u00e9") == skeleton("e\u0301")
    # Default-ignorable code points go before mapping.
    assert skeleton("pay\u200bpal\u00ad") == "paypal"
    # NFD again after mapping: the result is always in NFD.
    for char in ("ǆ", "ﬃ", "Å", "ḝ", "ǉ", "ℓ", "℮", "ꭓ"):
        assert unicodedata.is_normalized("NFD", skeleton(char)), char


def test_every_confusable_maps_as_the_file_says() -> None:
    """Each source code point's skeleton is the NFD of its prototype (the table is read whole)."""
    text = (UNICODE / "confusables.txt").read_text(encoding="utf-8")
    checked = 0
    for line in text.splitlines():
        data = line.split("#", 1)[0]
        if not data.strip():
            continue
        source, target = (field.strip() for field in data.split(";")[:2])
        char = chr(int(source, 16))
        if unicodedata.normalize("NFD", char) != char:
            continue  # decomposed first, then each part maps: tested above
        prototype = "".join(chr(int(code, 16)) for code in target.split())
        expected = unicodedata.normalize("NFD", unicodedata.normalize("NFD", prototype)
                                         .translate(dict.fromkeys(default_ignorable())))
        assert skeleton(char) == expected, (source, target)
        checked += 1
    assert checked > 5000


def test_default_ignorable_is_derived_as_the_ucd_derives_it() -> None:
    ignorable = default_ignorable()
    for code in (0x00AD, 0x034F, 0x115F, 0x180B, 0x180E, 0x200B, 0x200D, 0x202E, 0x2060,
                 0x2065, 0x3164, 0xFE0F, 0xFEFF, 0xFFA0, 0x1D173, 0xE0001, 0xE0100, 0xE0FFF):
        assert code in ignorable, hex(code)
    # Excluded by the derivation although Cf: interlinear annotation, Egyptian format
    # controls, prepended concatenation marks; never white space.
    for code in (0x0020, 0x00A0, 0x3000, 0xFFF9, 0xFFFB, 0x13430, 0x13440, 0x0600, 0x06DD,
                 0x110BD, 0x0041):
        assert code not in ignorable, hex(code)
    # clean() still removes those Cf characters: it takes Default_Ignorable and Cf.
    for char in ("\ufff9", "\U00013430", "\u0600"):
        assert clean(f"A{char}B") == "AB", hex(ord(char))


def test_dashes_are_the_dash_property_and_pd() -> None:
    found = dashes()
    for code in (0x2010, 0x2015, 0x2212, 0x207B, 0x208B, 0x2053, 0x2E3A, 0x301C, 0xFE63,
                 0xFF0D, 0x10D6E, 0x10EAD):
        assert code in found, hex(code)
    assert not {ord("_"), ord("~"), 0x00AD} & found
    assert clean("DS\u2010\u200b2CD2143G2\u2212I") == "DS-2CD2143G2-I"


def test_script_of_characters_from_scripts_txt() -> None:
    cases = {"a": "Latin", "ſ": "Latin", "ꟍ": "Latin", "а": "Cyrillic", "α": "Greek",
             "大": "Han", "\U00020000": "Han", "か": "Hiragana", "한": "Hangul",
             "1": "Common", "\U0001d400": "Common", "\u0301": "Inherited", "ש": "Hebrew",
             "\ue000": "Unknown", "\U0010ffff": "Unknown", "\u0378": "Unknown"}
    assert {char: script(char) for char in cases} == cases
    # The whole table: every assigned letter Python knows has a script, none `Unknown`.
    unknown = [hex(code) for code in range(0x30000)
               if unicodedata.category(chr(code)).startswith("L")
               and script(chr(code)) == "Unknown"]
    assert unknown == []


def test_accents_fall_only_from_latin_letters() -> None:
    assert clean("Ürümqi Ǆ Ꞔ") == "Urumqi DZ Ꞔ"  # NFKC splits Ǆ into D, Ž; Ꞔ has no accent
    assert clean("йё") == "йё"  # Cyrillic й and ё keep their marks
    assert clean("Ελλάδα") == "Ελλάδα"


def test_tables_are_read_once() -> None:
    loaders = (unicode_data._properties, unicode_data._skeleton_table,
               unicode_data._script_ranges)
    clean("Société")
    read_word("Dаhuа")
    misses = [loader.cache_info().misses for loader in loaders]  # type: ignore[attr-defined]
    assert misses == [1, 1, 1]
    clean("Ürümqi Dаhuа")
    read_word("Ηικvιsιοn")
    read_text("ΖΤΕ")
    assert [loader.cache_info().misses for loader in loaders] == misses  # type: ignore[attr-defined]


def test_visual_order_reads_as_a_reader_does() -> None:
    assert visual_order("\u202eauhaD\u202c Technology") == "Dahua Technology"
    assert visual_order("\u202eZIVZE") == "EZVIZ"  # an override never closed
    assert visual_order("Model \u2067\u202e1I-2G3412DC2-SD\u2069") == "Model DS-2CD2143G2-I1"
    assert visual_order("\u202ecba\ndef\u202c") == "abc\ndef"  # a paragraph ends the override
    assert visual_order("\ud800\u202eauhaD") == "\ufffdDahua"  # a lone surrogate shows as �
    assert visual_order("Dahua \u200f") is None  # a mark alone reorders nothing


_BIDI_TEXT = st.text(alphabet=st.sampled_from([
    *"ab 1.-(", "\u05d0", "\u0627", "\u0661", "\n", "\u2029", "\t", "\u00ad", "\u0301",
    "\U0001f600", "\ud800", "\udfff", "\u200b", *sorted(hidden_after_reordering())]),
    max_size=40)


@settings(max_examples=400, deadline=None)
@given(_BIDI_TEXT)
def test_visual_order_never_fails_and_loses_nothing_visible(text: str) -> None:
    shown = visual_order(text)
    if shown is None:
        assert not set(text) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
        return
    visible = Counter(char if not 0xD800 <= ord(char) <= 0xDFFF else "\ufffd"
                      for char in text if char not in hidden_after_reordering())
    assert Counter(shown) == visible


def test_a_deep_nest_of_controls_is_screened() -> None:
    """Hostile input: unclosed overrides and isolates nested past the algorithm's depth limit
    (125) around a name; and 3,000 deep for visual_order alone."""
    assert visual_order("\u202e" * 3000 + "noisivkiH" + "\u2067" * 3000) == "Hikvision"
    # Isolates 140 deep raise a digit to the highest implicit level, 126.
    assert visual_order("\u2067\u2066" * 70 + "9") == "9"
    value = "\u202e" * 200 + "noisivkiH" + "\u2067" * 200
    context = ScreeningContext.load()
    finding = context.matcher.screen_item(LineItem(id="deep", supplier=value))
    assert finding.verdict.value != "clear" and finding.maker == "Hikvision"
    lone = context.matcher.screen_item(LineItem(id="lone", supplier="\ud800\u202eauhaD"))
    assert lone.maker == "Dahua"


def test_padding_cannot_push_a_name_past_the_field_bound() -> None:
    """Bounds count what a reader sees: invisible characters and white space in front of a name
    (in a name field or a description) do not hide it; a name beyond the name bound is still
    read for mentions."""
    matcher = ScreeningContext.load().matcher
    invisible = "\u200b" * 600 + "Hikvision"
    assert matcher.screen_item(LineItem(id="zw", manufacturer=invisible)).verdict.value == "flagged"
    assert matcher.screen_item(
        LineItem(id="zw-desc", description="\u2060" * 20_000 + "camera by Hikvision")
    ).maker == "Hikvision"
    spaced = matcher.screen_item(
        LineItem(id="ws", description=" " * 12_000 + "Dahua Technology dome camera"))
    assert spaced.maker == "Dahua" and spaced.verdict.value != "clear"
    buried = matcher.screen_item(LineItem(id="long", supplier="x " * 400 + "Hikvision"))
    assert buried.maker == "Hikvision" and buried.verdict.value != "clear"
    assert matcher.screen_item(LineItem(id="plain", supplier="x " * 400)).verdict.value == "clear"
    controls = "\u202e\u202c" * 6_000 + "Dahua Technology"
    assert matcher.screen_item(LineItem(id="bidi-pad", description=controls)).maker == "Dahua"
    reversed_pad = "\u202e" * 700 + "noisivkiH"
    assert matcher.screen_item(LineItem(id="rlo-pad", supplier=reversed_pad)).maker == "Hikvision"
