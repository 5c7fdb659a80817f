"""The matcher: line items and devices in, explained findings out.  Pure and in memory.

Routes from an input to a list entry, each giving a `Match` with its own verdict:
- `name` / `alias`: a supplier, manufacturer or brand value against list names and aliases;
- `brand-relation`: a brand, subsidiary or relabel (relations data) -> its maker's entries;
- `part-number`: a model or part-number pattern (patterns data) -> its maker's entries;
- `description`: a maker or brand named in free text (a lead only);
- `device-attribution`: the maker the scanner established from protocol evidence.
The finding's verdict is the strongest match verdict (`findings.finding_from_hits`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from entityscan.lists import ListSet
from entityscan.matcher.caches import CachedRoutes, settle
from entityscan.matcher.findings import Hit, finding_from_hits, list_label, new_match
from entityscan.matcher.index import NameIndex, Scored
from entityscan.matcher.mentions import (
    acronym_makers,
    acronym_pattern,
    maker_core_names,
    mention_keys,
)
from entityscan.matcher.normalise import Name, normalise, normalise_literal, words
from entityscan.matcher.patterns import PartPattern, PatternHit, PatternSet
from entityscan.matcher.unicode_guard import (
    clean,
    read_text,
    strip_invisible,
    visual_order,
    without_bidi_controls,
)
from entityscan.matcher.variants import PINYIN, listed_names
from entityscan.model import Finding, LineItem, ListEntry, Match, Relation, Verdict
from entityscan.scanners.inventory import Certainty, Device

NAME_FIELDS = ("manufacturer", "brand", "supplier")
# Words that make a part number in a description an accessory for, not the product itself.
ACCESSORY_CUES = frozenset("""compatible compatibility replacement bracket mount mounting adapter
adaptor housing junction accessory accessories spare""".split())
_ASCII_WORD = re.compile(r"[a-z0-9]+")
RELATION_SCORE = {Certainty.SOLID: 1.0, Certainty.MEDIUM: 0.9, Certainty.UNCERTAIN: 0.6}
MAX_MATCHES_PER_ROUTE = 12
# Bounds on what one field costs to screen, in characters a reader sees (see `_bounded`).
MAX_NAME = 500
MAX_TEXT = 10_000
NAME_HIT_MEMO = 50_000
# What separates a part number from the rest of a cell (`DS-2CD2143G2-I (4mm)`).
_CELL_SEPARATORS = frozenset(" (,;")


def _bounded(value: str | None, limit: int) -> list[str]:
    """A field's value as the forms to screen, each at most `limit` characters a reader sees.

    Invisible characters never count toward the bound.  A value still over it is read the way a
    reader sees it, as written and as bidi controls show it, with runs of white space folded, so
    neither padding nor controls in front can push a name past the bound."""
    if not value:
        return []
    value = strip_invisible(value)
    if len(value) <= limit:
        value = value.strip()
        return [value] if value else []
    forms: list[str] = []
    for form in (without_bidi_controls(value), visual_order(value)):
        if form is not None and (form := " ".join(form.split())[:limit]) and form not in forms:
            forms.append(form)
    return forms


@dataclass(frozen=True)
class MatchPolicy:
    """Thresholds, passed in (never global) so a caller can tune and a test can pin them."""

    review_min: float = 82.0  # fuzzy name score that earns `review`
    relation_review_min: float = 88.0  # brands are short: a fuzzy brand needs more
    flag_attribution: float = 0.75  # device attribution confidence that earns `flagged`
    review_attribution: float = 0.3
    today: date | None = None  # for delisting and relation end dates; None = today


def _entry_id(entry: ListEntry) -> str:
    return entry.id


class Matcher(CachedRoutes):
    """An immutable index over lists, relations and patterns.  Build once, screen many."""

    def __init__(self, lists: ListSet, relations: Sequence[Relation] = (),
                 patterns: Sequence[PartPattern] = (), policy: MatchPolicy | None = None) -> None:
        self.lists = lists
        self.relations = tuple(relations)
        self.policy = policy or MatchPolicy()
        self.today = self.policy.today or date.today()
        self._entries: NameIndex[ListEntry] = NameIndex(listed_names(lists.entries),
                                                        owner=_entry_id)
        self._relations: NameIndex[Relation] = NameIndex(
            (rel, name, i > 0) for rel in self.relations if rel.match == "exact"
            for i, name in enumerate((rel.brand, *rel.aliases)))
        # Coined group names: first token of the name -> [(all its tokens, relation)].
        self._group_names: dict[str, list[tuple[tuple[str, ...], Relation]]] = {}
        for rel in self.relations:
            if rel.match == "group":
                for name in (rel.brand, *rel.aliases):
                    stem = normalise(name).distinct
                    if stem:
                        self._group_names.setdefault(stem[0], []).append((stem, rel))
        self._patterns = PatternSet(patterns)
        self._maker_entries: dict[str, tuple[ListEntry, ...]] = {}
        makers = {e.maker for e in lists.entries if e.maker}
        makers |= {r.maker for r in self.relations} | {p.maker for p in patterns}
        for maker in makers:
            self._maker_entries[maker.casefold()] = self._resolve_maker(maker)
        self._maker_cores = maker_core_names(lists.entries, self.relations)
        self._maker_core_list = list(self._maker_cores)
        self._acronym_makers = acronym_makers(lists.entries)
        # Lower-cased, for a cheap test of whether a description can hold one at all.
        self._acronym_words = frozenset(name.lower() for name in self._acronym_makers)
        self._acronyms = acronym_pattern(self._acronym_makers)
        self._mentions = mention_keys(lists.entries, self.relations)
        self._mention_starts = {first for first, _ in self._mentions.values()}

        self._make_caches()
        settle()

    # ----- building -----
    def _resolve_maker(self, maker: str) -> tuple[ListEntry, ...]:
        """Entries that are this maker: tagged with it, or named it exactly."""
        found = {id(e): e for e in self.lists.entries if e.maker and e.maker.casefold()
                 == maker.casefold()}
        for scored in self._entries.exact(normalise(maker)):
            if scored.score >= 98.0:
                found.setdefault(id(scored.record.payload), scored.record.payload)
        return tuple(found.values())

    def maker_entries(self, maker: str) -> tuple[ListEntry, ...]:
        key = maker.casefold()
        if key not in self._maker_entries:
            self._maker_entries[key] = self._resolve_maker(maker)
        return self._maker_entries[key]

    # ----- verdict helpers -----
    def _current(self, entry: ListEntry) -> bool:
        return entry.removed is None or entry.removed > self.today

    def _entry_match(self, entry: ListEntry, *, via: str, field_name: str | None,
                     value: str | None, matched: str | None, score: float,
                     features: dict[str, float]) -> Match:
        return new_match(entity=entry.name, entry_id=entry.id, list=entry.list,
                         list_name=entry.list_name, citation=entry.citation, listed=entry.listed,
                         removed=entry.removed, via=via, field=field_name, value=value,
                         matched_name=matched, score=score, features=features)

    def _maker_hits(self, maker: str, *, strong: bool, via: str, field_name: str | None,
                    value: str | None, matched: str | None, score: float,
                    features: dict[str, float], why: str) -> list[Hit]:
        """One hit per list entry of `maker`; `strong` routes flag current entries."""
        entries = self.maker_entries(maker)
        if not entries:
            return []
        current = [e for e in entries if self._current(e)]
        lists = "; ".join(sorted({list_label(e) for e in entries}))
        hits: list[Hit] = []
        for entry in entries[:MAX_MATCHES_PER_ROUTE]:
            verdict = Verdict.FLAGGED if strong and self._current(entry) else Verdict.REVIEW
            hits.append(Hit(self._entry_match(entry, via=via, field_name=field_name,
                                               value=value, matched=matched, score=score,
                                               features=features),
                             verdict, maker, ""))
        if not current:
            why += f"; {maker} is delisted everywhere we know of, so review at most"
        hits[0].reason = f"{why} -> {maker}: {lists}"
        return hits

    # ----- routes -----
    def _screen_name_uncached(self, field_name: str, value: str, read: bool) -> tuple[Hit, ...]:
        query = normalise(value) if read else normalise_literal(value)
        if not query.tokens:
            return ()
        hits: list[Hit] = []
        hits.extend(self._name_route(field_name, value, query))
        hits.extend(self._relation_route(field_name, value, query))
        hits.extend(self._group_name_route(field_name, value, query))
        if not hits:
            hits.extend(self._maker_typo_route(field_name, value, query))
        return tuple(hits)

    def _group_name_route(self, field_name: str, value: str, query: Name) -> list[Hit]:
        """A company name containing a coined group name as whole words (`ZTE Kangxun
        Telecom`, `Anhui USTC iFLYTEK`): a group company, or a shop selling only its goods."""
        distinct = query.distinct
        if len(distinct) < 2:
            return []  # the bare name itself is the name route's business
        hits: list[Hit] = []
        seen: set[str] = set()
        for start, token in enumerate(distinct):
            for stem, rel in self._group_names.get(token, ()):
                if (distinct[start:start + len(stem)] != stem or len(distinct) == len(stem)
                        or rel.maker in seen):
                    continue
                seen.add(rel.maker)
                strong = rel.certainty is not Certainty.UNCERTAIN
                where = "begins with" if start == 0 else "contains"
                why = (f"{field_name} {value!r} {where} {rel.brand!r}, a coined group name: a "
                       f"{rel.maker} group company ({rel.certainty.value}: {rel.source})")
                if not strong:
                    why += "; review"
                hits.extend(self._maker_hits(
                    rel.maker, strong=strong, via="group-name", field_name=field_name,
                    value=value, matched=rel.brand,
                    score=95.0 * RELATION_SCORE[rel.certainty],
                    features={"group_name_position": float(start),
                              "relation_certainty": rel.certainty.weight}, why=why))
        return hits

    def _maker_typo_route(self, field_name: str, value: str, query: Name) -> list[Hit]:
        """One edit (two in names of 7+ letters) away from a maker or brand name -> review."""
        core = "".join(query.distinct)
        if len(core) < 6 or not self._maker_cores:
            return []
        allowed = 2 if len(core) >= 7 else 1
        best = process.extractOne(core, self._maker_core_list, scorer=OSA.distance,
                                  score_cutoff=allowed)
        if best is None:
            return []
        maker, name = self._maker_cores[best[0]]
        distance = int(best[1])
        why = (f"{field_name} {value!r} is {distance} edit{'s' if distance > 1 else ''} from "
               f"{name!r}, a name of {maker}; a fuzzy-only match is a lead for review")
        return self._maker_hits(maker, strong=False, via="name", field_name=field_name,
                                value=value, matched=name, score=100.0 - 6 * distance,
                                features={"edit_distance": float(distance)}, why=why)

    def _name_route(self, field_name: str, value: str, query: Name) -> list[Hit]:
        hits: list[Hit] = []
        ranked = self._entries.search(query, self.policy.review_min,
                                      limit=MAX_MATCHES_PER_ROUTE)
        shown = f"{field_name} {value!r}"
        for scored in ranked:
            # What a hit says apart from the field and value is the same on every line that
            # reaches this record the same way: worked out once (a dense vendor master meets
            # the same dozen list names again and again).
            memo = (id(scored.record), scored.score) if scored.exact else None
            parts = self._name_hits.get(memo) if memo else None
            if parts is None:
                parts = self._name_hit_parts(scored)
                if memo:
                    if len(self._name_hits) >= NAME_HIT_MEMO:
                        self._name_hits.clear()
                    self._name_hits[memo] = parts
            fields, features, tail, verdict, maker = parts
            # Each match its own features: a caller may annotate one without touching others.
            match = new_match(**fields, field=field_name, value=value, features=dict(features))
            hits.append(Hit(match, verdict, maker, shown + tail))
        return hits

    def _name_hit_parts(self, scored: Scored[ListEntry]
                        ) -> tuple[dict[str, Any], dict[str, float], str, Verdict, str]:
        """A name-route hit without its field and value: match fields, features, the reason
        after `{field} {value!r}`, the verdict and the maker."""
        entry = scored.record.payload
        current = self._current(entry)
        variant = scored.record.variant
        # Pinyin has many homophones: the bare core of a Chinese name (`Zhongxing`) is a lead;
        # the whole name with its place or generic words is the name.
        bare_pinyin = (variant.startswith(PINYIN)
                       and scored.features.get("exact_key_level", 0.0) >= 2)
        exact = scored.exact and not bare_pinyin
        verdict = Verdict.FLAGGED if exact and current else Verdict.REVIEW
        kind = "alias" if scored.record.is_alias else "name"
        how = "equals" if scored.exact else f"resembles (score {scored.score:.0f})"
        derived = f" ({variant})" if variant else ""
        tail = (f" {how} the {kind} {scored.record.name!r}{derived} of {entry.name} "
                f"({list_label(entry)})")
        if bare_pinyin:
            tail += "; only the pinyin of the name's core, which other names share: review"
        elif not scored.exact:
            tail += "; a fuzzy-only match is a lead for review"
        if not current:
            tail += "; delisted, so review at most"
        fields = {"entity": entry.name, "entry_id": entry.id, "list": entry.list,
                  "list_name": entry.list_name, "citation": entry.citation,
                  "listed": entry.listed, "removed": entry.removed, "via": kind,
                  "matched_name": scored.record.name, "score": scored.score}
        features = {"name_similarity": scored.score, **scored.features}
        return fields, features, tail, verdict, entry.maker or entry.name

    def _relation_route(self, field_name: str, value: str, query: Name) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[str] = set()
        for scored in self._relations.search(query, self.policy.relation_review_min):
            rel = scored.record.payload
            if rel.brand in seen:
                continue
            seen.add(rel.brand)
            ended = rel.until is not None and rel.until <= self.today
            strong = (scored.exact and rel.certainty is not Certainty.UNCERTAIN
                      and rel.scope == "all" and not ended)
            score = round(scored.score * RELATION_SCORE[rel.certainty], 1)
            how = "names" if scored.exact else f"resembles (score {scored.score:.0f})"
            why = (f"{field_name} {value!r} {how} {rel.brand} ({rel.kind} of {rel.maker}; "
                   f"{rel.certainty.value}"
                   f"{', some product lines only' if rel.scope != 'all' else ''}"
                   f"{f', ended {rel.until.isoformat()}' if ended and rel.until else ''}: "
                   f"{rel.source})")
            if not strong:
                why += "; review"
            features = {"name_similarity": scored.score,
                        "relation_certainty": rel.certainty.weight,
                        "relation_all_lines": 1.0 if rel.scope == "all" else 0.0,
                        "relation_current": 0.0 if ended else 1.0}
            hits.extend(self._maker_hits(rel.maker, strong=strong, via="brand-relation",
                                         field_name=field_name, value=value,
                                         matched=scored.record.name, score=score,
                                         features=features, why=why))
        return hits

    def _pattern_hits(self, hit: PatternHit, field_name: str, value: str,
                      strong: bool, extra: str = "") -> list[Hit]:
        rule = hit.rule
        strong = strong and rule.certainty is Certainty.SOLID
        why = (f"{field_name} {hit.text!r} has the {rule.description} format (rule {rule.id}, "
               f"{rule.certainty.value}: {rule.source}){extra}")
        if not strong:
            why += "; review"
        score = 100.0 * RELATION_SCORE[rule.certainty]
        features = {"pattern_certainty": rule.certainty.weight}
        return self._maker_hits(rule.maker, strong=strong, via="part-number",
                                field_name=field_name, value=hit.text, matched=rule.id,
                                score=score, features=features, why=why)

    def _screen_part_uncached(self, field_name: str, value: str, read: bool) -> tuple[Hit, ...]:
        if not value.isascii():
            value = clean(value)
            if read:
                value = read_text(value)[0]
        hit = self._patterns.part_number(value)
        if hit is not None:
            return tuple(self._pattern_hits(hit, field_name, value, strong=True))
        # A part-number cell sometimes holds `DS-2CD2143G2-I (4mm)`: search inside it.
        if _CELL_SEPARATORS.isdisjoint(value):
            return ()
        return tuple(h for found in self._patterns.search(value)
                     for h in self._pattern_hits(found, field_name, value, strong=True))

    def _screen_text_uncached(self, field_name: str, value: str, read: bool) -> tuple[Hit, ...]:
        hits: list[Hit] = []
        if not value.isascii():
            value = clean(value)
            if read:
                value = read_text(value)[0]
        found_patterns = self._patterns.search(value)
        # Most descriptions name no maker: a cheap ASCII token set decides whether the full
        # normalising tokeniser runs at all (non-ASCII text always takes the full path).
        ascii_words = set(_ASCII_WORD.findall(value.lower())) if value.isascii() else None
        has_mention = ascii_words is None or not self._mention_starts.isdisjoint(ascii_words)
        tokens = words(value, read=False) if found_patterns or has_mention else []
        accessory = bool(ACCESSORY_CUES.intersection(tokens))
        for found in found_patterns:
            extra = "; the text reads like an accessory for it" if accessory else ""
            hits.extend(self._pattern_hits(found, field_name, value, strong=not accessory,
                                           extra=extra))
        mentioned: set[str] = set()
        if self._acronyms is not None and (ascii_words is None
                                           or not self._acronym_words.isdisjoint(ascii_words)):
            for found_acronym in self._acronyms.finditer(value):
                acronym = found_acronym.group(1)
                maker = self._acronym_makers[acronym]
                if maker in mentioned:
                    continue
                mentioned.add(maker)
                why = (f"{field_name} mentions {acronym!r} ({maker}); a mention in free text "
                       f"is a lead for review")
                hits.extend(self._maker_hits(maker, strong=False, via="description",
                                             field_name=field_name, value=acronym,
                                             matched=acronym, score=85.0,
                                             features={"mention": 1.0}, why=why))
        starts = [i for i, token in enumerate(tokens) if token in self._mention_starts]
        for start in starts:
            for size in (1, 2, 3, 4):
                mention = self._mentions.get("".join(tokens[start:start + size]))
                if mention is None or mention[1][0] in mentioned:
                    continue
                maker, name = mention[1]
                mentioned.add(maker)
                why = (f"{field_name} mentions {name!r} ({maker}); a mention in free text is a "
                       f"lead for review")
                hits.extend(self._maker_hits(maker, strong=False, via="description",
                                             field_name=field_name, value=name, matched=name,
                                             score=85.0, features={"mention": 1.0}, why=why))
        return tuple(hits)

    # ----- public -----
    def screen_item(self, item: LineItem) -> Finding:
        """Screen one procurement line item."""
        hits: list[Hit] = []
        for field_name in NAME_FIELDS:
            for value in _bounded(getattr(item, field_name), MAX_TEXT):
                hits.extend(self._screen_name(field_name, value[:MAX_NAME]))
                if len(value) > MAX_NAME:
                    # Longer than any real name: the rest is still read for mentions, so
                    # padding in front cannot hide a maker behind it.
                    hits.extend(self._screen_text(field_name, value))
        for value in _bounded(item.part_number, MAX_NAME):
            hits.extend(self._screen_part("part_number", value))
        for value in _bounded(item.description, MAX_TEXT):
            hits.extend(self._screen_text("description", value))
        return finding_from_hits(item.id, "line_item", hits)

    def screen_device(self, device: Device) -> Finding:
        """Screen one scanned device: its attributed maker, its label, its model."""
        hits: list[Hit] = []
        conf = device.confidence
        if device.maker:
            strong = conf >= self.policy.flag_attribution
            if conf >= self.policy.review_attribution:
                evidence = "; ".join(device.reasons[:4]) or "scanner attribution"
                why = (f"the scanner attributes the device to {device.maker} with confidence "
                       f"{conf:.2f} ({evidence})")
                if not strong:
                    why += "; too weak to flag, review"
                hits.extend(self._maker_hits(device.maker, strong=strong,
                                             via="device-attribution", field_name="maker",
                                             value=device.maker, matched=device.maker,
                                             score=round(100 * conf, 1),
                                             features={"attribution_confidence": conf},
                                             why=why))
        if device.brand and device.brand.strip():
            hits.extend(self._label_hits(device, self._screen_name("brand",
                                                                   device.brand.strip()[:200])))
        if device.model and device.model.strip():
            hits.extend(self._screen_part("model", device.model.strip()[:200]))
        finding = finding_from_hits(device.key(), "device", hits)
        if not device.readable and finding.verdict is Verdict.CLEAR:
            finding.reasons.append("device could not be read: " + "; ".join(device.errors[:3]))
        return finding

    def _label_hits(self, device: Device, hits: Iterable[Hit]) -> list[Hit]:
        """A label a device shows (title, ONVIF Manufacturer, DHIP Vendor) is the weakest
        evidence: it flags only when the scanner's own attribution agrees on the maker."""
        agreed = (device.maker if device.confidence >= self.policy.flag_attribution
                  else None)
        out: list[Hit] = []
        for hit in hits:
            if hit.verdict is Verdict.FLAGGED and hit.maker != agreed:
                note = "; a device label alone is weak evidence, so review"
                hit = Hit(hit.match, Verdict.REVIEW, hit.maker,
                           hit.reason + note if hit.reason else "")
            out.append(hit)
        return out
