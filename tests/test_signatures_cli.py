"""`entityscan signatures --explain` and a user's recog checkout (`--recog-dir`) as a second rule
source: recog is consulted only where entityscan's rules point nowhere, its vendors map to
makers and labels through the brands data, and a generic fingerprint never becomes a maker
claim.  The recog-format files here are written by the test (recog's own patterns are never
copied into the project)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.relations import load_relations
from entityscan.scanners.signatures import load_signatures
from entityscan.scanners.signatures.engine import RULES_DIR
from entityscan.scanners.signatures.recog import Layered, RecogError, load_recog, vendor_map

SERVERS = """<?xml version="1.0"?>
<fingerprints matches="http_header.server" protocol="http">
  <fingerprint pattern="^Acme-(?&lt;ver&gt;\\d+)-Webs\\z">
    <description>a stack a maker's own firmware uses</description>
    <example>Acme-2-Webs</example>
    <param pos="0" name="hw.vendor" value="Hikvision Digital Technology"/>
  </fingerprint>
  <fingerprint pattern="^NightCam/\\h+$" flags="REG_ICASE">
    <description>an OEM label's web server</description>
    <param pos="0" name="service.vendor" value="Lorex"/>
  </fingerprint>
  <fingerprint pattern="^GenericHTTPd">
    <description>a generic server</description>
    <param pos="0" name="service.vendor" value="Generic Software Foundation"/>
  </fingerprint>
  <fingerprint pattern="^(a+)+$">
    <description>a pattern that backtracks catastrophically</description>
    <param pos="0" name="service.vendor" value="Dahua"/>
  </fingerprint>
  <fingerprint pattern="^DNVRS-Webs$">
    <description>already known to entityscan's rules</description>
    <param pos="0" name="service.vendor" value="Dahua"/>
  </fingerprint>
  <fingerprint pattern="^Shaky/[0-9]+$">
    <description>a low-certainty fingerprint</description>
    <param pos="0" name="hw.vendor" value="Dahua"/>
    <param pos="0" name="hw.certainty" value="0.5"/>
  </fingerprint>
</fingerprints>
"""


@pytest.fixture()
def recog_dir(tmp_path: Path) -> Path:
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "http_servers.xml").write_text(SERVERS, encoding="utf-8")
    return tmp_path


def layered(recog_dir: Path) -> Layered:
    known = load_relations()
    recog = load_recog(recog_dir, vendor_map({r.maker for r in known}, [r.brand for r in known]))
    assert (recog.loaded, recog.skipped) == (5, 1)  # the backtracking pattern is skipped
    return Layered(load_signatures([RULES_DIR]), recog)


def judge(rules: Layered, value: str) -> list[tuple[str | None, str, str]]:
    return [(e.indicates, e.kind, e.certainty.value)
            for e in rules.evaluate("http_server", value, probe="http", field="Server")]


def test_recog_is_behind_entityscans_rules_and_maps_through_brands(recog_dir: Path) -> None:
    rules = layered(recog_dir)
    assert judge(rules, "Acme-7-Webs") == [("Hikvision", "platform", "medium")]
    assert judge(rules, "nightcam/0a1f") == [("Lorex", "label", "medium")]
    assert judge(rules, "GenericHTTPd 2.1") == [(None, "platform", "medium")]  # no claim
    assert judge(rules, "DNVRS-Webs") == [("Hikvision", "platform", "solid")]  # ours first
    assert judge(rules, "Shaky/12") == [("Dahua", "platform", "uncertain")]
    assert judge(rules, "a" * 5000 + "b") == []
    evidence = rules.evaluate("http_server", "Acme-7-Webs", probe="http", field="Server")
    assert evidence[0].rule == "recog/xml/http_servers.xml:3"
    assert "BSD-2-Clause" in (evidence[0].source or "")


def test_a_directory_without_recog_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecogError, match="no recog fingerprint files"):
        load_recog(tmp_path, vendor_map([], []))
    code = main(["scan", "127.62.4.1", "--no-multicast", "--recog-dir", str(tmp_path / "none")])
    assert code == 2


def test_explain_names_rule_fields_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signatures", "--explain", "192.0.0.64 login:", "--kind",
                 "telnet_banner"]) == 0
    out = capsys.readouterr().out
    assert "telnet_banner/hikvision-factory-hostname: Hikvision — platform, medium" in out
    assert "rapid7/recog xml/telnet_banners.xml line 765" in out
    assert main(["signatures", "--explain", "1.3.6.1.4.1.1004849.3.1", "--kind", "snmp",
                 "--field", "sysObjectID", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["rule"] for m in doc["matched"]] == ["snmp/dahua-enterprise"]
    assert doc["evidence"][0]["indicates"] == "Dahua"


def test_explain_a_value_no_rule_claims(capsys: pytest.CaptureFixture[str],
                                        recog_dir: Path) -> None:
    assert main(["signatures", "--explain", "\ufeff<!DOCTYPE html>", "--kind", "http_body"]) == 0
    assert "points to no maker" in capsys.readouterr().out
    assert main(["signatures", "--explain", "Acme-3-Webs", "--kind", "http_server",
                 "--recog-dir", str(recog_dir)]) == 0
    out = capsys.readouterr().out
    assert "recog/xml/http_servers.xml:3 (chained or recog): Hikvision" in out


def test_explain_needs_a_known_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signatures", "--explain", "x", "--kind", "nope"]) == 2
    assert "no signature rule file for kind 'nope'" in capsys.readouterr().err
    assert main(["signatures", "--explain", "x"]) == 2
    assert main(["signatures"]) == 0
    assert "sdk_reply" in capsys.readouterr().out
