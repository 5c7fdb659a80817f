"""The matcher: normalisation, candidate retrieval, explained scores and verdict policy."""

from __future__ import annotations

from datetime import date

import pytest

from entityscan.lists import ListSet, ListSource
from entityscan.matcher import Matcher, MatchPolicy, load_patterns, normalise
from entityscan.matcher.index import NameIndex, explain_score
from entityscan.matcher.patterns import PatternSet
from entityscan.model import LineItem, ListEntry, Verdict
from entityscan.relations import load_relations
from entityscan.scanners.inventory import Certainty, Device, Evidence


def entry(eid: str, name: str, *aliases: str, maker: str | None = None,
          removed: date | None = None, list_code: str = "EL") -> ListEntry:
    return ListEntry(id=eid, list=list_code, list_name=f"{list_code} test list", name=name,
                     aliases=aliases, maker=maker, citation="84 FR 54002",
                     listed=date(2019, 10, 9), removed=removed)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    entries = [
        entry("hik", "Hangzhou Hikvision Digital Technology Co., Ltd.", "Hikvision",
              "杭州海康威视数字技术股份有限公司", maker="Hikvision"),
        entry("dahua", "Zhejiang Dahua Technology Co., Ltd.", "Dahua Technology", "Dahua",
              maker="Dahua"),
        entry("zte-el", "ZTE Corporation", "ZTE", maker="ZTE", removed=date(2017, 3, 29)),
        entry("megvii", "Beijing Megvii Technology Co., Ltd.", "Megvii", maker="Megvii",
              removed=date(2025, 1, 7), list_code="1260H"),
        entry("almaz", "Almaz-Antey", "Almaz Antey Air and Space Defence Corporation"),
        entry("person", "LI, Wei"),
    ]
    lists = ListSet(entries, [ListSource(name="test", location="memory", count=len(entries))])
    return Matcher(lists, load_relations(), load_patterns(),
                   MatchPolicy(today=date(2026, 11, 26)))


def screen(m: Matcher, **fields: str) -> tuple[str, str | None, float, list[str]]:
    finding = m.screen_item(LineItem(id="x", **fields))
    return finding.verdict.value, finding.maker, finding.score, finding.reasons


def test_normalise_is_shared_and_drops_legal_forms() -> None:
    a = normalise("HangZhou HikVision Digital Technology CO.,LTD")
    b = normalise("Hangzhou Hikvision Digital Technology Co., Ltd.")
    assert a.keys() == b.keys()
    assert a.distinct == ("hikvision",)
    assert normalise("杭州海康威视数字技术股份有限公司").distinct == ("海康威视",)
    assert normalise("U.S.A. Inc").keys()[0] == "usa"


HIK_NAME = "'Hangzhou Hikvision Digital Technology Co., Ltd.'"


@pytest.mark.parametrize(("fields", "maker", "why"), [
    ({"supplier": "HangZhou HikVision Digital Technology CO.,LTD"}, "Hikvision",
     f"equals the name {HIK_NAME}"),
    ({"supplier": "hikvision"}, "Hikvision", "equals the alias 'Hikvision'"),
    ({"manufacturer": "HIK VISION"}, "Hikvision", "equals the alias 'Hikvision'"),
    ({"brand": "Hikvision Digital Technology"}, "Hikvision", f"equals the name {HIK_NAME}"),
    ({"supplier": "杭州海康威视数字技术股份有限公司"}, "Hikvision",
     "equals the alias '杭州海康威视数字技术股份有限公司'"),
    ({"supplier": "Hikvision USA Inc."}, "Hikvision", "equals the alias 'Hikvision'"),
    ({"brand": "EZVIZ"}, "Hikvision", "names EZVIZ (subsidiary of Hikvision; solid"),
    ({"brand": "Amcrest"}, "Dahua", "names Amcrest (oem-relabel of Dahua; solid"),
    ({"part_number": "DS-2CD2143G2-I"}, "Hikvision", "(rule hikvision-fixed-camera, solid"),
    ({"part_number": "dh-ipc-hdbw2431e-s-s2"}, "Dahua", "(rule dahua-ipc, solid"),
    ({"description": "Hikvision DS-2CD2143G2-I 4MP dome camera"}, "Hikvision",
     "(rule hikvision-fixed-camera, solid"),
])
def test_flagged_on_solid_evidence(matcher: Matcher, fields: dict[str, str], maker: str,
                                   why: str) -> None:
    verdict, got_maker, score, reasons = screen(matcher, **fields)
    assert verdict == "flagged", reasons
    assert got_maker == maker
    assert score >= 95
    assert why in reasons[0], reasons


