"""Which lists a run uses: bundled data, the installed official copy, and `--list` files.

The installed copy lives in `<data_dir>/csl/`:

    current.dat          the last good CSL file (CSV or JSON, as downloaded)
    current.meta.json    where it came from, when, per-list row counts, content hash
    previous.dat/.meta.json  the copy before it, kept as a fallback

`update_lists` fails closed: a new file is installed only after it parsed completely and no
list vanished or shrank sharply compared with the installed copy; otherwise the old copy stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
import yaml

from entityscan.durable import replacing, sync_folder
from entityscan.errors import ListError
from entityscan.lists.bundled_loader import load_bundled, parse_bundled_document
from entityscan.lists.csl_entries import CslStats
from entityscan.lists.csl_reader import CSL_CSV_URL, file_sha256, load_csl_file, sniff_format
from entityscan.lists.download import download
from entityscan.lists.list_set import ListSet, ListSource
from entityscan.lists.update_checks import ListProfile, check_names, check_shrink, profile

APP_NAME = "entityscan"
DATA_DIR_ENV = "ENTITYSCAN_DATA_DIR"
META_SCHEMA = "entityscan.lists-install/1"
DEFAULT_MAX_SHRINK = 0.20
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_BYTES = 200 * 1024 * 1024  # the real CSV is ~40 MB


def resolve_data_dir(data_dir: Path | str | None = None,
                     environ: Mapping[str, str] | None = None) -> Path:
    """`data_dir` if given, else `$ENTITYSCAN_DATA_DIR`, else the user data dir."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _csl_dir(data_dir: Path) -> Path:
    return data_dir / "csl"


# --- single files -----------------------------------------------------------------------------

