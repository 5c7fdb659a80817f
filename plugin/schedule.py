"""Scheduled runs: interval or cron timing, a bounded foreground loop, and the systemd timer /
crontab entries that do the same job without a resident process."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from entityscan.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DOW = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MACROS = {"@hourly": "hourly", "@daily": "daily", "@midnight": "daily", "@weekly": "weekly",
           "@monthly": "monthly", "@yearly": "yearly", "@annually": "yearly"}


def parse_interval(text: str, option: str = "--every") -> timedelta:
    """`24h`, `30m`, `1h30m`, `90s`, `7d`, `1w` -> a timedelta (at least one second)."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = re.findall(r"(\d{1,9})([smhdw])", cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise InputError(f"{option} {text!r}: use a number and a unit, e.g. 30m, 24h, 1h30m, "
                         f"7d (units s, m, h, d, w)")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise InputError(f"{option} {text!r}: the interval must be at least one second")
    if seconds > 100 * 365 * 86400:
        raise InputError(f"{option} {text!r}: more than a century")
    return timedelta(seconds=seconds)


def check_cron(expr: str) -> str:
    expr = " ".join(expr.split())
    if expr in _MACROS:
        return expr
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise InputError(f"--cron {expr!r} is not a 5-field cron expression "
                         f"(minute hour day-of-month month day-of-week), e.g. '0 2 * * *'")
    return expr


@dataclass(frozen=True)
class Timing:
    every: timedelta | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise InputError("give exactly one of --every DURATION or --cron EXPR")

    def next_after(self, moment: datetime, last_start: datetime | None) -> datetime:
        if self.every is not None:
            if last_start is None:
                return moment
            # fixed rate from the last start; a run that overran starts the next at once
            return max(moment, last_start + self.every)
        assert self.cron is not None
        return croniter(self.cron, moment).get_next(datetime)


def run_loop(timing: Timing, job: Callable[[], int], *, max_runs: int | None = None,
             run_now: bool = False, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
             sleep: Callable[[float], None] = time.sleep,
             report: Callable[[str], None] = print) -> list[int]:
    """Run `job` on schedule in the foreground; returns the exit code of every run."""
    codes: list[int] = []
    last_start: datetime | None = None
    first = True
    while max_runs is None or len(codes) < max_runs:
        now = clock()
        due = now if (first and (run_now or timing.every is not None)) else \
            timing.next_after(now, last_start)
        first = False
        wait = (due - now).total_seconds()
        if wait > 0:
            report(f"next run at {due.isoformat(timespec='seconds')}")
            sleep(wait)
        last_start = clock()
        code = job()
        codes.append(code)
        report(f"run {len(codes)} finished at {clock().isoformat(timespec='seconds')} "
               f"with exit code {code}")
    return codes


def entityscan_argv() -> list[str]:
    """How to invoke this entityscan from a timer: the console script, else `python -m`."""
    found = shutil.which("entityscan")
    return [found] if found else [sys.executable, "-m", "entityscan"]


def cron_to_oncalendar(expr: str) -> str:
    """A 5-field cron expression as a systemd OnCalendar= value."""
    expr = check_cron(expr)
    if expr in _MACROS:
        return _MACROS[expr]
    minute, hour, dom, month, dow = expr.split()
    if dom != "*" and dow != "*":
        raise InputError("cron ORs day-of-month and day-of-week but systemd ANDs them; "
                         "use --print-cron, or two timers")

    def field(value: str, start: int, name: str) -> str:
        out = []
        for part in value.split(","):
            m = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
            if not m:
                raise InputError(f"cron {name} {part!r} has no systemd equivalent; use "
                                 f"--print-cron")
            base, end, step = m.groups()
            if end and step:
                raise InputError(f"cron {name} {part!r} (range with a step) has no systemd "
                                 f"equivalent; list the values instead")
            if base == "*":
                out.append(f"{start}/{step}" if step else "*")
            elif end:
                out.append(f"{int(base):02d}..{int(end):02d}")
            else:
                out.append(f"{int(base):02d}/{step}" if step else f"{int(base):02d}")
        return ",".join(out)

    day_part = ""
    if dow != "*":
        names = []
        for part in dow.split(","):
            m = re.fullmatch(r"(\d)(?:-(\d))?", part)
            if not m:
                raise InputError(f"cron day-of-week {part!r}: use numbers 0-7 for --print-"
                                 f"systemd")
            a, b = m.groups()
            names.append(f"{_DOW[int(a)]}..{_DOW[int(b)]}" if b else _DOW[int(a)])
        day_part = ",".join(names) + " "
    return (f"{day_part}*-{field(month, 1, 'month')}-{field(dom, 1, 'day-of-month')} "
            f"{field(hour, 0, 'hour')}:{field(minute, 0, 'minute')}:00")