@pytest.mark.parametrize(("fields", "why"), [
    ({"supplier": "Hikvison"}, "fuzzy"),
    ({"supplier": "Dahau Technology"}, "fuzzy"),
    ({"brand": "ANNKE"}, "some product lines"),
    ({"brand": "Lorex"}, "ended"),
    ({"brand": "Swann"}, "uncertain"),
    ({"description": "bracket compatible with Hikvision dome cameras"}, "mention"),
    ({"description": "wall mount bracket for DS-2CD2143G2-I"}, "accessory"),
    ({"supplier": "ZTE"}, "delisted"),
    ({"supplier": "Megvii"}, "delisted"),
    ({"part_number": "CS-C6N-A0-1C2WFR"}, "uncertain"),
])
def test_review_on_weak_links(matcher: Matcher, fields: dict[str, str], why: str) -> None:
    verdict, _, _, reasons = screen(matcher, **fields)
    assert verdict == "review", reasons
    assert why in " ".join(reasons)


@pytest.mark.parametrize("fields", [
    {"supplier": "Shanghai Dahua Scale Factory"},
    {"supplier": "Hikari Trading Co"},
    {"supplier": "Shenzhen Hikeen Technology"},
    {"supplier": "Axis Communications AB", "brand": "Axis"},
    {"supplier": "Weili Electronics"},
    {"part_number": "IPC-610"},
    {"part_number": "DS18B20"},
    {"part_number": "DS920+"},
    {"description": "Synology DS920+ NAS with 4 bays"},
    {"supplier": "Technology Digital Co., Ltd."},
])
def test_clear_on_hard_negatives(matcher: Matcher, fields: dict[str, str]) -> None:
    verdict, _, _, reasons = screen(matcher, **fields)
    assert verdict == "clear", reasons


def test_extra_generic_word_keeps_the_hit(matcher: Matcher) -> None:
    verdict, maker, score, reasons = screen(matcher, supplier="Almaz Antey Telecom")
    # `Telecom` is a generic word: the distinctive tokens alone still equal the listed name
    assert (verdict, maker) == ("flagged", "Almaz-Antey"), reasons
    assert score >= 85
    assert "equals the name 'Almaz-Antey'" in reasons[0]


def test_score_is_explained_feature_by_feature() -> None:
    score, features = explain_score(normalise("Dahua Scale Factory"), normalise("Dahua"))
    assert score < 82
    assert features["target_coverage"] == 1.0
    assert features["query_coverage"] < 0.6


def test_index_retrieves_typos_without_scanning_everything() -> None:
    names = [(i, f"Company {i} Holdings", False) for i in range(2000)]
    names.append((9999, "Hikvision", False))
    index: NameIndex[int] = NameIndex(names)
    hits = index.search(normalise("Hikvsion"), 80)
    assert [h.record.payload for h in hits] == [9999]
    assert not hits[0].exact


def test_finding_names_list_citation_and_route(matcher: Matcher) -> None:
    finding = matcher.screen_item(LineItem(id="po-1", brand="EZVIZ"))
    match = finding.matches[0]
    assert match.via == "brand-relation"
    assert match.field == "brand" and match.value == "EZVIZ"
    assert match.citation == "84 FR 54002" and match.list == "EL"
    assert match.features["relation_certainty"] == Certainty.SOLID.weight


def test_device_attribution_beats_the_label(matcher: Matcher) -> None:
    device = Device(addresses=["127.0.0.9"], brand="ANNKE", maker="Hikvision", confidence=0.95,
                    evidence=[Evidence(probe="sadp", field="reply", value="ProbeMatch",
                                       indicates="Hikvision", certainty=Certainty.SOLID)],
                    reasons=["sadp reply -> Hikvision"])
    finding = matcher.screen_device(device)
    assert finding.verdict is Verdict.FLAGGED
    assert any(m.via == "device-attribution" for m in finding.matches)
    weak = device.model_copy(update={"confidence": 0.4, "brand": None})
    assert matcher.screen_device(weak).verdict is Verdict.REVIEW


