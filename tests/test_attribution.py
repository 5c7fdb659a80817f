"""Attribution on labelled evidence bundles (fixtures/attribution/*.yaml): per-device checks,
precision/recall on the whole set, merge by MAC/serial."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from entityscan.scanners.attribution import attribute, merge_devices
from entityscan.scanners.inventory import Certainty, Device, Evidence
from entityscan.scanners.oui import oui_evidence
from entityscan.scanners.signatures import evaluate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "attribution"
LISTED = {"Hikvision", "Dahua", "Huawei", "ZTE"}
ESTABLISHED = 0.4  # "probable or better" (see scanners/attribution.py)
FLAG = 0.75  # entityscan.matcher's default flag_attribution (scanners never imports plugin)
DEFAULT_PROBE = {"sadp": "sadp", "dhip": "dhip", "rtsp_server": "rtsp", "tls_subject": "tls",
                 "onvif_info": "onvif", "onvif_scope": "wsd", "mdns": "mdns"}


def load_bundles() -> list[dict]:
    bundles = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        for record in yaml.safe_load(path.read_text(encoding="utf-8"))["devices"]:
            record["_file"] = path.name
            bundles.append(record)
    return bundles


def build_device(record: dict) -> Device:
    evidence: list[Evidence] = []
    for obs in record.get("observations") or []:
        probe = obs.get("probe") or DEFAULT_PROBE.get(obs["kind"], "http")
        evidence += evaluate(obs["kind"], obs["value"], probe=probe, field=obs["field"])
    if record.get("mac"):
        evidence += oui_evidence(record["mac"])
    return Device(addresses=record.get("addresses", []), evidence=evidence)


BUNDLES = load_bundles()


@pytest.fixture(scope="module")
def attributed() -> dict[str, Device]:
    return {r["id"]: attribute(build_device(r)) for r in BUNDLES}


def test_labelled_set_is_large_and_unique():
    ids = [r["id"] for r in BUNDLES]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("record", BUNDLES, ids=[r["id"] for r in BUNDLES])
def test_device(record, attributed):
    device = attributed[record["id"]]
    truth, expect = record["truth"], record.get("expect") or {}
    why = f"{record['id']}: {device.maker} {device.confidence} {device.reasons}"
    if truth["maker"] is None:
        # Not established (a device with no maker named has confidence 0).
        assert device.confidence < ESTABLISHED, why
    else:
        assert device.maker == truth["maker"], why
    if "brand" in truth:
        assert device.brand == truth["brand"], why
    if "min_confidence" in expect:
        assert device.confidence >= expect["min_confidence"], why
    if "max_confidence" in expect:
        assert device.confidence <= expect["max_confidence"], why
    for name in ("model", "firmware", "serial", "device_class"):
        if name in expect:
            assert getattr(device, name) == expect[name], why
    assert device.reasons, why


def test_precision_and_recall_on_labelled_set(attributed):
    tp = fp = fn = 0
    reported = 0
    truth_listed = 0
    for record in BUNDLES:
        device = attributed[record["id"]]
        truth = record["truth"]["maker"]
        predicted = device.maker if device.confidence >= ESTABLISHED else None
        if predicted in LISTED:
            if predicted == truth:
                tp += 1
            else:
                fp += 1
        if truth in LISTED:
            truth_listed += 1
            if predicted != truth:
                fn += 1
            if device.maker == truth:  # reported at any confidence (incl. review)
                reported += 1
    precision = tp / (tp + fp)
    recall_established = tp / (tp + fn)
    recall_reported = reported / truth_listed
    print(f"\nattribution on {len(BUNDLES)} labelled devices: precision {precision:.3f}, "
          f"recall (established) {recall_established:.3f}, recall (any) {recall_reported:.3f}")
    assert precision >= 0.97
    # At the matcher's flag threshold nothing may be wrongly flagged.
    flagged = [(r["truth"]["maker"], attributed[r["id"]].maker) for r in BUNDLES
               if attributed[r["id"]].confidence >= FLAG and attributed[r["id"]].maker in LISTED]
    flag_precision = sum(t == p for t, p in flagged) / len(flagged)
    firm = [r for r in BUNDLES if r["truth"]["maker"] in LISTED
            and (r.get("expect") or {}).get("min_confidence", 0) >= FLAG]
    flag_recall = sum(attributed[r["id"]].maker == r["truth"]["maker"]
                      and attributed[r["id"]].confidence >= FLAG for r in firm) / len(firm)
    print(f"at the flag threshold {FLAG}: precision {flag_precision:.3f}, recall on devices "
          f"with firm protocol evidence {flag_recall:.3f} ({len(flagged)} flagged)")
    assert flag_precision == 1.0
    assert flag_recall >= 0.95
    assert recall_established >= 0.85
    assert recall_reported >= 0.97


def test_label_versus_platform_is_explained(attributed):
    annke = attributed["annke-nvr-on-hikvision"]
    line = next(r for r in annke.reasons if r.startswith("label ANNKE, platform Hikvision ("))
    assert "sadp reply" in line and "DNVRS-Webs" in line


def test_conflict_is_said_and_lowers_confidence(attributed):
    device = attributed["conflicting-platforms"]
    assert any(r.startswith("conflicting platform evidence") for r in device.reasons)
    assert device.confidence < ESTABLISHED


def test_lorex_registrant_is_explained_not_fatal(attributed):
    lorex = attributed["lorex-own-oui-dhip"]
    assert lorex.maker == "Dahua" and lorex.platform == "Dahua"
    assert any(r.startswith("registrant Lorex") for r in lorex.reasons)


def test_uncertain_only_is_capped_for_review(attributed):
    imou = attributed["imou-huacheng-oui"]
    assert imou.maker == "Dahua" and imou.confidence <= 0.35
    assert any("only uncertain evidence" in r for r in imou.reasons)


def test_amcrest_underlying_model_is_reported(attributed):
    amcrest = attributed["amcrest-on-dahua"]
    assert any("IPC-HDW5831R-ZE" in r for r in amcrest.reasons)


def test_attribute_is_idempotent_and_keeps_set_fields():
    record = next(r for r in BUNDLES if r["id"] == "hik-ipc-full")
    device = build_device(record).model_copy(update={"model": "set-by-user"})
    once = attribute(device)
    twice = attribute(once)
    assert once.model == "set-by-user"
    assert (once.maker, once.confidence, once.reasons) == (twice.maker, twice.confidence,
                                                           twice.reasons)


def test_no_evidence_keeps_maker_none():
    device = attribute(Device(addresses=["127.0.0.1"]))
    assert device.maker is None and device.confidence == 0.0
    assert device.reasons == ["no evidence points to a maker"]


def test_same_rule_twice_counts_once():
    realm = 'Digest realm="IP Camera(C5928)", nonce="1"'
    once = evaluate("http_realm", realm, probe="http", field="WWW-Authenticate")
    twice = once + evaluate("http_realm", realm, probe="rtsp", field="WWW-Authenticate")
    assert attribute(Device(evidence=once)).confidence == \
        attribute(Device(evidence=twice)).confidence


def test_uncertain_rival_does_not_beat_solid_registrant():
    rival = Evidence(probe="onvif", field="HardwareId", value="88", indicates="Hikvision",
                     certainty=Certainty.UNCERTAIN, kind="platform",
                     rule="onvif_info/hikvision-hardware-id")
    evidence = [*oui_evidence("08:ed:ed:00:00:01"), rival]
    assert attribute(Device(evidence=evidence)).maker == "Dahua"


def test_uncertain_rival_is_noted_not_a_conflict():
    record = next(r for r in BUNDLES if r["id"] == "hik-wifi-module-oui")
    device = build_device(record)
    device.evidence += evaluate("onvif_info", "1.00", probe="onvif", field="HardwareId")
    result = attribute(device)
    assert result.maker == "Hikvision" and result.confidence >= FLAG
    assert not any(r.startswith("conflicting") for r in result.reasons)
    assert any(r.startswith("weak hints for Dahua") for r in result.reasons)


# --- merge -----------------------------------------------------------------------------------

def test_merge_never_by_ip_alone():
    records = {r["id"]: r for r in BUNDLES}
    a = build_device(records["dahua-uninitialised-a"])
    b = build_device(records["dahua-uninitialised-b"])
    bare_1 = Device(addresses=["192.168.1.108"])
    bare_2 = Device(addresses=["192.168.1.108"])
    merged = merge_devices([a, b, bare_1, bare_2])
    assert len(merged) == 4
    macs = sorted(d.mac for d in merged if d.mac)
    assert macs == ["30:dd:aa:01:00:0a", "30:dd:aa:01:00:0b"]


def test_merge_by_mac_in_any_format_unions_addresses_and_evidence():
    http = Device(addresses=["10.9.0.5"], mac="C0-56-E3-4A-10-01",
                  evidence=evaluate("http_server", "App-webs/", probe="http", field="Server"))
    sadp = Device(addresses=["10.9.0.5", "fe80::c256:e3ff:fe4a:1001"], mac="c056.e34a.1001",
                  evidence=evaluate("firmware", "V5.5.0build 190101", probe="sadp",
                                    field="SoftwareVersion"))
    other = Device(addresses=["10.9.0.6"], mac="c0:56:e3:4a:10:02")
    merged = merge_devices([http, sadp, other])
    assert len(merged) == 2
    one = next(d for d in merged if "10.9.0.5" in d.addresses)
    assert one.addresses == ["10.9.0.5", "fe80::c256:e3ff:fe4a:1001"]
    assert {e.rule for e in one.evidence} >= {"http_server/hikvision-app-webs",
                                              "firmware/hikvision-firmware"}
    assert one.maker == "Hikvision" and one.firmware == "V5.5.0build 190101"


def test_merge_by_serial_and_transitively_by_mac_from_evidence():
    sn = "DS-2CD2143G2-I20220315AAWRJ51234567"
    onvif = Device(addresses=["10.9.0.7"], serial=sn)
    record = next(r for r in BUNDLES if r["id"] == "hik-ipc-full")
    sadp_only = Device(addresses=["10.9.0.7"], evidence=evaluate(
        "sadp", record["observations"][0]["value"], probe="sadp", field="reply"))
    by_mac = Device(addresses=["10.9.0.8"], mac="c0:56:e3:4a:10:01")
    merged = merge_devices([onvif, sadp_only, by_mac])
    assert len(merged) == 1
    assert merged[0].serial == sn and merged[0].mac == "c0:56:e3:4a:10:01"
    assert merged[0].addresses == ["10.9.0.7", "10.9.0.8"]
