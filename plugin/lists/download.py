"""Downloading a list file: bounded in bytes and, as a whole, in time.

httpx's timeouts bound each network operation, so a server that sends a byte a second never
trips them; the download therefore runs under one `asyncio.timeout` that cancels it, wherever
it is, when `timeout` seconds have passed since it started.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from entityscan.errors import ListError

USER_AGENT = "entityscan-list-update"


async def _fetch(url: str, dest: Path, timeout: float, max_bytes: int) -> str | None:
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True,
                                 headers={"User-Agent": USER_AGENT}) as client, \
            client.stream("GET", url) as response:
        if response.status_code != 200:
            raise ListError(f"{url}: HTTP {response.status_code} "
                            f"{response.reason_phrase}; kept the installed copy")
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/xhtml+xml"):
            raise ListError(f"{url}: the server answered with an HTML page ({ctype}), "
                            "not a CSL CSV/JSON file; kept the installed copy")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise ListError(f"{url}: {int(declared):,} bytes announced, more than the "
                            f"{max_bytes:,}-byte limit")
        received = 0
        with open(dest, "wb") as out:
            async for block in response.aiter_bytes(1 << 16):
                received += len(block)
                if received > max_bytes:
                    raise ListError(f"{url}: more than {max_bytes:,} bytes; refusing")
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        return response.headers.get("last-modified")


async def _bounded(url: str, dest: Path, timeout: float, max_bytes: int) -> str | None:
    async with asyncio.timeout(timeout):
        return await _fetch(url, dest, timeout, max_bytes)


def download(url: str, dest: Path, *, timeout: float, max_bytes: int) -> str | None:
    """Fetch `url` into `dest` within `timeout` seconds in all; returns Last-Modified."""
    try:
        return asyncio.run(_bounded(url, dest, timeout, max_bytes))
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise ListError(f"{url}: not downloaded within {timeout:g} s (timed out); kept the "
                        f"installed copy") from exc
    except httpx.HTTPError as exc:
        raise ListError(f"{url}: download failed: {exc}; kept the installed copy") from exc
