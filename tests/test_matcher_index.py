"""The matcher's index against the brute-force baseline, and the properties the pipeline relies
on: the same flagged set as scanning every name on a dense vendor master, no reference cycles
(a replaced matcher is freed even with its objects taken out of the collector), picklable."""

from __future__ import annotations

import gc
import pickle
import weakref
from pathlib import Path

import pytest

from bench import make_csl
from bench.brute_force import BruteForceIndex
from bench.make_items import generate
from entityscan.lists import load_bundled, load_list_file
from entityscan.matcher import Matcher, load_patterns
from entityscan.model import LineItem, Verdict
from entityscan.relations import load_relations


@pytest.fixture(scope="module")
def csl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("csl") / "csl.csv"
    make_csl.main(["--rows", "3000", "--seed", "7", "--output", str(path)])
    return path


def _matcher(csl: Path) -> Matcher:
    lists = load_bundled().merged(load_list_file(csl))
    return Matcher(lists, load_relations(), load_patterns())


def _items(mix: str, count: int) -> list[LineItem]:
    return [LineItem(id=row["id"], supplier=row["supplier"] or None,
                     manufacturer=row["manufacturer"] or None, brand=row["brand"] or None,
                     description=row["description"] or None,
                     part_number=row["part_number"] or None)
            for row in generate(count, 11, mix)]


def test_dense_mix_is_dense_and_deterministic() -> None:
    first, again = generate(400, 3, "dense"), generate(400, 3, "dense")
    assert first == again
    sparse = generate(400, 3, "sparse")
    assert first != sparse and first[0].keys() == sparse[0].keys()


@pytest.mark.parametrize("mix", ["dense", "sparse"])
def test_index_flags_what_brute_force_flags(csl: Path, mix: str) -> None:
    indexed = _matcher(csl)
    brute = _matcher(csl)
    brute._entries = BruteForceIndex.from_index(brute._entries)
    brute._relations = BruteForceIndex.from_index(brute._relations)
    items = _items(mix, 200)
    flagged = {i.id for i in items if indexed.screen_item(i).verdict is Verdict.FLAGGED}
    baseline = {i.id for i in items if brute.screen_item(i).verdict is Verdict.FLAGGED}
    assert flagged == baseline
    if mix == "dense":
        assert len(flagged) >= 20, "the dense mix must come close to list names"


def test_a_replaced_matcher_is_freed_without_the_cycle_collector(csl: Path) -> None:
    matcher = _matcher(csl)
    matcher.screen_item(LineItem(id="x", supplier="Hikvision", description="DS-2CD2143G2-I"))
    ref = weakref.ref(matcher)
    gc.disable()
    try:
        del matcher
        assert ref() is None, "the matcher holds a reference cycle"
    finally:
        gc.enable()


def test_matcher_pickles_with_empty_caches(csl: Path) -> None:
    matcher = _matcher(csl)
    item = LineItem(id="x", supplier="Zhejiang Dahua Technology", part_number="DS-7608NI-K2")
    before = matcher.screen_item(item)
    copy: Matcher = pickle.loads(pickle.dumps(matcher))
    assert copy._screen_name.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert copy.screen_item(item) == before
