"""recog-style check of every signature rule file: each example matches its own rule, extracts
exactly the declared fields, and is not shadowed by an earlier rule of the same file."""

from __future__ import annotations

import pytest

from entityscan.scanners.signatures import load_signatures
from entityscan.scanners.signatures.engine import RULES_DIR

SIGNATURES = load_signatures([RULES_DIR])

# Makers and labels a rule may point to: canonical names only (attribution and the matcher
# compare them as strings).
CANONICAL = {
    "Hikvision", "Dahua", "Huawei", "ZTE",
    "Axis", "Bosch", "Hanwha", "Ubiquiti", "Reolink", "Uniview", "Xiongmai", "Apple",
    # labels and OEM registrants
    "EZVIZ", "HiLook", "HiWatch", "ANNKE", "LTS", "Amcrest", "Lorex", "IMOU", "CP PLUS",
    "IC Realtime", "Intelbras", "EmpireTech", "Avaloid", "GenIV", "FLIR",
    "Interlogix TruVision", "Swann",
}

CASES = [
    pytest.param(kind, rule, example, id=f"{kind}/{rule.id}/{n}")
    for kind in SIGNATURES.kinds()
    for rule in SIGNATURES.rules(kind)
    for n, example in enumerate(rule.examples)
]


@pytest.mark.parametrize(("kind", "rule", "example"), CASES)
def test_example_matches_its_rule(kind, rule, example):
    field = example.field or (rule.on_fields[0] if rule.on_fields else "value")
    hits = SIGNATURES.match(kind, example.value, field=field)
    matched = [h.rule.id for h in hits]
    assert rule.id in matched, (
        f"{kind}/{rule.id}: example {example.value!r} is "
        + (f"shadowed by earlier rule {matched[-1]!r}" if matched else "not matched"))
    hit = next(h for h in hits if h.rule.id == rule.id)
    assert hit.fields == example.fields
    if rule.indicates is not None:
        assert rule.indicates in CANONICAL, f"{rule.indicates!r} is not a canonical name"
    evidence = SIGNATURES.evaluate(kind, example.value, probe="test", field=field)
    own = [e for e in evidence if e.rule == f"{kind}/{rule.id}"]
    assert own and own[0].indicates == rule.indicates and own[0].kind == rule.kind
    assert own[0].fields == example.fields
    assert len(own[0].value) <= 200


def test_every_kind_has_rules_and_every_rule_a_source():
    assert len(CASES) > 100
    for kind in SIGNATURES.kinds():
        for rule in SIGNATURES.rules(kind):
            assert rule.source.strip() and rule.description.strip()
