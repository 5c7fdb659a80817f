"""The labelled line-item set and the sample are well formed and keep to the labelling policy.

These checks look only at the data (no matcher): a label set with duplicate ids, unknown
makers or a category that silently vanished would make the accuracy figures meaningless.
"""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from tests.labelled_items import (
    ITEM_FIELDS,
    LABEL_COLUMNS,
    LABELLED_CSV,
    SAMPLE_CSV,
    LabelledRow,
    read_labelled,
)

VERDICTS = ("flagged", "review", "clear")
CANONICAL_MAKERS = frozenset({
    "Hikvision", "Dahua", "Huawei", "ZTE", "Hytera", "iFLYTEK", "SenseTime", "Megvii", "Yitu",
    "Xiamen Meiya Pico", "Yixin",
})
# Listed parties that are not device makers (agencies, people): on their rows the expected
# "maker" is the entry's name as its list publishes it (what a finding names).
LISTED_PARTIES = frozenset({
    "Xinjiang Uighur Autonomous Region (XUAR) People's Government Public Security Bureau",
    "Xinjiang Police College", "XINJIANG PUBLIC SECURITY BUREAU",
    "XINJIANG PRODUCTION AND CONSTRUCTION CORPS", "CHEN, Quanguo", "ZHU, Hailun",
    "WANG, Mingshan", "HUO, Liujun", "WANG, Junzheng", "CHEN, Mingguo",
})
# Every case type the set must keep, and the one verdict the policy gives it.
CATEGORY_VERDICTS = {
    "listed-name": "flagged",
    "listed-legal-name": "flagged",
    "listed-chinese-name": "flagged",
    "distributor-listed-brand": "flagged",
    "subsidiary-brand": "flagged",
    "part-number-bare": "flagged",
    "part-number-in-description": "flagged",
    "relabel-with-part-number": "flagged",
    "other-listed-entity": "flagged",
    "typo-name": "review",
    "oem-relabel-some-lines": "review",
    "oem-uncertain": "review",
    "former-owner": "review",
    "description-mention": "review",
    "other-maker": "clear",
    "chinese-unlisted-maker": "clear",
    "false-friend-substring": "clear",
    "false-friend-near-spelling": "clear",
    "part-number-lookalike": "clear",
    "generic-office": "clear",
    "agency-name": "flagged",
    "agency-name-variant": "review",
    "agency-other-place": "clear",
    "listed-person": "flagged",
    "person-other": "clear",
    "pinyin-name": "flagged",
    "pinyin-unlisted": "clear",
}
MIN_ROWS = 300
MIN_PER_CATEGORY = 5
# Target mix of the set: about 45 % flagged, 15 % review, 40 % clear.
MIX_BOUNDS = {"flagged": (0.40, 0.50), "review": (0.12, 0.20), "clear": (0.35, 0.45)}

# Distinctive Hikvision/Dahua model formats: the makers' own model naming, as printed in their
# catalogues (https://www.hikvision.com/en/products/, https://www.dahuasecurity.com/products)
# and listed by the Home Assistant integrations https://github.com/maciej-or/hikvision_next and
# https://github.com/rroller/dahua.  Under the policy such a model on a line establishes the
# maker, so a `review` or `clear` row carrying one would be mislabelled.  Used only to lint
# labels, never to screen.
DISTINCTIVE_MODEL = re.compile(
    r"""(?ix)
    \b(?:
        i?DS-?(?:2C[DE]|2D[EF]|2SE|2TD|7[67]\d\d|72\d\d|K[HV]\d|K1T)   # Hikvision
      | DHI?-[A-Z]                                                  # Dahua export SKUs
      | IPC-(?:HFW|HDW|HDBW)\d                                      # Dahua cameras
      | VT[OH]\d{4} | HAC-[A-Z]{2,4}\d | TPC-(?:BF|DF|PT|SD)\d       # Dahua intercom/HDCVI/thermal
      | NVR\d{4}[-A-Z0-9]*4KS2                                       # Dahua NVRs
    )""",
)
PART_NUMBER_CATEGORIES = {"part-number-bare", "part-number-in-description",
                          "relabel-with-part-number"}


