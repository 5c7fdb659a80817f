"""Identification of one live host: which read-only probes it gets, bounded by its own caps.

The pipeline (`entityscan.scanners.pipeline`) starts this as soon as a host shows itself (a
first open port or a discovery answer); a slow or hostile host only ever spends its own
budget.  Probes: HTTP(S) and the TLS certificate, RTSP, the vendor binary services (8000,
37777), service greetings (telnet, FTP, SSH), the UPnP description its SSDP answer points to,
SNMP with the user's own credentials, and ONVIF for hosts that look like cameras.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from entityscan.scanners.assembly import Candidate
from entityscan.scanners.credentials import Credentials
from entityscan.scanners.discovery import wsd
from entityscan.scanners.discovery.base import DiscoveryReply
from entityscan.scanners.netutil import RateLimiter
from entityscan.scanners.portplan import PortPlan
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.banner import read_greeting
from entityscan.scanners.probes.http import probe_http
from entityscan.scanners.probes.onvif import probe_onvif
from entityscan.scanners.probes.rtsp import probe_rtsp
from entityscan.scanners.probes.sdk import probe_sdk
from entityscan.scanners.probes.snmp import probe_snmp
from entityscan.scanners.probes.tls import probe_tls
from entityscan.scanners.probes.upnp import probe_description

#: Signal kinds that make a web server look like a camera's (worth an ONVIF query).
CAMERA_TELLS = ("http_realm", "http_path", "rtsp_server", "sdk_reply")


@dataclass
class HostContext:
    """What identifying one host needs from the scan."""

    ports: PortPlan
    credentials: Credentials
    limiter: RateLimiter
    per_host: int
    budget: float
    #: The discovery answers heard from this host so far (they keep arriving while it is probed).
    replies: Callable[[], list[DiscoveryReply]]


async def identify(cand: Candidate, client: httpx.AsyncClient, ctx: HostContext) -> None:
    """Run every probe this host's open ports and answers call for, within `ctx.budget`."""
    plan = ctx.ports
    credential = ctx.credentials.for_address(cand.address)
    pair = credential.pair if credential else None
    per_host = asyncio.Semaphore(ctx.per_host)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def run(probe: Awaitable[Observations]) -> None:
        async with per_host:
            await ctx.limiter.wait(urgent=True)
            cand.observations.extend(await probe)

    web_answered: set[int] = set()

    async def web(port: int, tls: bool) -> Observations:
        obs = await probe_http(client, cand.address, port, tls=tls, credentials=pair,
                               budget=ctx.budget)
        if obs.answered:
            web_answered.add(port)
        return obs

    jobs: list[Awaitable[None]] = []
    for port in sorted(cand.open_ports):
        service = plan.service_of(port)
        if service in ("http", "https"):
            tls = service == "https"
            jobs.append(run(web(port, tls)))
            if tls:
                jobs.append(run(probe_tls(cand.address, port)))
        elif service == "rtsp":
            jobs.append(run(probe_rtsp(cand.address, port)))
        elif service == "sdk":
            jobs.append(run(probe_sdk(cand.address, port)))
    for service, port in plan.greeting_ports:
        jobs.append(run(_greeting_if_open(cand, service, port)))
    snmp = ctx.credentials.snmp_for(cand.address)
    if snmp is not None:
        jobs.append(run(probe_snmp(cand.address, plan.snmp, snmp)))
    try:
        async with asyncio.timeout(ctx.budget + 1.0):
            await asyncio.gather(*jobs, return_exceptions=True)
            left = max(0.5, ctx.budget - (loop.time() - started))
            # The UPnP description (its URL came with the SSDP answer, which may have arrived
            # while the other probes ran) and ONVIF SOAP (a read-only POST, only to hosts that
            # look like cameras) come last.
            follow_ups = [run(probe_description(client, cand.address, location,
                                                timeout=min(3.0, left)))
                          for location in _upnp_locations(ctx.replies())[:1]]
            onvif_target = _onvif_endpoint(cand, ctx, web_answered,
                                           with_credentials=pair is not None)
            if onvif_target and not cand.observations.hostile:
                scheme, port, path = onvif_target
                follow_ups.append(run(probe_onvif(client, cand.address, port, scheme=scheme,
                                                  path=path, credentials=pair, budget=left)))
            await asyncio.gather(*follow_ups, return_exceptions=True)
    except TimeoutError:
        cand.observations.errors.append(f"probes did not finish within {ctx.budget:g}s")


async def _greeting_if_open(cand: Candidate, service: str, port: int) -> Observations:
    """A greeting port is not swept: a refused connection here is normal and not reported."""
    obs = await read_greeting(cand.address, port, service)
    if not obs.answered and all("ConnectionRefused" in e or "Errno 111" in e
                                for e in obs.errors):
        return Observations()
    if obs.answered:
        cand.open_ports.add(port)
    return obs


def _upnp_locations(replies: list[DiscoveryReply]) -> list[str]:
    return [str(r.fields["LOCATION"]) for r in replies
            if r.protocol == "ssdp" and r.fields.get("LOCATION")]


def _onvif_endpoint(cand: Candidate, ctx: HostContext, web_answered: set[int], *,
                    with_credentials: bool) -> tuple[str, int, str] | None:
    replies = ctx.replies()
    for reply in replies:
        if reply.protocol == "wsd":
            found = wsd.xaddr_for(reply, cand.address)
            if found:
                return found
    plan = ctx.ports
    signals = cand.observations.signals
    camera_like = with_credentials or any(r.protocol != "ssdp" for r in replies) or any(
        port in plan.rtsp for port in cand.open_ports) or any(
        sig.kind in CAMERA_TELLS for sig in signals)
    if not camera_like:
        return None
    # Only a web server that answered at all: a silent port would only cost a second wait.
    for port in sorted(web_answered):
        if port in plan.http:
            return "http", port, "/onvif/device_service"
    return None
