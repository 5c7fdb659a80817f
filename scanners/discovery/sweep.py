"""TCP connect sweep of camera ports with bounded concurrency and rate.

A fixed pool of workers pulls (address, port) pairs from a lazy iterator, so a /16 costs a
few kilobytes of state, not a task per pair.  Only a connect and an immediate close: nothing
is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from entityscan.scanners.netutil import RateLimiter

#: connect() results that mean "answered at once, closed or unreachable".
_REFUSED = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNRESET,
            errno.EACCES, errno.EPERM, errno.EADDRNOTAVAIL}
_LINGER_RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"


def _settle(future: asyncio.Future[bool], writable: bool) -> None:
    if not future.done():
        future.set_result(writable)


async def _try_connect(address: str, port: int, timeout: float) -> bool:
    """A non-blocking connect: attempts that settle inside the call (refused, unreachable)
    cost nothing more; pending ones wait for writability or their timer, whichever is first
    (one future and one timer each: the sweep's cost is this function's)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        # Reset instead of FIN on close: no TIME_WAIT pile-up on either side of a big sweep.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        result = sock.connect_ex((address, port))
        if result == 0:
            return True
        if result in _REFUSED or result not in (errno.EINPROGRESS, errno.EAGAIN,
                                                errno.EALREADY):
            return False
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[bool] = loop.create_future()
        fd = sock.fileno()
        loop.add_writer(fd, _settle, settled, True)
        timer = loop.call_later(timeout, _settle, settled, False)
        try:
            writable = await settled
        finally:
            timer.cancel()
            loop.remove_writer(fd)
        return writable and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    except OSError:
        return False
    finally:
        sock.close()


async def sweep(pairs: Iterable[tuple[str, int]], *, concurrency: int,
                limiter: RateLimiter, connect_timeout: float,
                on_open: Callable[[str, int], None] | None = None,
                on_attempt: Callable[[str], None] | None = None) -> dict[str, set[int]]:
    """Connect to each (address, port); return the open ports per address.  `limiter` is
    shared with the scan's other senders, so the scan as a whole keeps its rate."""
    open_ports: dict[str, set[int]] = defaultdict(set)
    iterator: Iterator[tuple[str, int]] = iter(pairs)

    async def worker() -> None:
        for address, port in iterator:  # shared iterator: each pair goes to one worker
            await limiter.wait()
            if await _try_connect(address, port, connect_timeout):
                open_ports[address].add(port)
                if on_open is not None:
                    on_open(address, port)
            if on_attempt is not None:
                on_attempt(address)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*workers, return_exceptions=True)
    return dict(open_ports)