@pytest.fixture(scope="module")
def rows() -> list[LabelledRow]:
    return read_labelled()


def _where(row: LabelledRow) -> str:
    return f"{LABELLED_CSV.name} line {row.line} (id {row.id!r})"


def _content_key(item: dict[str, str]) -> tuple[str, ...]:
    return tuple(" ".join(item[name].split()).casefold() for name in ITEM_FIELDS)


def test_header_has_item_and_label_columns_then_extras(rows: list[LabelledRow]) -> None:
    columns = rows[0].columns
    required = ("id", *ITEM_FIELDS, *LABEL_COLUMNS)
    assert columns[: len(required)] == required, f"header must start with {required}"
    extras = columns[len(required):]
    assert extras, "the set must carry at least one unknown column (e.g. cost_centre)"
    empty = [_where(r) for r in rows for name in extras if not r.extra[name].strip()]
    assert not empty, f"extra columns must be filled so echoing can be checked: {empty[:10]}"


def test_enough_rows(rows: list[LabelledRow]) -> None:
    assert len(rows) >= MIN_ROWS, f"{len(rows)} rows, want at least {MIN_ROWS}"


def test_ids_are_present_and_unique(rows: list[LabelledRow]) -> None:
    blank = [r.line for r in rows if not r.id.strip()]
    assert not blank, f"rows without an id at lines {blank}"
    duplicated = [i for i, n in Counter(r.id for r in rows).items() if n > 1]
    assert not duplicated, f"duplicate ids: {duplicated}"


def test_verdicts_are_allowed(rows: list[LabelledRow]) -> None:
    bad = [f"{_where(r)}: {r.expected_verdict!r}" for r in rows
           if r.expected_verdict not in VERDICTS]
    assert not bad, f"expected_verdict must be one of {VERDICTS}: {bad}"


def test_makers_are_canonical_and_only_on_positives(rows: list[LabelledRow]) -> None:
    bad = []
    for r in rows:
        if r.expected_verdict == "clear" and r.expected_maker:
            bad.append(f"{_where(r)}: clear row names maker {r.expected_maker!r}")
        if r.expected_verdict != "clear" and r.expected_maker not in (CANONICAL_MAKERS
                                                                      | LISTED_PARTIES):
            bad.append(f"{_where(r)}: maker {r.expected_maker!r} is not canonical")
    assert not bad, "\n".join(bad)


def test_every_canonical_maker_is_flagged_somewhere(rows: list[LabelledRow]) -> None:
    flagged_makers = {r.expected_maker for r in rows if r.expected_verdict == "flagged"}
    assert flagged_makers - LISTED_PARTIES == CANONICAL_MAKERS, (
        f"makers without a flagged row: {sorted(CANONICAL_MAKERS - flagged_makers)}")


def test_categories_are_known_consistent_and_all_represented(rows: list[LabelledRow]) -> None:
    unknown = [f"{_where(r)}: {r.category!r}" for r in rows if r.category not in CATEGORY_VERDICTS]
    assert not unknown, f"unknown categories: {unknown}"
    inconsistent = [f"{_where(r)}: {r.category} is {CATEGORY_VERDICTS[r.category]}, "
                    f"row says {r.expected_verdict}"
                    for r in rows if CATEGORY_VERDICTS[r.category] != r.expected_verdict]
    assert not inconsistent, "\n".join(inconsistent)
    counts = Counter(r.category for r in rows)
    thin = {c: counts.get(c, 0) for c in CATEGORY_VERDICTS if counts.get(c, 0) < MIN_PER_CATEGORY}
    assert not thin, f"categories with fewer than {MIN_PER_CATEGORY} rows: {thin}"


def test_verdict_mix_is_close_to_target(rows: list[LabelledRow]) -> None:
    counts = Counter(r.expected_verdict for r in rows)
    shares = {v: counts[v] / len(rows) for v in VERDICTS}
    off = {v: f"{shares[v]:.1%}" for v, (low, high) in MIX_BOUNDS.items()
           if not low <= shares[v] <= high}
    assert not off, f"verdict mix {off} outside {MIX_BOUNDS}"


