"""Port plans (`--ports`) and the politeness bounds: rate limit and per-source reply caps."""

from __future__ import annotations

import asyncio
import time

import pytest

from entityscan.scanners.errors import ScannerError
from entityscan.scanners.netutil import RateLimiter, ReplyBox
from entityscan.scanners.scan import PortPlan


def test_port_plan_defaults_and_bare_numbers() -> None:
    default = PortPlan()
    assert set(default.tcp) == {80, 8080, 443, 8443, 554, 8554, 8000, 37777}
    plan = PortPlan.parse(["80,443 554", "8000"])
    assert (plan.http, plan.https, plan.rtsp, plan.sdk) == ((80,), (443,), (554,), (8000,))
    assert plan.service_of(443) == "https" and plan.service_of(9999) == "other"
    assert PortPlan.parse(["81"]).http == (81,)  # unknown ports are tried as HTTP


def test_port_plan_named_services_and_udp_ports() -> None:
    plan = PortPlan.parse(["http:10080,https:10443,rtsp:10554,wsd:13702,sadp:47020"])
    assert (plan.http, plan.https, plan.rtsp, plan.sdk) == ((10080,), (10443,), (10554,), ())
    assert (plan.wsd, plan.sadp, plan.dhip) == (13702, 47020, 37810)
    only_udp = PortPlan.parse(["dhip:47810"])
    assert only_udp.tcp == PortPlan().tcp and only_udp.dhip == 47810


@pytest.mark.parametrize(("spec", "fragment"), [
    ("http:abc", "expected a number"), ("0", "between 1 and 65535"),
    ("70000", "between 1 and 65535"), ("gopher:70", "unknown service"),
])
def test_port_plan_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ScannerError, match=fragment):
        PortPlan.parse([spec])


def test_rate_limiter_spreads_events() -> None:
    async def count(rate: float, seconds: float) -> int:
        limiter = RateLimiter(rate, burst=4)
        events = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await limiter.wait()
            events += 1
        return events

    events = asyncio.run(count(200, 0.5))
    assert 60 <= events <= 200 * 0.5 + 4 + 2


def test_reply_box_bounds_per_source_and_total() -> None:
    box = ReplyBox(per_source=3, total=5)
    assert [box.add("a", i) for i in range(5)] == [True, True, True, False, False]
    assert [box.add("b", i) for i in range(3)] == [True, True, False]
    assert box.count == 5 and box.dropped == {"a": 2, "b": 1}
