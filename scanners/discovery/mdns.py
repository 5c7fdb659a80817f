"""mDNS / DNS-SD browsing (zeroconf, async) for camera-relevant service types.

Hikvision units advertise `_CGI._tcp` with instance `HIKVISION <model> - <serial tail>` and an
SRV target `<serial>.local`; Axis advertises `_axis-video._tcp`.  Browsing is passive listening
plus standard queries on the chosen interfaces only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from entityscan.scanners.discovery.base import DiscoveryReply
from entityscan.scanners.netutil import LocalInterface
from entityscan.scanners.probes import Observations

SERVICE_TYPES = (
    "_CGI._tcp.local.",
    "_axis-video._tcp.local.",
    "_http._tcp.local.",
    "_rtsp._tcp.local.",
    "_onvif._tcp.local.",
    "_psia._tcp.local.",
    "_hap._tcp.local.",
    "_device-info._tcp.local.",
)
#: TXT entries judged per service (the rest of a long record is ignored).
MAX_TXT_ENTRIES = 16

MAX_SERVICES = 2000


def observe(reply: DiscoveryReply) -> Observations:
    """A resolved service as three `mdns` signals: the full instance name, the service type
    and the SRV target host, each written the way DNS-SD spells it (trailing dot)."""
    obs = Observations()
    service_type = str(reply.fields.get("type") or "")
    obs.signal("mdns", f"{reply.fields.get('name')}.{service_type}.local.", "mdns", "instance")
    obs.signal("mdns", f"{service_type}.local.", "mdns", "type")
    if reply.fields.get("server"):
        obs.signal("mdns", f"{reply.fields.get('server')}.", "mdns", "srv")
    txt = reply.fields.get("txt")
    if isinstance(txt, dict):
        for key, value in list(txt.items())[:MAX_TXT_ENTRIES]:
            obs.signal("mdns_txt", f"{key}={value}", "mdns", f"{service_type}.local.")
    return obs


async def browse(interfaces: list[LocalInterface], wait: float,
                 keep: Callable[[str], bool]) -> tuple[list[DiscoveryReply], list[str]]:
    """Browse for `wait` seconds on `interfaces`; return replies whose address passes `keep`."""
    from zeroconf import IPVersion, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    errors: list[str] = []
    if not interfaces or wait <= 0:
        return [], errors
    seen: set[tuple[str, str]] = set()

    def on_change(zeroconf: object, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed and len(seen) < MAX_SERVICES:
            seen.add((service_type, name))

    try:
        azc = AsyncZeroconf(interfaces=[str(i.address) for i in interfaces],
                            ip_version=IPVersion.V4Only)
    except OSError as exc:
        return [], [f"mdns: cannot open a multicast socket ({exc})"]
    replies: list[DiscoveryReply] = []
    browser = None
    try:
        browser = AsyncServiceBrowser(azc.zeroconf, list(SERVICE_TYPES), handlers=[on_change])
        await asyncio.sleep(max(0.0, wait * 0.6))
        infos = [AsyncServiceInfo(stype, name) for stype, name in sorted(seen)]
        timeout_ms = max(100, int(wait * 400))
        await asyncio.gather(*(info.async_request(azc.zeroconf, timeout_ms) for info in infos),
                             return_exceptions=True)
        for info in infos:
            for address in info.parsed_addresses():
                if not keep(address):
                    continue
                txt = {}
                for key, value in (info.properties or {}).items():
                    if isinstance(key, bytes):
                        txt[key.decode("utf-8", "replace")[:64]] = \
                            (value or b"").decode("utf-8", "replace")[:256]
                replies.append(DiscoveryReply("mdns", address, {
                    "type": info.type.removesuffix(".local."),
                    "name": info.name.removesuffix("." + info.type)[:256],
                    "server": (info.server or "").removesuffix(".")[:256],
                    "port": info.port,
                    "txt": txt,
                }))
    except Exception as exc:  # zeroconf is robust, but a scan must survive anything here
        errors.append(f"mdns: browsing failed ({type(exc).__name__}: {exc})")
    finally:
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.async_cancel()
        with contextlib.suppress(Exception):
            await azc.async_close()
    return replies, errors
