"""Signature engine: hostile values (size, backtracking bait, control bytes), bad rule files,
public API shape."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from entityscan.scanners.errors import ScannerError
from entityscan.scanners.signatures import SignatureError, evaluate, extract, kinds, load_signatures
from entityscan.scanners.signatures.engine import RULES_DIR

SIGNATURES = load_signatures([RULES_DIR])
MB = 1024 * 1024

# Shapes that make backtracking regexes blow up: long runs of what a repeat accepts, followed
# by something that makes the overall match fail, and near-misses of every marker.
ADVERSARIAL = {
    "spaces": " " * MB,
    "letters": "a" * MB + "!",
    "digits": "9" * MB,
    "open-tags": "<DeviceInfo>" * (MB // 12),
    "almost-xml": "<model>" + "A" * MB,
    "key-lines": "deviceType=" + "x" * MB,
    "many-lines": "updateSerial=\n" * (MB // 14),
    "json-ish": '{"method":"client.notifyDevInfo","DeviceType":"' + "\\" * MB,
    "realm": 'Digest realm="Login to ' + "A" * MB,
    "percent": "%2" * (MB // 2),
    "dashes": "DS-" + "-" * MB,
    "probe-matches": "<ProbeMatch>" * (MB // 12),
    "nul-and-controls": "\x00\x01\x1b[31m" * (MB // 8),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_megabyte_values_finish_fast_on_every_kind(name):
    value = ADVERSARIAL[name]
    started = time.perf_counter()
    for kind in SIGNATURES.kinds():
        for field in ("reply", "Manufacturer", "Model", "instance", "srv", "OEMInfo", "x"):
            for ev in SIGNATURES.evaluate(kind, value, probe="test", field=field):
                assert len(ev.value) <= 200
                assert all(len(v) <= 128 for v in ev.fields.values())
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"{name}: {elapsed:.2f}s over all kinds"


@pytest.mark.parametrize("kind", SIGNATURES.kinds())
def test_each_rule_is_linear_on_untruncated_input(kind):
    """Bypass truncation: every pattern on 256 KiB of bait.  Linear work is a few ms; a
    quadratic pattern needs ~10^10 steps here (minutes), so a generous budget still catches it."""
    for compiled in SIGNATURES._set(kind).rules:
        # Generic bait plus each example cut short: near-misses of the rule's own markers.
        own = [ex.value[: max(4, len(ex.value) // 2)] for ex in compiled.rule.examples]
        for bait in ("a", " \t", "<model>", "=\n", "DS-2", '"Login to A', "%20", "9", "<",
                     *own):
            big = bait * (256 * 1024 // len(bait))
            started = time.perf_counter()
            compiled.regex.search(big)
            assert time.perf_counter() - started < 0.5, (kind, compiled.rule.id, bait)


def test_values_are_truncated_before_matching():
    padded = "Hikvision-Webs" + " " * 300 + "x"
    assert evaluate("http_server", padded, probe="http", field="Server")[0].indicates == \
        "Hikvision"  # truncated to 256 then stripped
    hidden = "x" * 70000 + "<DeviceInfo><model>DS-2CD2143G2-I</model></DeviceInfo>"
    assert evaluate("http_body", hidden, probe="http", field="/") == []


def test_evaluate_and_extract_public_api():
    ev = evaluate("firmware", "V5.5.0build 190101", probe="sadp", field="SoftwareVersion")
    assert [e.rule for e in ev] == ["firmware/hikvision-firmware"]
    assert ev[0].indicates == "Hikvision" and ev[0].fields["build_date"] == "190101"
    assert ev[0].probe == "sadp" and ev[0].field == "SoftwareVersion"
    assert extract("firmware", "2.800.0000000.0.R, build: 2022-08-26") == {
        "firmware": "2.800.0000000.0.R, build: 2022-08-26", "version": "2.800.0000000.0.R",
        "build_date": "2022-08-26"}
    assert extract("http_server", "nginx") == {}
    assert "oui" in kinds() and "sadp" in kinds()


def test_evidence_fields_round_trip_and_default():
    from entityscan.scanners.inventory import Evidence

    ev = evaluate("firmware", "V5.7.3 build 220315", probe="onvif", field="FirmwareVersion")[0]
    assert Evidence.model_validate_json(ev.model_dump_json()) == ev
    assert Evidence(probe="p", field="f", value="v").fields == {}


def test_chaining_judges_extracted_fields():
    ev = evaluate("onvif_info", "IPC-HDW5442TM-AS", probe="onvif", field="Model")
    assert [e.rule for e in ev] == ["onvif_info/model", "model/dahua-ipc"]
    assert ev[1].indicates == "Dahua" and ev[1].fields["device_class"] == "camera"


def test_field_scoped_rules_only_run_for_their_fields():
    assert evaluate("onvif_info", "88", probe="onvif", field="HardwareId")[0].indicates == \
        "Hikvision"
    # `88` as a Model is just a model
    assert all(e.indicates is None
               for e in evaluate("onvif_info", "88", probe="onvif", field="Model"))


def test_scopes_are_percent_decoded():
    ev = evaluate("onvif_scope", "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I",
                  probe="wsd", field="Scopes")
    assert ev[0].fields == {"model": "DS-2CD2143G2-I"}


def test_ipc_prefix_alone_is_not_dahua():
    for model in ("IPC-B140H", "IPC-T240H", "IPC-A22EP"):
        assert all(e.indicates != "Dahua"
                   for e in evaluate("model", model, probe="onvif", field="Model")), model


def test_empty_none_and_bytes_values():
    assert evaluate("http_server", "", probe="http", field="Server") == []
    assert evaluate("http_server", None, probe="http", field="Server") == []
    raw = b"\xef\xbb\xbf<!DOCTYPE html>\r\n<html>\xff\xfe"
    # A BOM before the doctype is a shape many makers share: no claim (it once said Dahua).
    assert [e.indicates for e in evaluate("http_body", raw, probe="http", field="/")] == []
    assert evaluate("http_server", b"DNVRS-Webs\xff", probe="http",
                    field="Server") == []  # decoded with replacement: not the exact name
    assert evaluate("http_server", b"DNVRS-Webs", probe="http",
                    field="Server")[0].indicates == "Hikvision"


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(SignatureError, match="no signature rule file for kind 'nope'"):
        evaluate("nope", "x", probe="p", field="f")
    assert issubclass(SignatureError, ScannerError)


# --- bad rule files --------------------------------------------------------------------------

GOOD_RULE = """\
kind: {kind}
description: test
rules:
  - id: r1
    pattern: '{pattern}'
    indicates: Hikvision
    certainty: solid
    description: d
    source: s
    {extra}
    examples:
      - value: abc
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(("pattern", "extra", "message"), [
    ("^(abc", "", r"rule 'r1': field 'pattern'.*does not compile"),
    ("^(a+)+$", "", r"rule 'r1': field 'pattern'.*nested|nests an unbounded repeat"),
    ("^(?:x*y)*$", "", r"nests an unbounded repeat"),
    ("abc", "", r"rule 'r1': field 'pattern': not anchored"),
    ("^(?P<model>abc)$", "", r"rule 'r1': field 'fields': declares \[\] but the pattern's "
                             r"named groups are \['model'\]"),
    ("^abc$", "certainty_typo: solid", r"rule 'r1': field 'certainty_typo'"),
    ("^abc$", "kind: vendor", r"rule 'r1': field 'kind'"),
    ("^abc$", "chain: {model: model}", r"field 'chain'"),
])
def test_bad_rule_file_names_file_rule_and_field(tmp_path, pattern, extra, message):
    folder = write(tmp_path, "http_server.yaml",
                   GOOD_RULE.format(kind="http_server", pattern=pattern, extra=extra))
    with pytest.raises(SignatureError, match=message) as info:
        load_signatures([folder])
    assert "http_server.yaml" in str(info.value)


