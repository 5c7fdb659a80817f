"""`entityscan push`: send spooled scan documents (or saved ones) to the central service."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from entityscan.agent import Spool, open_agent
from entityscan.commands import DataDirOption, PushOption, SiteOption, TokenFileOption
from entityscan.errors import InputError
from entityscan.lists.registry import resolve_data_dir


def push(
    files: Annotated[list[Path] | None, typer.Argument(
        help="entityscan.scan/1 JSON documents to send (`entityscan scan -f json -o FILE`).",
        show_default=False)] = None,
    flush: Annotated[bool, typer.Option(
        "--flush", help="Send the documents waiting in the spool, oldest first.")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="List what waits in the spool and what the service rejected; "
                         "exit 1 when something waits.")] = False,
    url: PushOption = None,
    token_file: TokenFileOption = None,
    site: SiteOption = None,
    data_dir: DataDirOption = None,
) -> int:
    """Send scan documents to the central service (`--push URL --token-file F`, or the ones
    the last push used); what cannot go now waits in the spool.  Exit 0 when nothing waits,
    1 when documents still wait, 2 on a setup error or a rejected document."""
    folder = resolve_data_dir(data_dir)
    spool = Spool(folder / "spool")
    if status:
        return _status(spool)
    if not files and not flush:
        raise InputError("give FILE... to send, or --flush to send what waits in the spool")
    if url is None and token_file is None:  # the target the last push remembered
        target = spool.target() or {}
        url = target.get("url")
        token_file = Path(target["token_file"]) if target.get("token_file") else None
        if url is None:
            raise InputError("no --push URL given and none remembered from an earlier push; "
                             "give --push URL --token-file FILE")
    agent = open_agent(url, token_file, folder)
    assert agent is not None
    outcome = None
    for path in files or []:
        outcome = agent.deliver(_document(path, site))
    if flush or outcome is None:
        outcome = agent.flush()
    return 1 if outcome.waiting else 0


def _document(path: Path, site: str | None) -> dict[str, object]:
    """A saved document to send; one without an id gets one from its content, so sending
    the same file twice stores it once."""
    from entityscan.sites import check_site

    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON scan document: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("devices"), list):
        raise InputError(f"{path}: not an entityscan.scan/1 document (no `devices` list)")
    if site is not None:
        wanted = check_site(site)
        if doc.get("site") not in (None, wanted):
            raise InputError(f"{path}: the document belongs to site {doc['site']!r}, not "
                             f"--site {wanted!r}")
        doc["site"] = wanted
    if not doc.get("document_id"):
        doc["document_id"] = "file:" + hashlib.sha256(raw).hexdigest()[:40]
    return doc


def _status(spool: Spool) -> int:
    waiting = spool.entries()
    target = spool.target() or {}
    print(f"spool {spool.folder}: {len(waiting)} document(s) waiting, "
          f"{sum(e.size for e in waiting):,} bytes; target {target.get('url') or '(none yet)'}")
    for entry in waiting:
        print(f"  waiting   {entry.name}  {entry.size:,} bytes")
    for path in spool.rejected():
        reason = path.with_suffix(".reason.txt")
        why = reason.read_text(encoding="utf-8", errors="replace").strip() \
            if reason.exists() else "?"
        print(f"  rejected  {path.name}  {why}")
    return 1 if waiting else 0


def register(app: typer.Typer) -> None:
    app.command("push")(push)


