"""`entityscan usb`: screen this host's USB devices, or a fleet's lsusb files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from plugin.errors import InputError

FORMATS = ("table", "json", "csv")
FAIL_ON = ("flagged", "review")
_RANK = {"clear": 0, "review": 1, "flagged": 2}


def register(app: typer.Typer) -> None:
    @app.command("usb")
    def usb_command(
        files: list[Path] = typer.Argument(  # noqa: B008 - typer's declaration style
            None, metavar="[FILE|DIR]...", show_default=False,
            help="With --from-lsusb: `lsusb` or `lsusb -v` text files, one per host "
                 "(a directory stands for its files)."),
        from_lsusb: bool = typer.Option(
            False, "--from-lsusb",
            help="Screen lsusb text collected from a fleet instead of this host's USB bus. "
                 "Host name: a `# host: NAME` first line, else the file name."),
        list_paths: list[Path] = typer.Option(  # noqa: B008
            [], "--list", metavar="PATH", help="Extra restricted-party list file (repeatable)."),
        fmt: str = typer.Option("table", "--format", help="table | json | csv"),
        output: Path | None = typer.Option(  # noqa: B008
            None, "--output", "-o", metavar="PATH", help="Write here instead of stdout."),
        fail_on: str = typer.Option(
            "flagged", "--fail-on", help="Exit 1 when a device is at or above: flagged | review"),
        include_root_hubs: bool = typer.Option(
            False, "--include-root-hubs", help="Also list the host controllers' root hubs."),
    ) -> int:
        """Screen USB devices (cameras, LTE/5G modems ...) on this host or from lsusb files.

        Exit codes: 0 nothing at or above --fail-on, 1 devices at or above it, 2 usage or
        input error (also when some lsusb files could not be read: the others are still
        screened and written).
        """
        return run(files or [], from_lsusb, list_paths, fmt, output, fail_on, include_root_hubs)


def run(files: list[Path], from_lsusb: bool, list_paths: list[Path], fmt: str,
        output: Path | None, fail_on: str, include_root_hubs: bool = False) -> int:
    # Imported here so `entityscan --help` stays fast and other commands never pay for pyusb.
    from plugin.output import scan_document, write_output
    from plugin.screening import ScreeningContext, screen_inventory
    from scanners.usb import UsbError, scan_host, scan_lsusb_files

    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fail_on not in FAIL_ON:
        raise InputError(f"--fail-on {fail_on!r}: choose one of {', '.join(FAIL_ON)}")
    if files and not from_lsusb:
        raise InputError("FILE arguments need --from-lsusb (without it, entityscan usb scans "
                         "this host's USB bus)")
    if from_lsusb and not files:
        raise InputError("--from-lsusb needs at least one lsusb text file or directory")
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise InputError(f"no such file or directory: {', '.join(missing)}")

    try:
        if from_lsusb:
            inventory = scan_lsusb_files(files, include_root_hubs=include_root_hubs)
        else:
            inventory = scan_host(include_root_hubs=include_root_hubs)
    except UsbError as exc:
        raise InputError(str(exc)) from exc

    # Plain lines (no wrapping): a file:line reference must stay on one line for editors.
    unreadable = inventory.parameters.get("unreadable_files") or []
    for error in inventory.errors:
        label = "error" if error.target in unreadable else "warning"
        typer.echo(f"entityscan usb: {label}: {error.message}", err=True)

    context = ScreeningContext.load(list_paths=tuple(list_paths))
    findings = screen_inventory(inventory, context)
    document = scan_document(inventory, findings, _lists_of(context))
    write_output(document, fmt, output)

    if unreadable:
        typer.echo(f"entityscan usb: {len(unreadable)} of "
                   f"{len(inventory.parameters.get('files') or [])} files could not be read; "
                   "the other hosts were screened", err=True)
        return 2
    threshold = _RANK[fail_on]
    return 1 if any(_RANK.get(_verdict(f), 0) >= threshold for f in findings) else 0


def _lists_of(context: Any) -> Any:
    return context.lists


def _verdict(finding: Any) -> str:
    verdict = finding.verdict
    return str(getattr(verdict, "value", verdict))
