"""Accuracy of line-item screening on the labelled set: the matcher's acceptance test.

Every row of `fixtures/line_items/labelled.csv` is screened through the product's public
screening API (`entityscan.screening.screen_items` with `ScreeningContext.load()`, plus the
list file `labelled-lists.csv` as `--list` adds one), exactly as a procurement integration
would, and the verdicts are compared with labels written from the
product's documented policy without reading the matcher (see `fixtures/line_items/README.md`).

What must hold:
- every item labelled `flagged` is flagged (recall 100 %), and names the right maker when caught;
- no item labelled `clear` is flagged, and at least 99 % of all flagged items are labelled
  `flagged` (the rest may only be labelled `review`);
- every item labelled `flagged` or `review` comes back at least `review` (nothing a human
  should see is cleared);
- at least 90 % of items labelled `clear` come back `clear` (a matcher that sends everything to
  review would otherwise pass).

Every failure prints the same report: confusion matrix, precision/recall per verdict and per
category, the review-versus-clear confusion, maker mismatches, and changes against the
recorded verdict table.  `ENTITYSCAN_WRITE_REGRESSION=1` rewrites that table
(`fixtures/line_items/verdicts.csv`: id, expected, got, maker, score); without it the table, if
present, is compared with today's verdicts and a verdict that was right and is now wrong fails.

If `entityscan.screening` cannot be imported the tests fail: this is an acceptance test, and a
missing matcher is not a reason to skip it.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.labelled_items import (
    ITEM_FIELDS,
    LABELLED_CSV,
    LISTS_CSV,
    REGRESSION_CSV,
    LabelledRow,
    read_labelled,
)

VERDICTS = ("flagged", "review", "clear")
RANK = {"clear": 0, "review": 1, "flagged": 2}

FLAGGED_RECALL_MIN = 1.0
FLAGGED_PRECISION_MIN = 0.99
POSITIVE_RECALL_MIN = 1.0  # flagged or review labels that come back at least `review`
CLEAR_KEPT_MIN = 0.90  # clear labels that come back `clear`

WRITE_ENV = "ENTITYSCAN_WRITE_REGRESSION"
REGRESSION_COLUMNS = ("id", "expected", "got", "maker", "score")
LIST_LIMIT = 40  # items listed per section of the report


@dataclass(frozen=True)
class Outcome:
    """One labelled row and what the matcher answered for it."""

    row: LabelledRow
    got: str
    maker: str
    score: float

    @property
    def expected(self) -> str:
        return self.row.expected_verdict

    @property
    def maker_ok(self) -> bool:
        return _norm(self.maker) == _norm(self.row.expected_maker)

    @property
    def right(self) -> bool:
        """Right verdict, and for flagged labels the right maker too."""
        return self.got == self.expected and (self.expected != "flagged" or self.maker_ok)

    def describe(self) -> str:
        want = self.expected + (f"/{self.row.expected_maker}" if self.row.expected_maker else "")
        got = self.got + (f"/{self.maker}" if self.maker else "")
        fields = "; ".join(f"{k}={v.strip()!r}" for k, v in self.row.item.items() if v.strip())
        return (f"{self.row.id} [{self.row.category}] expected {want}, got {got} "
                f"(score {self.score:.1f}): {fields}")


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _verdict_text(verdict: Any) -> str:
    return str(getattr(verdict, "value", verdict)).lower()


# --------------------------------------------------------------------------------------------
# Screening (once per module)


@pytest.fixture(scope="module")
def rows() -> list[LabelledRow]:
    return read_labelled()


@pytest.fixture(scope="module")
def screened(rows: list[LabelledRow]) -> tuple[list[Any], list[Any]]:
    """The line items handed to the matcher and the findings it returned, in order."""
    from entityscan.model import LineItem

    try:
        from entityscan.screening import ScreeningContext, screen_items
    except ImportError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    else:
        problem = ""
    if problem:  # failed outside the except block so pytest shows one message, not a chain
        pytest.fail(f"entityscan.screening is not importable ({problem}). This is the matcher's "
                    "acceptance test: it fails until `from entityscan.screening import "
                    "ScreeningContext, screen_items` works.", pytrace=False)
    # Only the item fields and the unknown columns reach the matcher, never the labels.
    items = [
        LineItem(id=row.id, extra=dict(row.extra),
                 **{name: (row.item[name] if row.item[name].strip() else None)
                    for name in ITEM_FIELDS})
        for row in rows
    ]
    context = ScreeningContext.load(list_paths=[LISTS_CSV])
    findings = list(screen_items(items, context))
    if len(findings) != len(items):
        pytest.fail(f"screen_items returned {len(findings)} findings for {len(items)} items; "
                    "it must return exactly one per item, in order", pytrace=False)
    return items, findings


@pytest.fixture(scope="module")
def outcomes(rows: list[LabelledRow], screened: tuple[list[Any], list[Any]]) -> list[Outcome]:
    _, findings = screened
    result = [
        Outcome(row=row, got=_verdict_text(finding.verdict), maker=finding.maker or "",
                score=float(finding.score or 0.0))
        for row, finding in zip(rows, findings, strict=True)
    ]
    if os.environ.get(WRITE_ENV) == "1":
        _write_regression_table(result)
    return result


# --------------------------------------------------------------------------------------------
# Regression table


def _write_regression_table(outcomes: list[Outcome]) -> None:
    with REGRESSION_CSV.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REGRESSION_COLUMNS)
        for o in sorted(outcomes, key=lambda o: o.row.id):
            writer.writerow([o.row.id, o.expected, o.got, o.maker, f"{o.score:.1f}"])


def _read_regression_table() -> dict[str, dict[str, str]] | None:
    if os.environ.get(WRITE_ENV) == "1" or not REGRESSION_CSV.exists():
        return None
    with REGRESSION_CSV.open(encoding="utf-8", newline="") as handle:
        return {record["id"]: record for record in csv.DictReader(handle)}


@dataclass(frozen=True)
class Change:
    outcome: Outcome
    recorded_got: str
    recorded_maker: str

    @property
    def was_right(self) -> bool:
        o = self.outcome
        return self.recorded_got == o.expected and (
            o.expected != "flagged" or _norm(self.recorded_maker) == _norm(o.row.expected_maker))

    def describe(self) -> str:
        then = self.recorded_got + (f"/{self.recorded_maker}" if self.recorded_maker else "")
        return f"was {then}, now: {self.outcome.describe()}"


def _changes(outcomes: list[Outcome], table: dict[str, dict[str, str]]) -> list[Change]:
    changes = []
    for o in outcomes:
        recorded = table.get(o.row.id)
        if recorded is None:
            continue
        got, maker = recorded.get("got", ""), recorded.get("maker", "")
        if got != o.got or _norm(maker) != _norm(o.maker):
            changes.append(Change(o, got, maker))
    return changes


# --------------------------------------------------------------------------------------------
# The report shown with every failure


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "   n/a"


def _listing(title: str, lines: Iterable[str]) -> list[str]:
    lines = list(lines)
    if not lines:
        return []
    shown = [f"  {line}" for line in lines[:LIST_LIMIT]]
    if len(lines) > LIST_LIMIT:
        shown.append(f"  … and {len(lines) - LIST_LIMIT} more")
    return [f"{title} ({len(lines)}):", *shown]


def accuracy_report(outcomes: list[Outcome]) -> str:
    out: list[str] = [f"Screening accuracy on {LABELLED_CSV.name} ({len(outcomes)} items)", ""]

    confusion = Counter((o.expected, o.got) for o in outcomes)
    out.append("expected \\ got    " + "".join(f"{v:>9}" for v in VERDICTS))
    for e in VERDICTS:
        out.append(f"{e:<17}" + "".join(f"{confusion[(e, g)]:>9}" for g in VERDICTS))
    out.append("")

    out.append("verdict       precision   recall   (precision: share of answers that are right;"
               " recall: share of labels found)")
    for v in VERDICTS:
        got_v = sum(confusion[(e, v)] for e in VERDICTS)
        exp_v = sum(confusion[(v, g)] for g in VERDICTS)
        right = confusion[(v, v)]
        out.append(f"{v:<13}{_ratio(right, got_v):>10} {_ratio(right, exp_v):>8}")
    positive_got = [o for o in outcomes if o.got != "clear"]
    positive_exp = [o for o in outcomes if o.expected != "clear"]
    out.append(f"{'not clear':<13}"
               f"{_ratio(sum(o.expected != 'clear' for o in positive_got), len(positive_got)):>10} "
               f"{_ratio(sum(o.got != 'clear' for o in positive_exp), len(positive_exp)):>8}"
               "   (flagged or review, either way)")
    out.append("")

    out.append(f"{'category':<28}{'label':>8}{'n':>5}{'flagged':>9}{'review':>8}{'clear':>7}"
               f"{'exact':>8}{'hit':>8}   hit = flagged / at least review / clear")
    categories = sorted({(o.expected, o.row.category) for o in outcomes},
                        key=lambda pair: (-RANK[pair[0]], pair[1]))
    for expected, category in categories:
        group = [o for o in outcomes if o.row.category == category]
        got = Counter(o.got for o in group)
        exact = sum(o.got == o.expected for o in group)
        hit = sum(_hit(o) for o in group)
        out.append(f"{category:<28}{expected:>8}{len(group):>5}{got['flagged']:>9}"
                   f"{got['review']:>8}{got['clear']:>7}{_ratio(exact, len(group)):>8}"
                   f"{_ratio(hit, len(group)):>8}")
    out.append("")

    sections = [
        ("labelled flagged, not flagged", [o for o in outcomes
                                           if o.expected == "flagged" and o.got != "flagged"]),
        ("labelled clear, FLAGGED", [o for o in outcomes
                                     if o.expected == "clear" and o.got == "flagged"]),
        ("labelled review, flagged", [o for o in outcomes
                                      if o.expected == "review" and o.got == "flagged"]),
        ("review vs clear: labelled review, got clear",
         [o for o in outcomes if o.expected == "review" and o.got == "clear"]),
        ("review vs clear: labelled clear, got review",
         [o for o in outcomes if o.expected == "clear" and o.got == "review"]),
        ("wrong maker on labelled-flagged items that were caught",
         [o for o in outcomes if o.expected == "flagged" and o.got != "clear"
          and not o.maker_ok]),
        ("different maker on labelled-review items (not asserted)",
         [o for o in outcomes if o.expected == "review" and o.got != "clear" and not o.maker_ok]),
    ]
    for title, group in sections:
        out.extend(_listing(title, (o.describe() for o in group)))

    table = _read_regression_table()
    if table is None:
        out.append(f"(no recorded verdict table compared; {WRITE_ENV}=1 records one)")
    else:
        changes = _changes(outcomes, table)
        out.extend(_listing(f"changes since {REGRESSION_CSV.name}",
                            (c.describe() for c in changes)))
        if not changes:
            out.append(f"no changes since {REGRESSION_CSV.name}")
    return "\n".join(out)


def _hit(o: Outcome) -> bool:
    if o.expected == "review":
        return o.got != "clear"
    return o.got == o.expected


# --------------------------------------------------------------------------------------------
# The assertions


def test_one_finding_per_item_in_order(screened: tuple[list[Any], list[Any]]) -> None:
    items, findings = screened
    misplaced = [(item.id, finding.subject) for item, finding in zip(items, findings, strict=True)
                 if finding.subject != item.id]
    assert not misplaced, (
        f"findings out of order or mislabelled (item id, subject): {misplaced[:20]}")
    unknown = [f.verdict for f in findings if _verdict_text(f.verdict) not in VERDICTS]
    assert not unknown, f"verdicts outside {VERDICTS}: {unknown[:10]}"


def test_every_labelled_flagged_item_is_flagged(outcomes: list[Outcome]) -> None:
    labelled = [o for o in outcomes if o.expected == "flagged"]
    found = sum(o.got == "flagged" for o in labelled)
    recall = found / len(labelled)
    assert recall >= FLAGGED_RECALL_MIN, (
        f"recall of `flagged` is {recall:.2%} ({found}/{len(labelled)}), "
        f"want {FLAGGED_RECALL_MIN:.0%}\n\n{accuracy_report(outcomes)}")


def test_no_clear_item_is_flagged_and_flagged_is_precise(outcomes: list[Outcome]) -> None:
    flagged = [o for o in outcomes if o.got == "flagged"]
    wrongly = [o for o in flagged if o.expected == "clear"]
    right = sum(o.expected == "flagged" for o in flagged)
    precision = right / len(flagged) if flagged else 0.0
    assert not wrongly and precision >= FLAGGED_PRECISION_MIN, (
        f"{len(wrongly)} clear item(s) flagged; precision of `flagged` is {precision:.2%} "
        f"({right}/{len(flagged)}), want >= {FLAGGED_PRECISION_MIN:.0%}"
        f"\n\n{accuracy_report(outcomes)}")


def test_every_positive_item_is_at_least_review(outcomes: list[Outcome]) -> None:
    positives = [o for o in outcomes if o.expected != "clear"]
    seen = sum(RANK[o.got] >= RANK["review"] for o in positives)
    recall = seen / len(positives)
    assert recall >= POSITIVE_RECALL_MIN, (
        f"{len(positives) - seen} item(s) labelled flagged or review came back clear "
        f"(recall of 'not clear' {recall:.2%}, want {POSITIVE_RECALL_MIN:.0%})"
        f"\n\n{accuracy_report(outcomes)}")


def test_maker_is_right_on_flagged_items(outcomes: list[Outcome]) -> None:
    # Items the matcher cleared already fail the recall tests; here: the ones it caught.
    caught = [o for o in outcomes if o.expected == "flagged" and o.got != "clear"]
    wrong = [o for o in caught if not o.maker_ok]
    assert not wrong, (f"{len(wrong)} of {len(caught)} labelled-flagged items the matcher caught "
                       f"name the wrong maker\n\n{accuracy_report(outcomes)}")


def test_clear_items_mostly_stay_clear(outcomes: list[Outcome]) -> None:
    labelled = [o for o in outcomes if o.expected == "clear"]
    kept = sum(o.got == "clear" for o in labelled)
    share = kept / len(labelled)
    assert share >= CLEAR_KEPT_MIN, (
        f"only {share:.2%} ({kept}/{len(labelled)}) of items labelled clear came back clear, "
        f"want >= {CLEAR_KEPT_MIN:.0%}\n\n{accuracy_report(outcomes)}")


def test_no_regression_against_recorded_verdicts(outcomes: list[Outcome]) -> None:
    if os.environ.get(WRITE_ENV) == "1":
        pytest.skip(f"{REGRESSION_CSV.name} was just rewritten ({WRITE_ENV}=1)")
    table = _read_regression_table()
    if table is None:
        pytest.skip(f"no {REGRESSION_CSV.name} recorded yet; record one with {WRITE_ENV}=1")
    changes = _changes(outcomes, table)
    regressions = [c for c in changes if c.was_right and not c.outcome.right]
    others = [c for c in changes if c not in regressions]
    if others:
        warnings.warn(
            f"{len(others)} verdict(s) changed since {REGRESSION_CSV.name} without regressing "
            f"(record them with {WRITE_ENV}=1): "
            + "; ".join(c.describe() for c in others[:10]), stacklevel=1)
    missing = sorted({o.row.id for o in outcomes} - set(table))
    assert not regressions, (
        f"{len(regressions)} item(s) were right in {REGRESSION_CSV.name} and are wrong now:\n"
        + "\n".join(f"  {c.describe()}" for c in regressions)
        + (f"\n(not in the recorded table: {missing[:20]})" if missing else "")
        + f"\n\n{accuracy_report(outcomes)}")


def test_report_and_regression_table_machinery(rows: list[LabelledRow], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself (runs without a matcher): the report names what went wrong and the
    recorded table round-trips and tells regressions from improvements."""
    by_verdict = {v: next(r for r in rows if r.expected_verdict == v) for v in VERDICTS}
    flagged_row, review_row, clear_row = (by_verdict[v] for v in VERDICTS)
    before = [Outcome(flagged_row, "flagged", flagged_row.expected_maker, 95.0),
              Outcome(review_row, "clear", "", 0.0),
              Outcome(clear_row, "clear", "", 0.0)]
    after = [Outcome(flagged_row, "review", flagged_row.expected_maker, 60.0),  # regression
             Outcome(review_row, "review", review_row.expected_maker, 55.0),  # improvement
             Outcome(clear_row, "flagged", "Dahua", 90.0)]  # regression

    monkeypatch.setattr(f"{__name__}.REGRESSION_CSV", tmp_path / "verdicts.csv")
    monkeypatch.delenv(WRITE_ENV, raising=False)
    _write_regression_table(before)
    table = _read_regression_table()
    assert table is not None and set(table) == {o.row.id for o in before}
    assert table[flagged_row.id] == {"id": flagged_row.id, "expected": "flagged",
                                     "got": "flagged", "maker": flagged_row.expected_maker,
                                     "score": "95.0"}

    changes = {c.outcome.row.id: c for c in _changes(after, table)}
    assert set(changes) == {o.row.id for o in after}
    assert changes[flagged_row.id].was_right and not changes[flagged_row.id].outcome.right
    assert changes[clear_row.id].was_right and not changes[clear_row.id].outcome.right
    assert not changes[review_row.id].was_right and changes[review_row.id].outcome.right

    report = accuracy_report(after)
    assert f"labelled clear, FLAGGED (1):\n  {clear_row.id} " in report
    assert f"labelled flagged, not flagged (1):\n  {flagged_row.id} " in report
    assert "changes since verdicts.csv (3):" in report
    assert "review vs clear" not in report  # nothing confused between review and clear now
