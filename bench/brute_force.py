"""The benchmark's baseline: candidate retrieval by scanning every name with rapidfuzz.

Same records, same scoring (`explain_score`) and same exact-key semantics as `NameIndex`; only
the retrieval differs, so a difference in flagged sets means the index lost a hit.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from rapidfuzz import fuzz, process

from entityscan.matcher.index import EXACT_SCORES, NameIndex, Scored, explain_score
from entityscan.matcher.normalise import Name
from entityscan.matcher.variants import GIVEN_NAME_FIRST


def _core(name: Name) -> str:
    """What the scan compares: the distinctive words, or every word of a name without one."""
    return " ".join(name.distinct) or " ".join(t.text for t in name.tokens)


def _spaced(name: Name) -> str:
    return " ".join(t.text for t in name.tokens)


class BruteForceIndex(NameIndex[Any]):
    @classmethod
    def from_index(cls, index: NameIndex[Any]) -> BruteForceIndex:
        brute = cls.__new__(cls)
        brute.records = index.records
        # Turned-round person names match word by word only, as in the index.
        brute._spaced_per_record = [_spaced(r.norm) if r.variant.startswith(GIVEN_NAME_FIRST)
                                    else "" for r in index.records]
        brute._levels_per_record = [{} if spaced else dict(r.norm.levels)
                                    for r, spaced in zip(index.records,
                                                         brute._spaced_per_record, strict=True)]
        brute._cores = [_core(r.norm) for r in index.records]
        return brute

    _levels_per_record: list[dict[int, str]]
    _spaced_per_record: list[str]
    _cores: list[str]

    def exact(self, query: Name) -> list[Scored[Any]]:
        found: dict[int, Scored[Any]] = {}
        for _, _, rid in process.extract(_spaced(query), self._spaced_per_record,
                                         scorer=fuzz.ratio, score_cutoff=100, limit=None):
            found[rid] = Scored(self.records[rid], EXACT_SCORES[0], True,
                                {"exact_key_level": 0.0})
        for q_level, key in query.levels:
            for level in range(len(EXACT_SCORES)):
                keys = [levels.get(level, "") for levels in self._levels_per_record]
                for _, _, rid in process.extract(key, keys, scorer=fuzz.ratio,
                                                 score_cutoff=100, limit=None):
                    score = EXACT_SCORES[max(q_level, level)]
                    if rid not in found or found[rid].score < score:
                        found[rid] = Scored(self.records[rid], score, True,
                                            {"exact_key_level": float(max(q_level, level))})
        return sorted(found.values(), key=lambda s: -s.score)

    def search(self, query: Name, min_score: float, *,
               limit: int | None = None) -> list[Scored[Any]]:
        results = {id(s.record): s for s in self.exact(query)}
        q_core = _core(query)
        if q_core:
            for _, _, rid in process.extract(q_core, self._cores, scorer=fuzz.token_set_ratio,
                                             score_cutoff=50, limit=None):
                record = self.records[rid]
                if id(record) in results:
                    continue
                score, features = explain_score(query, record.norm)
                if score >= min_score:
                    results[id(record)] = Scored(record, score, False, features)
        ranked = sorted(results.values(), key=lambda s: -s.score)
        if limit is None:
            return ranked
        # The same selection as the index: the best record of each payload, `limit` payloads.
        out: list[Scored[Any]] = []
        seen: set[Hashable] = set()
        for scored in ranked:
            owner = scored.record.owner
            if owner not in seen and len(seen) < limit:
                seen.add(owner)
                out.append(scored)
        return out