def test_every_row_says_something(rows: list[LabelledRow]) -> None:
    empty = [_where(r) for r in rows if not any(v.strip() for v in r.item.values())]
    assert not empty, f"rows with all item fields blank: {empty}"


def test_no_duplicate_line_items(rows: list[LabelledRow]) -> None:
    seen: dict[tuple[str, ...], LabelledRow] = {}
    duplicates = []
    for r in rows:
        key = _content_key(r.item)
        if key in seen:
            duplicates.append(f"{_where(r)} repeats id {seen[key].id}")
        seen[key] = r
    assert not duplicates, "\n".join(duplicates)


def test_distinctive_models_only_on_flagged_rows(rows: list[LabelledRow]) -> None:
    """A Hikvision/Dahua model establishes the maker, so rows carrying one must be `flagged`."""
    mislabelled = []
    for r in rows:
        text = " ".join(r.item.values())
        has_model = bool(DISTINCTIVE_MODEL.search(text))
        if has_model and r.expected_verdict != "flagged":
            mislabelled.append(f"{_where(r)}: {r.expected_verdict} but carries a model: {text!r}")
        if r.category in PART_NUMBER_CATEGORIES and not has_model:
            mislabelled.append(f"{_where(r)}: {r.category} without a distinctive model")
    assert not mislabelled, "\n".join(mislabelled)


def test_linter_pattern_recognises_real_formats_and_ignores_lookalikes() -> None:
    """Keep the label linter honest: real Hikvision/Dahua models, real lookalikes of others."""
    for model in ("DS-2CD2143G2-IU", "DS-7608NI-K2/8P", "iDS-7204HUHI-M1/S", "DS-KH6320-WTE1",
                  "DS-K1T671MF", "IPC-HFW2431S-S-S2", "DHI-NVR4216-16P-4KS2/L", "VTO2202F-P",
                  "HAC-HFW1200T", "TPC-BF1241", "NVR5216-16P-4KS2E", "DH-SD49425XB-HNR"):
        assert DISTINCTIVE_MODEL.search(model), model
    for lookalike in ("DS18B20+", "DS923+", "DS-C9148S-12PK9", "DS-530II", "DS-640",
                      "IPC-610H", "IPC-A-610H", "TPC-1051WP", "IPC2124LB-SF28KM-G", "DH36DPE",
                      "DSX-8000", "IPC-B140H"):
        assert not DISTINCTIVE_MODEL.search(lookalike), lookalike


def _read_sample() -> tuple[tuple[str, ...], list[dict[str, str]]]:
    with SAMPLE_CSV.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return tuple(reader.fieldnames or ()), list(reader)


def test_sample_is_small_well_formed_and_mixed(rows: list[LabelledRow]) -> None:
    columns, sample = _read_sample()
    assert columns[: 1 + len(ITEM_FIELDS)] == ("id", *ITEM_FIELDS)
    assert "cost_centre" in columns, "the sample shows an unknown column being echoed"
    assert not set(LABEL_COLUMNS) & set(columns), "the sample is input: no answer columns"
    assert 10 <= len(sample) <= 20, f"{len(sample)} rows; the quick start wants about 15"
    assert len({s["id"] for s in sample}) == len(sample), "duplicate ids in the sample"
    # Every sample line is also in the labelled set, so its expected verdict is known and the
    # accuracy test covers it; the sample must show all three verdicts.
    by_content = {_content_key(r.item): r for r in rows}
    verdicts: Counter[str] = Counter()
    for s in sample:
        key = _content_key({name: s.get(name) or "" for name in ITEM_FIELDS})
        assert key in by_content, f"sample line {s['id']} is not in {LABELLED_CSV.name}"
        verdicts[by_content[key].expected_verdict] += 1
    assert set(verdicts) == set(VERDICTS), f"sample verdict mix {dict(verdicts)}"