def test_device_label_alone_is_review(matcher: Matcher) -> None:
    label_only = Device(addresses=["127.0.0.8"], brand="HIKVISION", confidence=0.2,
                        maker="Hikvision")
    finding = matcher.screen_device(label_only)
    assert finding.verdict is Verdict.REVIEW
    assert "label alone is weak evidence" in " ".join(finding.reasons)


def test_user_relation_overrides_bundled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    override = tmp_path / "rel.yaml"
    override.write_text("relations:\n  - brand: ANNKE\n    maker: Hikvision\n"
                        "    kind: oem-relabel\n    certainty: solid\n    scope: all\n"
                        "    source: our own teardown, 2026\n", encoding="utf-8")
    bundled = [r for r in load_relations() if r.brand == "ANNKE"]
    assert [(r.certainty, r.scope) for r in bundled] == [(Certainty.MEDIUM, "some")]
    relations = load_relations([override])
    assert len(relations) == len(load_relations()), "a row with the same brand replaces, not adds"
    annke = [r for r in relations if r.brand == "ANNKE"]
    assert [(r.maker, r.certainty, r.scope, r.source) for r in annke] == [
        ("Hikvision", Certainty.SOLID, "all", "our own teardown, 2026")]


def test_patterns_match_examples_and_not_counter_examples() -> None:
    patterns = PatternSet(load_patterns())
    for rule in patterns.rules:
        assert rule.examples and rule.counter_examples, rule.id
        for example in rule.examples:
            hit = patterns.part_number(example)
            assert hit is not None and hit.rule.id == rule.id, (rule.id, example)
        for counter in rule.counter_examples:
            assert patterns.part_number(counter) is None, (rule.id, counter)


@pytest.mark.timeout(20)
def test_patterns_survive_hostile_text() -> None:
    """Possessive tails keep matching linear: near-miss bait of every rule, thousands of times
    over, finishes at once (the timeout is the guard) and a real model after it is still found.
    """
    patterns = PatternSet(load_patterns())
    for rule in patterns.rules:
        prefix = rule.examples[0][:8]
        for filler in ("A1-", "A1", "-A", "A 1 "):
            bait = (prefix + filler * 300 + "! ") * 3
            # Some baits cut to 80 characters are well-formed models; none belongs to another rule.
            whole = patterns.part_number(bait[:80])
            if whole is not None:
                assert whole.rule.id == rule.id, (prefix, filler, whole.rule.id)
            found = {hit.rule.id for hit in patterns.search(bait + " DS-2CD2143G2-I")}
            assert "hikvision-fixed-camera" in found, (prefix, filler)


@pytest.mark.parametrize(("value", "rule"), [
    ("DS2CD2143G2IU", "hikvision-fixed-camera"),
    ("DS 2CD2143G2-I", "hikvision-fixed-camera"),
    ("NVR4108HS4KS2", "dahua-nvr"),
    ("IPC HFW2431S-S-S2", "dahua-ipc"),
])
def test_patterns_tolerate_missing_dashes(value: str, rule: str) -> None:
    hit = PatternSet(load_patterns()).part_number(value)
    assert hit is not None and hit.rule.id == rule


def test_pattern_file_errors_name_the_rule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from entityscan.errors import InputError

    bad = tmp_path / "p.yaml"
    bad.write_text("patterns:\n  - id: lower\n    maker: Hikvision\n    pattern: 'ds-2cd\\d+'\n"
                   "    trigger: 'DS'\n    certainty: solid\n    description: x\n"
                   "    source: test\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"pattern 1.*capitals"):
        load_patterns([bad])


def test_relation_file_errors_name_relation_and_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from entityscan.errors import InputError

    bad = tmp_path / "rel.yaml"
    bad.write_text("relations:\n  - brand: Acme\n    maker: Hikvision\n    kind: relabel\n"
                   "    certainty: pretty-sure\n    source: x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"relation 1 \(Acme\), field `certainty`"):
        load_relations([bad])
