"""Candidate retrieval without brute force, and the explained name score.

Every name (list names, aliases, brand names) is normalised once.  Four lookups find
candidates for a query name:
- exact squashed keys (`hikvision`, `海康威视`) -> the name records with that key;
- distinctive tokens -> records containing that token;
- a one-deletion neighbourhood of distinctive tokens (SymSpell style) -> records whose token is
  within about two edits of the query token, for typos such as `Hikvison`;
- place tokens -> records with no distinctive token at all (`Urumqi Municipal Public Security
  Bureau`), whose place is what tells them apart.
Only then is a candidate scored, with rapidfuzz on tokens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from rapidfuzz.distance import OSA
from rapidfuzz.fuzz import ratio

from entityscan.matcher.normalise import WEIGHT_DISTINCT, WEIGHT_LOCATION, Name, normalise
from entityscan.matcher.variants import GIVEN_NAME_FIRST

T = TypeVar("T")

# A token must be this long before a typo in it is forgiven.
MIN_FUZZY_TOKEN = 5
# Tokens carried by more records than this are too common to retrieve candidates by.
MAX_POSTING = 400
# Exact-key scores: all tokens; without places; distinctive tokens only.
EXACT_SCORES = (100.0, 98.0, 95.0)
FUZZY_CAP = 94.0
# Tokens whose candidate records are kept (cleared when full, so hostile input stays bounded).
NEAR_CACHE = 100_000
_NOT_FOUND = len(EXACT_SCORES)


@dataclass(frozen=True, slots=True)
class NameRecord(Generic[T]):
    """One name of one payload (a list entry or a relation)."""

    payload: T
    name: str
    norm: Name
    is_alias: bool
    # How the name was derived from a listed one (`pinyin of 杭州海康威视…`), "" when as listed.
    variant: str = ""
    # What tells payloads apart when a search keeps one record per payload (an entry's id).
    owner: Hashable = None


@dataclass(slots=True, eq=False)
class Scored(Generic[T]):
    record: NameRecord[T]
    score: float
    exact: bool
    features: dict[str, float]


def _deletes(token: str) -> set[str]:
    return {token[:i] + token[i + 1:] for i in range(len(token))}


def _token_similarity(a: str, b: str) -> float:
    """1 for equal tokens; 0.9 for one edit (0.8 for two in long tokens); else 0.

    Edits are counted with OSA, so a transposition (`dahau`/`dahua`) is one edit.  Short
    tokens must match exactly: `zte` vs `ztf` is another company, not a typo.
    """
    if a == b:
        return 1.0
    shortest = min(len(a), len(b))
    if shortest < MIN_FUZZY_TOKEN:
        return 0.0
    dist = OSA.distance(a, b, score_cutoff=2)
    if dist <= 1:
        return 0.9
    if dist == 2 and shortest >= 8:
        return 0.8
    return 0.0


def _by_score(ranked: tuple[float, int, dict[str, float] | None]) -> float:
    return -ranked[0]


def _spaced_key(name: Name) -> str:
    return " ".join(t.text for t in name.tokens)


def _weights(query: Name, target: Name) -> tuple[list[float], list[float]]:
    """Token weights for scoring.  A list name with no distinctive word (an agency: places,
    administrative and generic words) is told apart by its places, so there its place tokens,
    and the query tokens that meet them, weigh as much as a distinctive word would."""
    q_weights = [t.weight for t in query.tokens]
    t_weights = [t.weight for t in target.tokens]
    if any(t.distinct for t in target.tokens):
        return q_weights, t_weights
    places = {t.text for t in target.tokens if t.weight == WEIGHT_LOCATION}
    t_weights = [WEIGHT_DISTINCT if t.text in places else t.weight for t in target.tokens]
    q_weights = [WEIGHT_DISTINCT if t.text in places else w
                 for t, w in zip(query.tokens, q_weights, strict=True)]
    return q_weights, t_weights


def explain_score(query: Name, target: Name) -> tuple[float, dict[str, float]]:
    """Fuzzy score 0-100 of `query` against `target`, with the features that made it.

    - target_coverage: how much of the list name (by token weight) the query contains;
    - query_coverage: how much of the query the list name explains, so extra distinctive
      words (`Shanghai Dahua *Scale Factory*`) pull the score down while extra generic or
      place words barely do;
    - squashed_similarity: edit similarity of the distinctive tokens joined, for spacing and
      small typos (`Hik-vison`).
    """
    q_tokens, t_tokens = query.tokens, target.tokens
    if not q_tokens or not t_tokens:
        return 0.0, {}
    q_weights, t_weights = _weights(query, target)
    t_total = sum(t_weights) or 1.0
    q_total = sum(q_weights) or 1.0
    t_sims = [max(_token_similarity(q.text, t.text) for q in q_tokens) for t in t_tokens]
    q_sims = [max(_token_similarity(q.text, t.text) for t in t_tokens) for q in q_tokens]
    target_cov = sum(w * s for w, s in zip(t_weights, t_sims, strict=True)) / t_total
    query_cov = sum(w * s for w, s in zip(q_weights, q_sims, strict=True)) / q_total
    # Every distinctive token of the list name must be present for a strong score.
    missing = sum(1 for w, s in zip(t_weights, t_sims, strict=True)
                  if w >= WEIGHT_DISTINCT and s == 0.0)
    # Multiplicative: an unexplained distinctive word in the query (`Dahua *Scale*`) costs
    # as much as a missing one in the list name.
    token_score = 100.0 * target_cov * query_cov ** 0.5
    q_core, t_core = "".join(query.distinct), "".join(target.distinct)
    squashed = ratio(q_core, t_core) if q_core and t_core else 0.0
    if min(len(q_core), len(t_core)) < MIN_FUZZY_TOKEN:
        squashed = 0.0
    score = max(token_score, squashed * min(1.0, 0.4 + 0.6 * query_cov))
    if missing:
        score = min(score, 70.0)
    features = {"target_coverage": round(target_cov, 3), "query_coverage": round(query_cov, 3),
                "squashed_similarity": round(squashed / 100.0, 3),
                "missing_distinct_tokens": float(missing)}
    return round(min(score, FUZZY_CAP), 1), features


class NameIndex(Generic[T]):
    """An immutable index over names; `search` returns scored candidates, best first."""

    def __init__(self, names: Iterable[tuple[T, str, bool] | tuple[T, str, bool, str]],
                 owner: Callable[[T], Hashable] = id) -> None:
        self.records: list[NameRecord[T]] = []
        by_level: list[dict[str, list[int]]] = [defaultdict(list) for _ in EXACT_SCORES]
        self._by_token: dict[str, list[int]] = defaultdict(list)
        self._by_place: dict[str, list[int]] = defaultdict(list)
        # Names only an exact word-by-word match may hit: a person's name turned round
        # (`Wei LI`) squashed would be `weili`, a word of its own (`Weili Electronics`).
        self._spaced: dict[str, list[int]] = defaultdict(list)
        self._deletes: dict[str, set[str]] = defaultdict(set)
        seen: set[tuple[int, str]] = set()
        for payload, name, is_alias, *how in names:
            norm = normalise(name)
            if not norm.tokens or (id(payload), name) in seen:
                continue
            seen.add((id(payload), name))
            rid = len(self.records)
            variant = how[0] if how else ""
            self.records.append(NameRecord(payload, name, norm, is_alias, variant,
                                           owner(payload)))
            if variant.startswith(GIVEN_NAME_FIRST):
                self._spaced[_spaced_key(norm)].append(rid)
            else:
                for level, key in norm.levels:
                    by_level[level][key].append(rid)
            distinct = set(norm.distinct)
            for token in distinct:
                self._by_token[token].append(rid)
            if not distinct:
                for token in {t.text for t in norm.tokens if t.weight == WEIGHT_LOCATION}:
                    self._by_place[token].append(rid)
        for token in self._by_token:
            if len(token) >= MIN_FUZZY_TOKEN:
                for variant in _deletes(token):
                    self._deletes[variant].add(token)
        # One lookup per query key: key -> (record, level) for every level, level by level.
        self._keys: dict[str, tuple[tuple[int, int], ...]] = {}
        for level, keys in enumerate(by_level):
            for key, rids in keys.items():
                self._keys[key] = self._keys.get(key, ()) + tuple((rid, level) for rid in rids)
        self._by_token = dict(self._by_token)
        self._by_place = dict(self._by_place)
        self._spaced = dict(self._spaced)
        self._deletes = dict(self._deletes)
        self._near: dict[str, frozenset[int]] = {}

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_near"] = {}  # a cache, rebuilt on use
        return state

    def _exact_levels(self, query: Name) -> dict[int, int]:
        """Record -> the best (lowest) key level at which it equals the query, in the order
        first found."""
        best: dict[int, int] = {}
        if self._spaced and len(query.tokens) > 1:
            for rid in self._spaced.get(_spaced_key(query), ()):
                best[rid] = 0
        for q_level, key in query.levels:
            for rid, level in self._keys.get(key, ()):
                found_at = q_level if q_level > level else level
                if best.get(rid, _NOT_FOUND) > found_at:
                    best[rid] = found_at
        return best

    def exact(self, query: Name) -> list[Scored[T]]:
        """Records whose squashed key equals the query's at the same or a looser level."""
        found = [Scored(self.records[rid], EXACT_SCORES[at], True, {"exact_key_level": float(at)})
                 for rid, at in self._exact_levels(query).items()]
        return sorted(found, key=lambda s: -s.score)

    def _near_ids(self, token: str) -> frozenset[int]:
        """Records holding `token` or a token about two edits from it (postings too common to
        retrieve by left out).  Cached per token: a vendor master repeats its words."""
        cached = self._near.get(token)
        if cached is not None:
            return cached
        ids: set[int] = set()
        hits = self._by_token.get(token)
        if hits is not None and len(hits) <= MAX_POSTING:
            ids.update(hits)
        if len(token) >= MIN_FUZZY_TOKEN - 1:
            near: set[str] = set(self._deletes.get(token, ()))
            for variant in _deletes(token):
                if variant in self._by_token:
                    near.add(variant)
                near.update(self._deletes.get(variant, ()))
            near.discard(token)
            for other in near:
                posting = self._by_token.get(other, ())
                if len(posting) <= MAX_POSTING:
                    ids.update(posting)
        if len(self._near) >= NEAR_CACHE:
            self._near.clear()
        result = self._near[token] = frozenset(ids)
        return result

    def _candidate_ids(self, query: Name) -> set[int]:
        ids: set[int] = set()
        for token in query.tokens:
            if token.weight == WEIGHT_LOCATION:
                hits = self._by_place.get(token.text)
                if hits is not None and len(hits) <= MAX_POSTING:
                    ids.update(hits)
            elif token.weight >= WEIGHT_DISTINCT:
                ids.update(self._near_ids(token.text))
        return ids

    def search(self, query: Name, min_score: float, *,
               limit: int | None = None) -> list[Scored[T]]:
        """Exact hits, then fuzzy candidates scoring at least `min_score`, best first.

        With `limit`, only the best record of each payload (told apart by `owner`) and at most
        `limit` payloads: the rest are never turned into results (a common name can equal
        hundreds of list names, and a route reports a dozen).
        """
        exact = self._exact_levels(query)
        ranked: list[tuple[float, int, dict[str, float] | None]] = [
            (EXACT_SCORES[at], rid, None) for rid, at in exact.items()]
        if len(ranked) > 1:
            ranked.sort(key=_by_score)
        fuzzy = False
        for rid in self._candidate_ids(query):
            if rid in exact:
                continue
            fuzzy_score, features = explain_score(query, self.records[rid].norm)
            if fuzzy_score >= min_score:
                ranked.append((fuzzy_score, rid, features))
                fuzzy = True
        if fuzzy:
            ranked.sort(key=_by_score)
        out: list[Scored[T]] = []
        seen: set[Hashable] = set()
        for score, rid, found in ranked:
            record = self.records[rid]
            if limit is not None:
                owner = record.owner
                if owner in seen:
                    continue
                if len(seen) == limit:
                    break
                seen.add(owner)
            if found is None:
                out.append(Scored(record, score, True, {"exact_key_level": float(exact[rid])}))
            else:
                out.append(Scored(record, score, False, found))
        return out
