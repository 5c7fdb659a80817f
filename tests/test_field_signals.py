"""Labelled real-format values per new signal kind, precision and recall asserted.

Each kind's set: hand-labelled values with their sources (`fixtures/field_signals/<kind>.yaml`),
the rapid7/recog examples of that kind (truth: the vendor their fingerprint asserts), and, for
HTTP response shapes, SDK answers and RTSP method lists, the Nmap-derived literal responses
(`fixtures/nmap_literals/responses.yaml`, shapes built by the product's own code).  A value is
claimed when attribution on its evidence alone names a maker at review level or above."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from entityscan.scanners.attribution import attribute
from entityscan.scanners.inventory import Device
from entityscan.scanners.probes.http import Fetched, response_shape
from entityscan.scanners.probes.rtsp import parse_response
from entityscan.scanners.probes.sdk import render
from entityscan.scanners.signals import evaluate
from tests import recog_examples

ROOT = Path(__file__).resolve().parent.parent
REVIEW = 0.3
#: Makers each kind's rules (and the rules they chain to) can name, and the recall it must reach.
TARGETS: dict[str, tuple[set[str], float]] = {
    "http_shape": ({"Hikvision", "Dahua"}, 0.75),
    "sdk_reply": ({"Hikvision", "Dahua"}, 1.0),
    "rtsp_public": ({"Hikvision"}, 0.5),
    "telnet_banner": ({"Hikvision"}, 1.0),
    "ftp_banner": ({"Axis"}, 0.9),
    "ssh_banner": (set(), 1.0),
    "upnp": ({"Hikvision", "Dahua", "Axis"}, 1.0),
    # recog's Axis sysDescr examples name the maker in text only: a label, never attribution.
    "snmp": ({"Hikvision", "Dahua", "Uniview"}, 1.0),
    "mdns_txt": ({"Apple"}, 0.99),
}


def _fetched(item: dict[str, Any]) -> Fetched:
    body = (item.get("body") or "").encode("utf-8")
    lines = item["head"].replace("{length}", str(len(body))).split("\r\n")
    version, status = lines[0].split(" ")[:2]
    raw = [tuple(part.encode("latin-1") for part in line.split(": ", 1)) for line in lines[1:]]
    return Fetched(int(status), httpx.Headers(raw), body, False, "http://192.0.2.1/", version)


def nmap_items(kind: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / "fixtures" / "nmap_literals" / "responses.yaml").read_text(
        encoding="utf-8"))["items"]
    out = []
    for item in data:
        where = f"nmap-service-probes line {item['line']}"
        if kind == "http_shape" and item["protocol"] == "http":
            fetched = _fetched(item)
            # A page whose Server header already names the stack is not what shapes are for.
            named = any(e.indicates for e in evaluate(
                "http_server", fetched.headers.get("server") or "", probe="p", field="Server"))
            out.append({"value": response_shape(fetched), "field": "response shape",
                        "truth": item["truth"], "source": where, "label_only": named})
        elif kind == "sdk_reply" and item["protocol"] == "sdk":
            out.append({"value": render(bytes.fromhex(item["hex"])), "field": "answer",
                        "truth": item["truth"], "source": where})
        elif kind == "rtsp_public" and item["protocol"] == "rtsp":
            parsed = parse_response(item["head"].encode() + b"\r\n\r\n")
            assert parsed is not None
            headers = parsed[1]
            if "server" not in headers and headers.get("public"):
                out.append({"value": headers["public"], "field": "Public",
                            "truth": item["truth"], "source": where})
    return out


def recog_items(kind: str) -> list[dict[str, Any]]:
    prefix = {"ftp_banner": "220 ", "ssh_banner": "SSH-2.0-"}.get(kind, "")
    return [{"value": prefix + r["value"].replace("\r\n", "\n").strip(), "field": r["field"],
             "truth": r["asserts"][0] if r["asserts"] else None,
             "source": f"recog {r['file']}:{r['line']}"}
            for r in recog_examples.load() if r["kind"] == kind]


def labelled(kind: str) -> list[dict[str, Any]]:
    hand = ROOT / "fixtures" / "field_signals" / f"{kind}.yaml"
    items = yaml.safe_load(hand.read_text(encoding="utf-8"))["items"] if hand.exists() else []
    return items + nmap_items(kind) + recog_items(kind)


def claimed(kind: str, item: dict[str, Any]) -> str | None:
    device = attribute(Device(addresses=["192.0.2.1"], evidence=evaluate(
        kind, item["value"], probe="labelled", field=item["field"])))
    return device.maker if device.confidence >= REVIEW else None


def _same(claim: str, truth: str | None) -> bool:
    return truth is not None and truth.casefold().startswith(claim.casefold())


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_precision_and_recall(kind: str) -> None:
    targets, min_recall = TARGETS[kind]
    items = labelled(kind)
    assert len(items) >= 5, kind
    claims = [(item, claimed(kind, item)) for item in items]
    made = [(item, c) for item, c in claims if c is not None]
    wrong = [(item["source"], item["value"][:60], c) for item, c in made
             if not _same(c, item["truth"])]
    # `label_only`: the value names a brand and nothing else (a label is never attribution by
    # itself), or another signal already identifies it: precision counts it, recall does not.
    positives = [(item, c) for item, c in claims
                 if item["truth"] and not item.get("label_only")
                 and any(_same(t, item["truth"]) for t in targets)]
    found = [item for item, c in positives if c is not None and _same(c, item["truth"])]
    precision = 1.0 if not made else (len(made) - len(wrong)) / len(made)
    recall = 1.0 if not positives else len(found) / len(positives)
    print(f"\n{kind}: {len(items)} labelled values, {len(made)} claims, precision "
          f"{precision:.3f}, recall {recall:.3f} ({len(found)}/{len(positives)})")
    assert wrong == []
    assert recall >= min_recall, [i["source"] for i, c in positives if i not in found]
    if not targets:
        assert made == []  # a kind that names no maker claims none
