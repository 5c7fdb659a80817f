"""What the command line draws besides documents: a scan's progress bar and saved-scan diffs.

Every string from a device, a file or a request is shown as text, never as rich markup, and
with its control characters made visible (`cell`): a device name cannot move the cursor,
retitle the terminal or reverse the text around it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from entityscan.scanners.scan import Progress

# C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates (a right-to-left
# override makes `gpj.exe` read `exe.jpg`).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                          "\u2066-\u2069]")


def printable(value: object) -> str:
    """`value` as text with every control or bidi character shown as `\\xNN` / `\\uNNNN`."""
    def visible(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(visible, str(value))


def cell(value: object, style: str = "") -> Text:
    """A table cell for a string from outside: plain text, controls made visible."""
    return Text(printable("" if value is None else value), style=style)


@contextmanager
def progress_bar() -> Iterator[Callable[[Progress], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(event: Progress) -> None:
            if event.phase not in ("sweep", "probe"):
                return
            if event.phase not in tasks:
                tasks[event.phase] = bar.add_task(event.phase, total=event.total)
            bar.update(tasks[event.phase], completed=event.done, total=event.total)

        yield update


def print_diff(diff: dict[str, Any], console: Console) -> None:
    """A saved scan's diff: one summary line, then a row per new, gone or changed device."""
    s = diff["summary"]
    since = f"scan {diff['scan_a']}" if diff["scan_a"] else "an empty inventory"
    console.print(f"since {since}: {s['new']} new, {s['gone']} gone, {s['changed']} changed, "
                  f"{s['newly_flagged']} newly flagged", highlight=False)
    rows = ([("new", d) for d in diff["new"]] + [("gone", d) for d in diff["gone"]]
            + [("changed", d) for d in diff["changed"]]
            + [("NEWLY FLAGGED", d) for d in diff["newly_flagged"]])
    if not rows:
        return
    table = Table()
    for col in ("what", "device", "maker", "verdict", "details"):
        table.add_column(col, overflow="fold")
    for what, d in rows:
        details = "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in d.get("changes", {}).items())
        table.add_row(Text(what, style="bold red" if what == "NEWLY FLAGGED" else ""),
                      cell(d["key"]), cell(d.get("maker")), cell(d["verdict"]),
                      cell(details or " ".join(d.get("addresses") or [])))
    console.print(table)


def print_saved(scan_id: int | None, audit_id: int | None, diff: dict[str, Any] | None) -> None:
    """After `--save`: where it went and what changed, on stderr (stdout holds the document)."""
    console = Console(stderr=True)
    console.print(f"saved as scan {scan_id} (audit {audit_id})", highlight=False)
    if diff is not None:
        print_diff(diff, console)


def print_rescreen(screened: int, lists_hash: str, audit_id: int,
                   changes: list[dict[str, Any]], console: Console) -> None:
    """A rescreen's result: how many devices, against which lists, and what changed."""
    console.print(f"rescreened {screened} stored devices against lists {lists_hash[:19]}…: "
                  f"{len(changes)} changed (audit {audit_id})", highlight=False)
    if changes:
        table = Table()
        for col in ("device", "before", "after", "maker", "why"):
            table.add_column(col, overflow="fold")
        for c in changes:
            table.add_row(cell(c["key"]), cell(c["before"]), cell(c["after"]), cell(c["maker"]),
                          cell((c["reasons"] or [""])[0]))
        console.print(table)
