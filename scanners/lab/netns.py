"""Entering a named network namespace (`ip netns add NAME`) for socket creation.

A socket belongs to the namespace its creating thread was in, so one simulator process can
serve devices living in many namespaces.  Needs Linux and CAP_SYS_ADMIN (root).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

from entityscan.scanners.lab.errors import LabError

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise LabError(f"setns failed: {os.strerror(errno)} (needs root)")


@contextlib.contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the block with this thread in namespace `name` (None: stay where we are)."""
    if name is None:
        yield
        return
    if "/" in name or name in ("", ".", ".."):
        raise LabError(f"bad namespace name {name!r}")
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY)
    except OSError as exc:
        raise LabError(f"no network namespace {name!r}: {exc.strerror}") from exc
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)
