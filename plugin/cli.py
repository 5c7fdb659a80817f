"""The `entityscan` command line: a thin face over the library.

Each sub-command lives in `plugin/commands/<name>.py` with a `register(app)` function; none holds
logic of its own.  Exit codes: 0 nothing at or above `--fail-on`, 1 findings at or above it,
2 usage or input error, 3 an internal error (a bug: one line on stderr, never a traceback
unless `ENTITYSCAN_DEBUG=1`).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from entityscan.errors import EntityscanError
from entityscan.hooktypes import Settings

#: Exit code of an error that is not an `EntityscanError`: a bug, never "findings" (1).
INTERNAL_ERROR = 3
DEBUG_ENV = "ENTITYSCAN_DEBUG"

COMMAND_MODULES = (
    "entityscan.commands.screen",
    "entityscan.commands.lists",
    "entityscan.commands.report",
    "entityscan.commands.usb",
    "entityscan.commands.plugins",
    "entityscan.commands.service",
    "entityscan.commands.inventory",
    "entityscan.commands.schedule",
    "entityscan.commands.scan",
    "entityscan.commands.passive",
    "entityscan.commands.importing",
    "entityscan.commands.signatures",
    "entityscan.commands.demo",
    "entityscan.commands.audit",
    "entityscan.commands.webhooks",
    "entityscan.commands.push",
)

app = typer.Typer(
    name="entityscan",
    help="Find equipment made by restricted manufacturers before it is bought and after it is "
         "installed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """entityscan: scan for and screen equipment from restricted manufacturers."""


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


class _TraceToStderr(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"entityscan: trace: {self.format(record)}", file=sys.stderr)


def _trace_plugins_to_stderr() -> None:
    """`ENTITYSCAN_TRACE_PLUGINS=1`: show the plugin manager's per-call lines on stderr."""
    trace = logging.getLogger("entityscan.plugins")
    if Settings.from_env().trace_plugins and not any(
            isinstance(h, _TraceToStderr) for h in trace.handlers):
        trace.addHandler(_TraceToStderr())
        trace.setLevel(logging.INFO)


def _internal_error(exc: BaseException) -> int:
    """Anything that is not an `EntityscanError` is a bug: say so in one line (the traceback
    only with ENTITYSCAN_DEBUG=1) and exit 3, so no script mistakes it for "findings"."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        traceback.print_exception(exc, file=sys.stderr)
    from entityscan.terminal import printable

    first = printable((str(exc).strip().splitlines() or [""])[0][:300])
    detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]entityscan: internal error:[/] {escape(detail)} (a bug in entityscan or a "
        f"plugin; set {DEBUG_ENV}=1 to see the traceback, and please report it)",
        highlight=False)
    return INTERNAL_ERROR


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors the user can act on become one line and exit code 2, internal
    errors one line and exit code 3."""
    _trace_plugins_to_stderr()
    try:
        # standalone_mode=False: click returns the command's value (our exit code) or the
        # code of a typer.Exit instead of calling sys.exit itself.
        result = app(args=argv, standalone_mode=False)
    except EntityscanError as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]entityscan: error:[/] {escape(str(exc))}", highlight=False)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (typer.Abort, KeyboardInterrupt):
        return 130
    except Exception as exc:
        # typer vendors click: its usage errors carry `show()` and an `exit_code`.
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            return 2
        return _internal_error(exc)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
