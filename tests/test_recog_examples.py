"""rapid7/recog's examples (fixtures/recog/examples.jsonl, BSD-2-Clause) through entityscan's own
rules and attribution: every example whose fingerprint asserts Hikvision, Dahua or one of their
labels is found, and none of the thousands of others draws a claim for them.

Values are given as the probes pass them: FTP greetings with their `220`, SSH identification
strings with their `SSH-2.0-` (recog's fingerprints match the text after those)."""

from __future__ import annotations

from typing import Any

import pytest

from entityscan.relations import load_relations
from entityscan.scanners.attribution import attribute
from entityscan.scanners.inventory import Device
from entityscan.scanners.signals import evaluate
from tests import recog_examples

RECORDS = recog_examples.load()
LISTED = {"Hikvision", "Dahua"}
RELATIONS = load_relations()
#: Labels of the listed makers (the brands data), each with its maker.
LABELS = {r.brand.casefold(): r.maker for r in RELATIONS if r.maker in LISTED}


def probe_value(record: dict[str, Any]) -> str:
    value = record["value"]
    if record["kind"] == "ftp_banner":
        return f"220 {value}"
    if record["kind"] == "ssh_banner":
        return f"SSH-2.0-{value}"
    if record["kind"] == "telnet_banner":
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value


def judged(record: dict[str, Any]) -> Device:
    evidence = evaluate(record["kind"], probe_value(record), probe="recog",
                        field=record["field"])
    return attribute(Device(addresses=["192.0.2.1"], evidence=evidence))


def asserts_listed(record: dict[str, Any]) -> bool:
    return any(v in LISTED or v.casefold() in LABELS for v in record["asserts"])


POSITIVES = [r for r in RECORDS if asserts_listed(r)]
NEGATIVES = [r for r in RECORDS if not asserts_listed(r)]


def test_the_fixture_is_the_whole_extract() -> None:
    assert len(RECORDS) > 5000 and len(POSITIVES) == 11
    assert all(r["file"].startswith("xml/") and r["line"] > 0 for r in RECORDS)


@pytest.mark.parametrize("record", POSITIVES, ids=lambda r: f"{r['file']}:{r['line']}")
def test_examples_for_listed_makers_and_labels_are_found(record: dict[str, Any]) -> None:
    device = judged(record)
    named = {e.indicates for e in device.evidence if e.indicates}
    wanted = {v for v in record["asserts"]} | {LABELS[v.casefold()] for v in record["asserts"]
                                                if v.casefold() in LABELS}
    assert named & wanted, (record, [e.rule for e in device.evidence])


def test_no_other_example_draws_a_listed_claim() -> None:
    claims = []
    for record in NEGATIVES:
        evidence = evaluate(record["kind"], probe_value(record), probe="recog",
                            field=record["field"])
        bad = [e.rule for e in evidence
               if e.indicates in LISTED or (e.indicates or "").casefold() in LABELS]
        if bad:
            claims.append((record["file"], record["line"], record["value"][:60], bad))
    print(f"\n{len(NEGATIVES)} recog examples of other makers: {len(claims)} listed claims")
    assert claims == []
