"""Targets: addresses, CIDRs and ranges expand lazily, bounded, with clear errors."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from entityscan.scanners.targets import TargetError, TargetSet, parse_target


@pytest.mark.parametrize(("text", "first", "last", "size"), [
    ("10.0.0.7", "10.0.0.7", "10.0.0.7", 1),
    ("10.0.0.0/24", "10.0.0.1", "10.0.0.254", 254),
    ("10.0.0.0/31", "10.0.0.0", "10.0.0.1", 2),
    ("10.0.0.1-10.0.0.50", "10.0.0.1", "10.0.0.50", 50),
    ("10.0.0.1-50", "10.0.0.1", "10.0.0.50", 50),
    (" 10.0.1.250-10.0.2.3 ", "10.0.1.250", "10.0.2.3", 10),
    ("fe80::1", "fe80::1", "fe80::1", 1),
    ("2001:db8::/126", "2001:db8::", "2001:db8::3", 4),
])
def test_parse_forms(text: str, first: str, last: str, size: int) -> None:
    spec = parse_target(text)
    assert (str(spec.first), str(spec.last), spec.size) == (first, last, size)
    assert next(str(a) for a in spec) == first and len(list(spec)) == size


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty target"),
    ("10.0.0.300", "is not an address"),
    ("camera.local", "is not an address"),
    ("10.0.0.50-10.0.0.1", "ends before it starts"),
    ("10.0.0.1-300", "above 255"),
    ("10.0.0.1-fe80::1", "both ends"),
    ("10.0.0.0/33", "is not an address"),
])
def test_bad_targets_name_the_text(text: str, fragment: str) -> None:
    with pytest.raises(TargetError, match=fragment) as info:
        parse_target(text)
    if text.strip():
        assert text.strip() in str(info.value)


def test_size_cap_refuses_before_expanding() -> None:
    with pytest.raises(TargetError, match="more than the limit"):
        TargetSet.parse(["10.0.0.0/8"])
    with pytest.raises(TargetError, match="limit of 100"):
        TargetSet.parse(["10.0.0.0/24"], max_addresses=100)
    with pytest.raises(TargetError, match="no targets"):
        TargetSet.parse([])


def test_lazy_iteration_dedup_and_membership() -> None:
    targets = TargetSet.parse(["10.1.0.0/16", "10.1.0.5", "192.168.9.1-3"])
    assert len(targets) == 65534 + 1 + 3  # an upper bound: overlaps counted per spec
    head = [str(a) for a in itertools.islice(iter(targets), 3)]
    assert head == ["10.1.0.1", "10.1.0.2", "10.1.0.3"]
    everything = list(targets)
    assert len(everything) == 65534 + 3  # 10.1.0.5 not repeated
    assert "10.1.200.4" in targets and ipaddress.ip_address("192.168.9.2") in targets
    assert "10.2.0.1" not in targets and "not-an-ip" not in targets
    assert "fe80::1" not in targets
    assert [str(n) for n in TargetSet.parse(["10.0.0.1-6"]).networks()] == [
        "10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
