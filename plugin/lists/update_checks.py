"""What a new list file must look like before it may replace the installed copy.

Row counts alone are not enough: a file where every name is one placeholder has the right
counts and turns every listed party clear.  So for every list, whatever its size:

- **shrink**: no list vanishes or loses more than `max_shrink` of its rows (one row, a single
  delisting, is always allowed), compared with the installed copy;
- **collapsed names**: no list has names without a letter or digit ("-", "N/A" …), more than
  half of its entries under one name, or fewer than half as many distinct names as entries;
  and none has fewer than half the distinct names per entry it had;
- **wholesale change**: a list keeps at least `MIN_KEPT` of the names it had (real updates
  add and remove a few parties; a file whose names are all new is another file).

Each refusal names the list and what is wrong; `--max-shrink` accepts a bigger shrink, never
collapsed or replaced names.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from entityscan.model import ListEntry

MIN_KEPT = 0.5
TOP_NAME_SHARE = 0.5
MIN_DISTINCT_RATIO = 0.5
#: Lists smaller than these are too small for the share and ratio checks to mean anything.
SHARE_CHECK_MIN = 5
RATIO_CHECK_MIN = 20
_NOT_WORD = re.compile(r"[\W_]+")  # letters and digits of any script are kept


def name_key(name: str) -> str:
    """A name as compared here: compatibility-folded, case-folded, letters and digits only."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()


@dataclass
class ListProfile:
    """One list's names: how many entries, which names, how often each."""

    entries: int = 0
    names: Counter[str] = field(default_factory=Counter)

    @property
    def placeholders(self) -> int:
        return self.names.get("", 0)


def profile(entries: Iterable[ListEntry]) -> dict[str, ListProfile]:
    out: dict[str, ListProfile] = {}
    for entry in entries:
        prof = out.setdefault(entry.list, ListProfile())
        prof.entries += 1
        prof.names[name_key(entry.name)] += 1
    return out


def check_shrink(old: Mapping[str, int], new: Mapping[str, int], max_shrink: float
                 ) -> list[str]:
    """Lists that vanished or shrank by more than `max_shrink` (rows per list)."""
    problems = []
    for code, before in sorted(old.items()):
        after = new.get(code, 0)
        if before <= 0 or after >= before:
            continue
        drop = (before - after) / before
        if after == 0 and drop > max_shrink:
            problems.append(f"{code} vanished ({before} rows before, 0 now)")
        elif drop > max_shrink and before - after > 1:
            problems.append(f"{code} shrank {drop:.0%} ({before} -> {after} rows)")
    return problems


def check_names(new: Mapping[str, ListProfile], old: Mapping[str, ListProfile] | None
                ) -> list[str]:
    """Collapsed names in the new file, and names lost or replaced since the old one."""
    problems = []
    for code, prof in sorted(new.items()):
        if prof.placeholders:
            problems.append(f"{code}: {prof.placeholders} of {prof.entries} names have no "
                            f"letter or digit")
        top, count = prof.names.most_common(1)[0]
        if prof.entries >= SHARE_CHECK_MIN and count / prof.entries > TOP_NAME_SHARE:
            problems.append(f"{code}: {count} of {prof.entries} entries share the name "
                            f"{top!r} (names collapsed)")
        elif prof.entries >= RATIO_CHECK_MIN and \
                len(prof.names) / prof.entries < MIN_DISTINCT_RATIO:
            problems.append(f"{code}: only {len(prof.names)} distinct names for "
                            f"{prof.entries} entries (names collapsed)")
    for code, before in sorted((old or {}).items()):
        after = new.get(code)
        if after is None or len(before.names) < SHARE_CHECK_MIN:
            continue  # a vanished list is the shrink check's; tiny lists change wholesale
        ratio_before = len(before.names) / before.entries
        ratio_after = len(after.names) / after.entries
        if ratio_after < ratio_before * MIN_KEPT:
            problems.append(f"{code}: {len(before.names)} distinct names for {before.entries} "
                            f"entries before, {len(after.names)} for {after.entries} now "
                            f"(names collapsed)")
        kept = len(before.names.keys() & after.names.keys()) / len(before.names)
        if kept < MIN_KEPT:
            problems.append(f"{code}: only {kept:.0%} of its {len(before.names)} names are "
                            f"still there (the names changed wholesale)")
    return problems