#: Control characters (a newline above all) would end the crontab line or the unit setting
#: and start another one: an argument holding one is refused, never written.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def check_arguments(command: Sequence[str]) -> None:
    for arg in command:
        if _CONTROL.search(arg):
            raise InputError(f"argument {arg!r} holds a control character (a newline would "
                             f"start a new line of the crontab or the unit file); refusing "
                             f"to print it")


def systemd_word(arg: str) -> str:
    """One ExecStart= word: double-quoted unless plain, with systemd's own escapes (`\\`,
    `"`), its specifiers (`%%`) and variable expansion (`$$`) neutralised."""
    word = arg if _SYSTEMD_PLAIN.fullmatch(arg) else \
        '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word.replace("%", "%%").replace("$", "$$")


def systemd_units(timing: Timing, command: Sequence[str], name: str = "entityscan-scan"
                  ) -> str:
    argv = [*entityscan_argv(), *command]
    check_arguments(argv)
    exec_line = " ".join(systemd_word(arg) for arg in argv)
    what = (" ".join(command) or "run").replace("%", "%%")  # Description= expands specifiers
    if timing.every is not None:
        seconds = int(timing.every.total_seconds())
        when = f"OnBootSec=5min\nOnUnitActiveSec={seconds}s"
    else:
        assert timing.cron is not None
        when = f"OnCalendar={cron_to_oncalendar(timing.cron)}\nPersistent=true"
    return f"""# /etc/systemd/system/{name}.service
[Unit]
Description=entityscan scheduled {what}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={exec_line}
# exit code 1 means findings, not failure
SuccessExitStatus=1

# /etc/systemd/system/{name}.timer
[Unit]
Description=entityscan scheduled {what}

[Timer]
{when}
RandomizedDelaySec=60

[Install]
WantedBy=timers.target

# install: systemctl daemon-reload && systemctl enable --now {name}.timer
"""


def interval_as_cron(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    minutes, rest = divmod(seconds, 60)
    if rest == 0 and 0 < minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *" if minutes > 1 else "* * * * *"
    hours, rest = divmod(seconds, 3600)
    if rest == 0 and 0 < hours < 24 and 24 % hours == 0:
        return f"0 */{hours} * * *" if hours > 1 else "0 * * * *"
    if seconds == 86400:
        return "0 0 * * *"
    if seconds == 604800:
        return "0 0 * * 0"
    raise InputError(f"every {every} cannot be written as a cron schedule; use --cron EXPR or "
                     f"--print-systemd")


def cron_line(timing: Timing, command: Sequence[str]) -> str:
    expr = timing.cron if timing.cron is not None else interval_as_cron(timing.every)  # type: ignore[arg-type]
    argv = [*entityscan_argv(), *command]
    check_arguments(argv)
    # cron hands the line to /bin/sh (POSIX quoting) after turning an unescaped % into a
    # newline, so % is escaped
    line = shlex.join(argv).replace("%", r"\%")
    return f"# crontab -e, then add:\n{expr} {line}\n"