def load_list_file(path: Path | str) -> ListSet:
    """A CSL CSV/JSON file or a bundled-format YAML file, told apart by content."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise ListError(f"{path}: cannot read list file: {exc.strerror or exc}") from exc
    if _looks_like_yaml(path, head):
        try:
            text = path.read_text(encoding="utf-8")
            doc = yaml.safe_load(text)
        except UnicodeDecodeError as exc:
            raise ListError(f"{path}: not UTF-8 text ({exc.reason}); re-save as UTF-8") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise ListError(f"{path}: {where}invalid YAML: {exc}") from exc
        entries = parse_bundled_document(doc, str(path))
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry.list] = counts.get(entry.list, 0) + 1
        source = ListSource(name=path.name, location=str(path.resolve()),
                            loaded_at=datetime.now(UTC), count=len(entries), per_list=counts,
                            content_hash=file_sha256(path))
        return ListSet(entries, [source])
    stats = CslStats()
    entries = load_csl_file(path, stats)
    lists = ListSet(entries, [])
    source = ListSource(name=path.name, location=str(path.resolve()),
                        loaded_at=datetime.now(UTC), count=len(entries),
                        per_list=lists.per_list(), content_hash=stats.content_hash)
    return ListSet(entries, [source])


def _looks_like_yaml(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".yaml", ".yml"):
        return True
    fmt = sniff_format(head)
    if fmt != "csv":
        return False
    stripped = head.lstrip(b"\xef\xbb\xbf").lstrip()
    # bundled-format documents start with comments or `list:` / `entries:` keys
    return stripped.startswith((b"#", b"---", b"list:", b"entries:"))


# --- the installed copy -----------------------------------------------------------------------

@dataclass
class InstalledCopy:
    data: Path
    meta: Path

    def read_meta(self) -> dict[str, Any]:
        try:
            meta = json.loads(self.meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ListError(f"{self.meta}: metadata file missing") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ListError(f"{self.meta}: unreadable metadata: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("schema") != META_SCHEMA:
            raise ListError(f"{self.meta}: not an entityscan list-install metadata file")
        return meta

    def exists(self) -> bool:
        return self.data.exists() or self.meta.exists()


def _copies(data_dir: Path) -> tuple[InstalledCopy, InstalledCopy]:
    folder = _csl_dir(data_dir)
    return (InstalledCopy(folder / "current.dat", folder / "current.meta.json"),
            InstalledCopy(folder / "previous.dat", folder / "previous.meta.json"))


def _load_copy(copy: InstalledCopy) -> tuple[ListSet, dict[str, Any]]:
    meta = copy.read_meta()
    if not copy.data.exists():
        raise ListError(f"{copy.data}: installed list file missing")
    actual = file_sha256(copy.data)
    if actual != meta.get("content_hash"):
        raise ListError(f"{copy.data}: content hash {actual[:19]}… does not match the "
                        f"recorded {str(meta.get('content_hash'))[:19]}… (file corrupted or "
                        "changed outside entityscan)")
    stats = CslStats()
    entries = load_csl_file(copy.data, stats)
    lists = ListSet(entries, [])
    loaded_at = datetime.now(UTC)
    source = ListSource(name="csl", location=str(meta.get("source") or copy.data),
                        loaded_at=loaded_at, published=meta.get("published"),
                        count=len(entries), per_list=lists.per_list(),
                        content_hash=stats.content_hash)
    return ListSet(entries, [source]), meta


def load_installed(data_dir: Path) -> ListSet | None:
    """The installed CSL copy; falls back to the previous copy if the current one is broken.

    Returns None when nothing was ever installed.  Raises ListError when a copy exists but
    neither it nor the backup can be used.
    """
    current, previous = _copies(data_dir)
    if not current.exists() and not previous.exists():
        return None
    problem = None
    if current.exists():
        try:
            return _load_copy(current)[0]
        except ListError as exc:
            problem = str(exc)
    if previous.exists():
        try:
            lists, _meta = _load_copy(previous)
        except ListError as exc:
            raise ListError(f"installed CSL copy unusable ({problem}); the backup copy is "
                            f"unusable too ({exc}); run `entityscan lists update`") from exc
        source = lists.sources[0].model_copy(update={
            "name": "csl (previous copy)",
            "note": f"current copy unusable, using the previous one: {problem}"})
        return ListSet(lists.entries, [source])
    raise ListError(f"installed CSL copy unusable ({problem}) and no backup copy; run "
                    "`entityscan lists update`")


def installed_state(data_dir: Path, verify: bool = False) -> tuple[Any, str | None]:
    """(a fingerprint of the installed copy or None when there is none, the problem with it
    or None).  The fingerprint changes when the copy is replaced or touched; `verify` also
    checks the data file against its recorded hash (reads the whole file)."""
    current, _ = _copies(data_dir)
    if not current.data.exists() and not current.meta.exists():
        return None, None
    try:
        meta = current.read_meta()
        stat = current.data.stat()
    except ListError as exc:
        return ("unreadable",), str(exc)
    except OSError as exc:
        return ("unreadable",), f"{current.data}: installed list file missing or unreadable " \
                                f"({exc.strerror or exc})"
    stamp = (meta.get("content_hash"), meta.get("fetched_at"), stat.st_size, stat.st_mtime_ns,
             stat.st_ino)
    if verify:
        try:
            actual = file_sha256(current.data)
        except OSError as exc:
            return stamp, f"{current.data}: unreadable ({exc.strerror or exc})"
        if actual != meta.get("content_hash"):
            return stamp, (f"{current.data}: content hash {actual[:19]}… does not match the "
                           f"recorded {str(meta.get('content_hash'))[:19]}… (corrupted or "
                           f"changed outside entityscan)")
    return stamp, None


def installed_metadata(data_dir: Path) -> dict[str, Any] | None:
    current, _ = _copies(data_dir)
    if not current.meta.exists():
        return None
    return current.read_meta()


def default_lists(extra: Sequence[Path] = (), data_dir: Path | str | None = None,
                  environ: Mapping[str, str] | None = None) -> ListSet:
    """Bundled data + the installed CSL copy (if any) + `extra` list files, in that order."""
    lists: ListSet = load_bundled()
    installed = load_installed(resolve_data_dir(data_dir, environ))
    if installed is not None:
        lists = lists.merged(installed)
    for path in extra:
        lists = lists.merged(load_list_file(path))
    return lists


# --- updating -----------------------------------------------------------------------------------

@dataclass
class UpdateResult:
    installed: Path
    meta: dict[str, Any]
    previous_meta: dict[str, Any] | None


def update_lists(source: str | Path | None = None, data_dir: Path | str | None = None, *,
                 max_shrink: float = DEFAULT_MAX_SHRINK, timeout: float = DEFAULT_TIMEOUT,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 environ: Mapping[str, str] | None = None) -> UpdateResult:
    """Fetch or read a CSL file, validate it fully, compare with the installed copy, install.

    `source` is an http(s) URL, a file path, or None for the public CSV.  `max_shrink` is the
    largest accepted fractional drop in any list's row count (0.2 = 20 %); `timeout` bounds
    the whole download.  The content checks (`entityscan.lists.update_checks`) refuse lists
    that shrank, whose names collapsed or changed wholesale.  Raises ListError, leaving the
    installed copy untouched, when anything is wrong.
    """
    if not 0 <= max_shrink <= 1:
        raise ListError(f"max shrink must be between 0 and 100 %, got {max_shrink * 100:g} %")
    folder = _csl_dir(resolve_data_dir(data_dir, environ))
    try:
        for missing in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
            missing.mkdir(mode=0o700, exist_ok=True)  # the store may live here too
    except OSError as exc:
        raise ListError(f"{folder}: cannot create the data directory: {exc}") from exc
    location = CSL_CSV_URL if source is None else str(source)
    is_url = location.startswith(("http://", "https://"))
    if not is_url:
        location = str(Path(location).expanduser().resolve())
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".dat")
        os.close(fd)
    except OSError as exc:
        raise ListError(f"{folder}: cannot write to the data directory: {exc}") from exc
    tmp = Path(name)
    try:
        published = None
        if is_url:
            published = download(location, tmp, timeout=timeout, max_bytes=max_bytes)
        else:
            _copy_file(Path(location), tmp, max_bytes)
        stats = CslStats()
        try:
            entries = load_csl_file(tmp, stats)
        except ListError as exc:
            # name what the user gave, not the temporary file
            raise ListError(str(exc).replace(str(tmp), location)) from exc
        current, previous = _copies(folder.parent)
        previous_meta = None
        if current.exists():
            try:
                previous_meta = current.read_meta()
            except ListError:
                previous_meta = None
        if previous_meta is None and previous.exists():
            with contextlib.suppress(ListError):
                previous_meta = previous.read_meta()
        problems = []
        if previous_meta is not None:
            problems += check_shrink(previous_meta.get("rows_per_list") or {},
                                     dict(stats.rows_per_list), max_shrink)
        problems += check_names(profile(entries), _installed_profile(current, previous))
        if problems:
            raise ListError(f"{location}: refusing the update, kept the installed copy: "
                            + "; ".join(problems)
                            + f" (shrink limit {max_shrink:.0%}: --max-shrink accepts a "
                              f"bigger shrink, never collapsed or replaced names)")
        meta = {
            "schema": META_SCHEMA,
            "source": location,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "published": published,
            "format": stats.format,
            "rows": stats.rows,
            "entries": len(entries),
            "rows_per_list": dict(sorted(stats.rows_per_list.items())),
            "per_list": dict(sorted(ListSet(entries, []).per_list().items())),
            "content_hash": stats.content_hash,
        }
        try:
            _install(tmp, meta, current, previous)
        except OSError as exc:
            raise ListError(f"{current.data.parent}: installing {location} failed: {exc}; "
                            "the installed copy is unchanged or, if the swap was interrupted, "
                            "the next load falls back to the previous copy") from exc
        return UpdateResult(installed=current.data, meta=meta, previous_meta=previous_meta)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _installed_profile(current: InstalledCopy, previous: InstalledCopy
                       ) -> dict[str, ListProfile] | None:
    """The names of the installed copy (or its backup when it is broken), for comparison."""
    for copy in (current, previous):
        if copy.exists():
            with contextlib.suppress(ListError):
                return profile(_load_copy(copy)[0].entries)
    return None


def _copy_file(src: Path, dest: Path, max_bytes: int) -> None:
    try:
        size = src.stat().st_size
        if size > max_bytes:
            raise ListError(f"{src}: {size:,} bytes, more than the {max_bytes:,}-byte limit")
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        raise ListError(f"{src}: cannot read: {exc.strerror or exc}") from exc


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    with replacing(path, prefix=".meta-") as out:
        out.write((json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _install(tmp: Path, meta: dict[str, Any], current: InstalledCopy,
             previous: InstalledCopy) -> None:
    """Keep the current copy as the backup, then swap the new file in with os.replace.

    The data file is replaced before its metadata; a crash in between leaves a hash mismatch
    that `load_installed` detects, falling back to the backup.
    """
    folder = current.data.parent
    if current.data.exists() and current.meta.exists():
        try:
            current.read_meta()
            usable = file_sha256(current.data) == current.read_meta().get("content_hash")
        except ListError:
            usable = False
        if usable:  # never overwrite a good backup with a broken current copy
            fd, name = tempfile.mkstemp(dir=folder, prefix=".backup-", suffix=".dat")
            os.close(fd)
            try:
                shutil.copyfile(current.data, name)
                with open(name, "rb+") as handle:
                    os.fsync(handle.fileno())
                os.replace(name, previous.data)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
                raise
            _write_json_atomic(previous.meta, current.read_meta())
    os.replace(tmp, current.data)
    _write_json_atomic(current.meta, meta)
    sync_folder(folder)
