"""The benchmark's baseline: candidate retrieval by scanning every name with rapidfuzz.

Same records, same scoring (`explain_score`) and same exact-key semantics as `NameIndex`; only
the retrieval differs, so a difference in flagged sets means the index lost a hit.
"""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz, process

from entityscan.matcher.index import EXACT_SCORES, NameIndex, Scored, explain_score
from entityscan.matcher.normalise import Name


class BruteForceIndex(NameIndex[Any]):
    @classmethod
    def from_index(cls, index: NameIndex[Any]) -> BruteForceIndex:
        brute = cls.__new__(cls)
        brute.records = index.records
        brute._levels_per_record = [dict(r.norm.levels) for r in index.records]
        brute._cores = [" ".join(r.norm.distinct) for r in index.records]
        return brute

    _levels_per_record: list[dict[int, str]]
    _cores: list[str]

    def exact(self, query: Name) -> list[Scored[Any]]:
        found: dict[int, Scored[Any]] = {}
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

    def search(self, query: Name, min_score: float) -> list[Scored[Any]]:
        results = {id(s.record): s for s in self.exact(query)}
        q_core = " ".join(query.distinct)
        if q_core:
            for _, _, rid in process.extract(q_core, self._cores, scorer=fuzz.token_set_ratio,
                                             score_cutoff=50, limit=None):
                record = self.records[rid]
                if id(record) in results:
                    continue
                score, features = explain_score(query, record.norm)
                if score >= min_score:
                    results[id(record)] = Scored(record, score, False, features)
        return sorted(results.values(), key=lambda s: -s.score)