def test_bad_yaml_and_wrong_kind_and_duplicates(tmp_path):
    folder = write(tmp_path, "aa.yaml", "kind: [unclosed")
    with pytest.raises(SignatureError, match=r"aa\.yaml: cannot read rule file"):
        load_signatures([folder])
    folder = write(tmp_path, "aa.yaml", GOOD_RULE.format(kind="bb", pattern="^abc$", extra=""))
    with pytest.raises(SignatureError, match=r"aa\.yaml: field 'kind': 'bb' must equal"):
        load_signatures([folder])
    doubled = GOOD_RULE.format(kind="aa", pattern="^abc$", extra="") + \
        GOOD_RULE.format(kind="aa", pattern="^abc$", extra="").split("rules:\n", 1)[1]
    folder = write(tmp_path, "aa.yaml", doubled)
    with pytest.raises(SignatureError, match=r"rule 'r1': field 'id': duplicate id"):
        load_signatures([folder])
    with pytest.raises(SignatureError, match="does not exist"):
        load_signatures([tmp_path / "missing"])


def test_user_directory_overrides_a_bundled_kind(tmp_path):
    folder = write(tmp_path, "http_server.yaml",
                   GOOD_RULE.format(kind="http_server", pattern="^abc$", extra=""))
    merged = load_signatures([RULES_DIR, folder])
    assert [r.id for r in merged.rules("http_server")] == ["r1"]
    assert merged.evaluate("http_server", "abc", probe="p", field="Server")[0].rule == \
        "http_server/r1"
    assert "sadp" in merged.kinds()
