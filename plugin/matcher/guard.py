"""Matches that exist only because text was read another way: through lookalike letters of
another script, or in the order bidi controls show it.  Each keeps its route's hits but says
how they were reached, and a match through lookalikes earns `review` at most."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from entityscan.matcher.findings import Hit
from entityscan.matcher.unicode_guard import clean, describe_lookalikes, read_text, visual_order
from entityscan.model import Verdict

# A route: (field name, value, read lookalikes?) -> its hits.
Route = Callable[[str, str, bool], tuple[Hit, ...]]


def lookalike_letters(value: str) -> str:
    """The letters of `value` that only a Latin reading turns into ASCII (`а` in `Dаhuа`)."""
    return "" if value.isascii() else read_text(clean(value))[1]


def _noted(hit: Hit, prefix: str, suffix: str, verdict: Verdict | None = None) -> Hit:
    reason = f"{prefix}{hit.reason}{suffix}" if hit.reason else ""
    return Hit(hit.match, verdict or hit.verdict, hit.maker, reason)


def _through_lookalikes(read: Iterable[Hit], literal: Iterable[Hit], letters: str) -> list[Hit]:
    """`read` hits the literal text does not reach as strongly: at most review, with why."""
    strength: dict[str, int] = {}
    for hit in literal:
        strength[hit.match.entry_id] = max(strength.get(hit.match.entry_id, -1),
                                           hit.verdict.rank)
    why = describe_lookalikes(letters)
    out: list[Hit] = []
    for hit in read:
        if strength.get(hit.match.entry_id, -1) >= hit.verdict.rank:
            out.append(hit)
            continue
        features = {**hit.match.features, "lookalike_letters": float(len(letters))}
        hit = Hit(hit.match.model_copy(update={"features": features}), hit.verdict, hit.maker,
                  hit.reason)
        verdict = Verdict.REVIEW if hit.verdict is Verdict.FLAGGED else hit.verdict
        out.append(_noted(hit, f"{why}: ", "; a match only through lookalike letters of "
                                           "another script is a lead for review", verdict))
    return out


def screen_guarded(route: Route, field_name: str, value: str) -> tuple[Hit, ...]:
    """Run a route on the value as written and, when bidi controls reorder it, as shown; hits
    that need a Latin reading of lookalike letters are capped at review and say so."""
    if value.isascii():
        return route(field_name, value, True)
    forms = [(value, "")]
    shown = visual_order(value)
    if shown is not None:
        forms.append((shown, f"bidi controls make {field_name} {value!r} read {shown!r}: "))
    hits: list[Hit] = []
    for form, note in forms:
        found = route(field_name, form, True)
        letters = lookalike_letters(form) if found else ""
        if letters:
            found = tuple(_through_lookalikes(found, route(field_name, form, False), letters))
        hits.extend(_noted(h, note, "") for h in found)
    return tuple(hits)
