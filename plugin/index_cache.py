"""The compiled screening index (lists, relations and the matcher built over them), cached on
disk so a run loads it instead of building it again (~0.7 s instead of ~3 s for 26,000
entries).

    value = load_or_build(folder, key, build, header)   # `ScreeningContext.load` calls it

Where: `<data dir>/index-cache/` (`Session` passes it; the service uses the same).  One file
per key, written atomically (temporary file, then rename) with mode 0600; the newest
`KEEP` files are kept.

The key: the code that builds and runs the index (a digest of entityscan's own source and the
matcher's data files (place spellings, Unicode tables), its version, Python's and the
libraries whose objects or output it holds), today's date (the matcher
judges delisting and relation end dates against it), the match policy, the plugins that
contribute lists, relations or patterns, and their data:
- when only the built-in data plugins contribute, their inputs are fingerprinted without
  reading them: the bundled data files, the installed list copy and the `--list` /
  `--relations` / pattern files, by size, modification and change time and inode (the
  change time cannot be set back by a user, so any rewrite is seen); this is what makes a
  warm start fast;
- when another plugin contributes data, its data is only known by calling it, so the lists,
  relations and patterns are loaded and the key is their content hashes (the index build is
  still skipped).

Trust: a cache file is a pickle, and unpickling runs code, so a file is only unpickled after
its HMAC-SHA256 matches, keyed by a random secret created in the cache folder (0600) the
first time, and only when that folder and the secret belong to the current user and nobody
else can write them.  A corrupt, truncated, foreign or stale file is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import hmac
import inspect
import json
import logging
import os
import pickle
import secrets
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import entityscan
import entityscan.scanners
from entityscan.durable import replacing

log = logging.getLogger("entityscan.index_cache")

FORMAT = "entityscan.index-cache/1"
MAGIC = b"ESIDX1\n"
KEEP = 3
BUILTIN_DATA_PLUGINS = frozenset({"builtin.lists", "builtin.relations", "builtin.patterns"})
DATA_HOOKS = ("entityscan_list_sources", "entityscan_relations", "entityscan_patterns")
_KEY_FILE = "secret.key"
_LRU_TYPE = type(functools.lru_cache(maxsize=1)(len))


class CacheUnusable(Exception):
    """This cache file or folder is not to be trusted or read (the index is built instead)."""


# ----- the key -----
@functools.cache
def code_fingerprint() -> str:
    """A digest of the code that builds and runs the index: entityscan's source files, the
    matcher's data files, and the versions of Python and of the libraries whose objects or
    output (pinyin, bidi order) a cached index holds."""
    digest = hashlib.sha256()
    versions = [sys.version, entityscan.__version__]
    for dist in ("pydantic", "pydantic-core", "rapidfuzz", "pypinyin", "python-bidi"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=?")
    digest.update(json.dumps(versions).encode())
    for root in [*entityscan.__path__, *entityscan.scanners.__path__]:
        for path in sorted(Path(root).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes())
    # the matcher's own data (place spellings, Unicode tables) shape the keys it indexes
    # with, whichever plugins contribute the lists
    matcher = Path(entityscan.__path__[0]) / "matcher"
    for path in sorted([*matcher.glob("*.yaml"), *matcher.glob("unicode/*.txt")]):
        digest.update(str(path.relative_to(matcher)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def file_fingerprint(path: Path) -> list[Any]:
    """What changes whenever a file's content can have changed, without reading it."""
    try:
        st = path.stat()
    except OSError as exc:
        return [str(path), f"unreadable: {exc.strerror or exc}"]
    return [str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
            st.st_dev]


def folder_fingerprint(folder: Path) -> list[Any]:
    """Every file in `folder` (not recursive), fingerprinted; the folder may not exist."""
    try:
        names = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return [str(folder), "absent"]
    return [file_fingerprint(p) for p in names]


def data_plugins(hooks: Any) -> list[list[str]]:
    """(hook, plugin name, origin) for every plugin implementing a data hook."""
    found = []
    for hook in DATA_HOOKS:
        for impl in getattr(hooks.hook, hook).get_hookimpls():
            found.append([hook, impl.plugin_name,
                          hooks.origins.get(impl.plugin_name, "registered directly")])
    return found


def only_builtin_data(hooks: Any) -> bool:
    return all(name in BUILTIN_DATA_PLUGINS for _, name, _ in data_plugins(hooks))


