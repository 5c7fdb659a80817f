"""`entityscan schedule (--every D | --cron EXPR) [-- COMMAND...]`."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from entityscan.errors import InputError
from entityscan.schedule import (
    Timing,
    check_cron,
    cron_line,
    parse_interval,
    run_loop,
    systemd_units,
)


def schedule(
    command: Annotated[list[str] | None, typer.Argument(
        help="The entityscan command to run each time, after `--` (e.g. `-- usb --save`, "
             "or `-- store import site.json`).", show_default=False)
    ] = None,
    every: Annotated[str | None, typer.Option(help="Interval: 30m, 24h, 1h30m, 7d.")] = None,
    cron: Annotated[str | None, typer.Option(help="Cron expression, e.g. '0 2 * * *'.")] = None,
    max_runs: Annotated[int | None, typer.Option(
        "--max-runs", min=1, help="Stop after N runs (default: run until interrupted).")] = None,
    now: Annotated[bool, typer.Option("--now", help="With --cron: run once immediately.")
                   ] = False,
    print_systemd: Annotated[bool, typer.Option(
        "--print-systemd", help="Print a systemd service + timer for this schedule and exit.")
    ] = False,
    print_cron: Annotated[bool, typer.Option(
        "--print-cron", help="Print a crontab line for this schedule and exit.")] = False,
) -> int:
    """Run an entityscan command on a schedule in the foreground, or print a timer for it.
    Exits with the highest exit code of its runs."""
    argv = list(command or [])
    if not argv:
        raise InputError("give the command to schedule after `--`, e.g. "
                         "`entityscan schedule --every 24h -- usb --save`")
    if argv[0] in ("schedule", "serve"):
        raise InputError(f"`{argv[0]}` runs forever; it cannot be scheduled")
    timing = Timing(every=parse_interval(every) if every else None,
                    cron=check_cron(cron) if cron else None)
    if print_systemd and print_cron:
        raise InputError("give --print-systemd or --print-cron, not both")
    if print_systemd:
        sys.stdout.write(systemd_units(timing, argv))
        return 0
    if print_cron:
        sys.stdout.write(cron_line(timing, argv))
        return 0

    def job() -> int:
        # a child process per run: a crash or leak in one run cannot affect the next
        return subprocess.run([sys.executable, "-m", "entityscan", *argv],  # noqa: S603 - our CLI
                              check=False).returncode

    def report(message: str) -> None:
        print(f"entityscan schedule: {message}", file=sys.stderr, flush=True)

    try:
        codes = run_loop(timing, job, max_runs=max_runs, run_now=now, report=report)
    except KeyboardInterrupt:
        report("interrupted")
        return 130
    return max(codes, default=0)


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)
