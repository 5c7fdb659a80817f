"""What a route returns (`Hit`: a match with its own verdict) and how all hits on one line item
or device combine into its `Finding`: the strongest verdict decides."""

from __future__ import annotations

from dataclasses import dataclass

from entityscan.model import Finding, ListEntry, Match, Verdict

# Every finding sets every field: one shared "fields set" instead of one per finding.
_FINDING_FIELDS = set(Finding.model_fields)


@dataclass
class Hit:
    """One route's match, the verdict that route gives it, the maker it points to, and why."""

    match: Match
    verdict: Verdict
    maker: str | None
    reason: str


def list_label(entry: ListEntry) -> str:
    """`EL, 84 FR 54002, listed 2019-10-09` (and `removed ...` when delisted), for reasons."""
    parts = [entry.list]
    if entry.citation:
        parts.append(entry.citation)
    if entry.listed:
        parts.append(f"listed {entry.listed.isoformat()}")
    if entry.removed:
        parts.append(f"removed {entry.removed.isoformat()}")
    return ", ".join(parts)


def finding_from_hits(subject: str, kind: str, hits: list[Hit]) -> Finding:
    """The finding for one subject: the strongest verdict wins, with the best score among
    hits of that verdict; reasons and matches strongest first, each once."""
    # model_construct: every value is built here from validated parts; most items are
    # clear, and validating 100k identical answers costs more than screening them.
    if not hits:
        return Finding.model_construct(
            _FINDING_FIELDS, subject=subject, subject_kind=kind, verdict=Verdict.CLEAR,
            maker=None, score=0.0, matches=[],
            reasons=["no list name, alias, brand relation or part-number pattern matched"])
    best = max(hits, key=lambda h: (h.verdict.rank, h.match.score))
    top = [h for h in hits if h.verdict is best.verdict]
    score = max(h.match.score for h in top)
    reasons: list[str] = []
    for hit in sorted(hits, key=lambda h: (-h.verdict.rank, -h.match.score)):
        if hit.reason and hit.reason not in reasons:
            reasons.append(hit.reason)
    matches: list[Match] = []
    seen: set[tuple[str, str, str | None]] = set()
    for hit in sorted(hits, key=lambda h: (-h.verdict.rank, -h.match.score)):
        key = (hit.match.entry_id, hit.match.via, hit.match.field)
        if key not in seen:
            seen.add(key)
            matches.append(hit.match)
    return Finding.model_construct(_FINDING_FIELDS, subject=subject, subject_kind=kind,
                                   verdict=best.verdict, maker=best.maker, score=score,
                                   matches=matches, reasons=reasons)