def make_key(*parts: Any) -> str:
    material = json.dumps([FORMAT, code_fingerprint(), date.today().isoformat(), *parts],
                          sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


# ----- the folder and its secret -----
def _check_private(path: Path, what: str) -> None:
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise CacheUnusable(f"{path}: the {what} belongs to another user")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheUnusable(f"{path}: others can write the {what}")


def _secret(folder: Path) -> bytes:
    """The folder's HMAC key, created once (atomically: a linked temporary file)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private(folder, "index cache folder")
    key_path = folder / _KEY_FILE
    if not key_path.exists():
        fd, tmp = tempfile.mkstemp(prefix=".key.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
            with contextlib.suppress(FileExistsError):  # another run made one first
                os.link(tmp, key_path)
        finally:
            os.unlink(tmp)
    _check_private(key_path, "index cache secret")
    key = key_path.read_bytes()
    if len(key) != 32:
        raise CacheUnusable(f"{key_path}: not a 32-byte secret")
    return key


# ----- pickling -----
def _lru_cached(method: Callable[..., Any], maxsize: int | None, typed: bool) -> Any:
    return functools.lru_cache(maxsize=maxsize, typed=typed)(method)


@functools.cache
def _plain_dataclass_fields(cls: Any) -> tuple[str, ...] | None:
    """The field names of a dataclass that its constructor rebuilds exactly (every field an
    `__init__` argument, no `__post_init__`), else None."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    fields = dataclasses.fields(cls)
    if not all(f.init for f in fields):
        return None
    return tuple(f.name for f in fields)


class _Pickler(pickle.Pickler):
    """Two reductions that keep a cached index fast to load and possible to write:
    - an lru_cache wrapped around a bound method (a per-instance memo) is stored as the
      method and its cache size: the memo's contents are not worth keeping;
    - a plain dataclass is stored as a constructor call with its field values (the default
      for a slotted dataclass calls a Python `__setstate__` per object: three times slower
      for the hundreds of thousands of name tokens an index holds)."""

    def reducer_override(self, obj: Any) -> Any:
        cls: Any = type(obj)
        if cls is _LRU_TYPE and inspect.ismethod(getattr(obj, "__wrapped__", None)):
            params = obj.cache_parameters()
            return _lru_cached, (obj.__wrapped__, params["maxsize"], params["typed"])
        names = _plain_dataclass_fields(cls) if not isinstance(obj, type) else None
        if names is not None:
            return cls, tuple(getattr(obj, name) for name in names)
        return NotImplemented


class _Signing:
    """A binary file that feeds everything written to it into an HMAC as well (the pickle is
    streamed to disk, never held in memory beside the index it encodes)."""

    def __init__(self, handle: BinaryIO, mac: hmac.HMAC) -> None:
        self.handle, self.mac = handle, mac

    def write(self, data: bytes) -> int:
        self.mac.update(data)
        return self.handle.write(data)


# ----- reading and writing -----
def read(folder: Path, key: str, *, freeze: bool = False) -> tuple[dict[str, Any], Any]:
    """(header, value) of the cache file for `key`; `CacheUnusable` when absent or not
    trustworthy.  Nothing is unpickled before the HMAC matched.  `freeze`: move what was
    loaded out of the garbage collector's sight for the rest of the process (`gc.freeze`:
    no collection pass walks the index again, and forked workers share its pages longer);
    for one-shot runs only: frozen reference cycles are never freed."""
    path = folder / f"{key}.idx"
    secret = _secret(folder)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CacheUnusable(f"{path}: not built yet") from None
    _check_private(path, "index cache file")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 40:
        raise CacheUnusable(f"{path}: not an index cache file")
    start = len(MAGIC)
    mac, size = data[start:start + 32], int.from_bytes(data[start + 32:start + 40], "big")
    body = memoryview(data)[start + 32:]
    if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()):
        raise CacheUnusable(f"{path}: checksum mismatch (truncated, corrupt or not written "
                            f"with this folder's secret)")
    header = json.loads(bytes(body[8:8 + size]))
    if header.get("format") != FORMAT or header.get("key") != key:
        raise CacheUnusable(f"{path}: written for another key")
    enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of objects: no collection passes while they load
    try:
        # the HMAC above proved these bytes were written by this cache with its secret
        value = pickle.loads(body[8 + size:])  # noqa: S301
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()
    return header, value


def write(folder: Path, key: str, header: dict[str, Any], value: Any) -> Path:
    """Write the cache file for `key` atomically (0600), then drop all but the newest."""
    secret = _secret(folder)
    head = json.dumps({**header, "format": FORMAT, "key": key}).encode()
    path = folder / f"{key}.idx"
    with replacing(path, prefix=f".{key[:16]}.") as handle:
        handle.write(MAGIC + bytes(32))  # the HMAC goes here once the body is written
        signing = _Signing(handle, hmac.new(secret, digestmod=hashlib.sha256))
        signing.write(len(head).to_bytes(8, "big") + head)
        _Pickler(signing, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        handle.seek(len(MAGIC))
        handle.write(signing.mac.digest())
    _prune(folder)
    return path


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.idx"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in files[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


def load_or_build(folder: Path, key: str, build: Callable[[], Any],
                  header: Callable[[Any], dict[str, Any]], *, freeze: bool = False) -> Any:
    """The value cached under `key`, else `build()`, then written under `key`.  A cache that
    cannot be used is logged and bypassed, never fatal."""
    try:
        return read(folder, key, freeze=freeze)[1]
    except CacheUnusable as exc:
        log.info("index cache: %s", exc)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError,
            ImportError, TypeError) as exc:
        log.warning("index cache: %s/%s.idx unreadable (%s); rebuilding", folder, key, exc)
    value = build()
    try:
        write(folder, key, header(value), value)
    except (OSError, CacheUnusable, pickle.PicklingError, TypeError, AttributeError) as exc:
        log.warning("index cache: cannot write in %s (%s); the index is used uncached",
                    folder, exc)
    return value


def builtin_inputs(data_dir: Path, paths: Iterable[Path]) -> list[Any]:
    """Fingerprints of what the built-in data plugins and the given files read."""
    package = Path(entityscan.__path__[0])
    return [folder_fingerprint(package / "lists" / "bundled"),
            folder_fingerprint(package / "relations"),
            folder_fingerprint(package / "matcher"),
            folder_fingerprint(data_dir / "csl"),
            [file_fingerprint(Path(p)) for p in paths]]
