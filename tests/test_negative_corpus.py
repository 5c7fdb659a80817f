"""Every signature rule against a corpus of other makers' real-format banners: no Hikvision or
Dahua claim may come out, whatever kind and field a value is judged as.

The corpus: every rapid7/recog example whose fingerprint names another maker (or none), and the
other makers' Nmap-derived responses (status lines, headers, bodies, binary answers).  Each
value is judged as every signal kind, for every field a kind's rules are scoped to: a rule that
claims a maker on a shape other vendors share fails here, whatever probe would feed it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from entityscan.relations import load_relations
from entityscan.scanners.signatures import load_signatures
from entityscan.scanners.signatures.engine import RULES_DIR
from tests import recog_examples

SIGNATURES = load_signatures([RULES_DIR])
LISTED = {"Hikvision", "Dahua"}
LABELS = {r.brand.casefold() for r in load_relations() if r.maker in LISTED}
NMAP = Path(__file__).resolve().parent.parent / "fixtures" / "nmap_literals" / "responses.yaml"


def corpus() -> Iterator[tuple[str, str]]:
    """(where, value) for every negative banner."""
    for record in recog_examples.load():
        if not any(v in LISTED or v.casefold() in LABELS for v in record["asserts"]):
            yield f"recog {record['file']}:{record['line']}", record["value"]
    for item in yaml.safe_load(NMAP.read_text(encoding="utf-8"))["items"]:
        if item["truth"]:
            continue
        where = f"nmap-service-probes line {item['line']}"
        if "hex" in item:
            raw = bytes.fromhex(item["hex"])
            yield where, raw.hex()
            yield where, raw.decode("latin-1")
            continue
        yield where, item["head"]
        yield where, item.get("body") or ""
        for line in item["head"].split("\r\n"):
            name, _, value = line.partition(": ")
            yield where, value or name


def fields_of(kind: str) -> list[str]:
    scoped = {f for rule in SIGNATURES.rules(kind) for f in rule.on_fields}
    return [*sorted(scoped), "value"]


def test_no_rule_claims_a_listed_maker_on_other_makers_banners() -> None:
    values = [(where, value) for where, value in corpus() if value]
    assert len(values) > 5000
    claims = []
    judged = 0
    for kind in SIGNATURES.kinds():
        for field in fields_of(kind):
            for where, value in values:
                judged += 1
                for ev in SIGNATURES.evaluate(kind, value, probe="corpus", field=field):
                    if ev.indicates in LISTED or (ev.indicates or "").casefold() in LABELS:
                        claims.append((ev.rule, where, value[:80]))
    print(f"\n{len(values)} negative banners judged {judged} ways: {len(claims)} listed claims")
    assert claims == [], claims[:20]


def test_the_corpus_holds_the_shapes_that_used_to_be_called_dahua() -> None:
    """The pages a former rule attributed to Dahua (a BOM before the doctype) are in it."""
    bodies = [value for where, value in corpus() if value.startswith("\ufeff<!")]
    assert len(bodies) >= 5
