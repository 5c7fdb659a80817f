"""The curated USB table (every example checked against its rule), usb.ids/hwdb loading, and
identification accuracy on a labelled set of lsusb lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from entityscan.scanners.usb import (
    Interface,
    UsbError,
    UsbRecord,
    UsbSignatures,
    VendorNames,
    identify,
    identify_records,
    parse_lsusb,
)

ROOT = Path(__file__).resolve().parents[2]
SIGNATURES = UsbSignatures.load()
USB_IDS = ROOT / "fixtures" / "usb" / "usb.ids.sample"
HWDB = ROOT / "fixtures" / "usb" / "20-usb-vendor-model.hwdb.sample"
NAMES = VendorNames.load([USB_IDS])
LISTED = {"Hikvision", "Dahua", "Huawei", "ZTE"}


def record(vid: int, pid: int = 1, **kwargs: object) -> UsbRecord:
    return UsbRecord(vid=vid, pid=pid, host="test-host", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("rule_id", "example"), [
    (rule.id, example) for rule in SIGNATURES.vendors.values() for example in rule.examples])
def test_vendor_rule_examples_identify_their_maker(rule_id: str, example: str) -> None:
    (parsed,) = parse_lsusb(example).records
    device = identify(parsed, SIGNATURES, NAMES)
    rules = {e.rule for e in device.evidence if e.indicates}
    assert rule_id in rules
    rule = next(r for r in SIGNATURES.vendors.values() if r.id == rule_id)
    vid_evidence = next(e for e in device.evidence if e.rule == rule_id)
    assert (vid_evidence.kind, vid_evidence.indicates) == ("platform", rule.maker)
    assert vid_evidence.source and vid_evidence.certainty == rule.certainty


@pytest.mark.parametrize(("rule_id", "example"), [
    (rule.id, example) for rule in SIGNATURES.strings for example in rule.examples])
def test_string_rule_examples_match(rule_id: str, example: str) -> None:
    rule = next(r for r in SIGNATURES.strings if r.id == rule_id)
    assert rule.pattern.search(example)
    device = identify(record(0x0001, product=example), SIGNATURES, NAMES)
    hit = next(e for e in device.evidence if e.rule == rule_id)
    assert (hit.kind, hit.indicates, hit.field) == ("label", rule.maker, "iProduct")


@pytest.mark.parametrize(("rule_id", "counterexample"), [
    (rule.id, text) for rule in SIGNATURES.strings for text in rule.counterexamples])
def test_string_rule_counterexamples_do_not_match(rule_id: str, counterexample: str) -> None:
    rule = next(r for r in SIGNATURES.strings if r.id == rule_id)
    assert not rule.pattern.search(counterexample)


def test_every_rule_carries_certainty_source_and_examples() -> None:
    data = yaml.safe_load((ROOT / "scanners" / "usb" / "usb_vendors.yaml").read_text())
    for rule in data["vendors"] + data["strings"]:
        assert rule["source"].strip() and rule["examples"], rule["id"]
        assert rule["certainty"] in ("solid", "medium", "uncertain"), rule["id"]
    assert {v["vid"] for v in data["vendors"]} == {"2bdf", "2e03", "12d1", "19d2"}


@pytest.mark.parametrize(("rec", "expected"), [
    (record(0x0001, device_class=0xEF, interfaces=(Interface(0x0E, 1), Interface(1, 1))),
     "usb-camera"),
    (record(0x0001, device_class=0xEF, interfaces=(Interface(0xEF, 5, 0),)), "usb-camera"),
    (record(0x0001, interfaces=(Interface(2, 0x0E), Interface(0x0A))), "modem"),
    (record(0x12D1, interfaces=(Interface(8, 6, 0x50),), product="HUAWEI_MOBILE"), "modem"),
    (record(0x12D1, interfaces=(Interface(0xE0, 1, 3), Interface(0x0A))), "modem"),
    (record(0x0BDA, interfaces=(Interface(0xE0, 1, 3), Interface(0x0A))), "usb-network"),
    (record(0x0001, interfaces=(Interface(0xE0, 1, 1),)), "usb-bluetooth"),
    (record(0x0001, interfaces=(Interface(8, 6, 0x50),)), "usb-storage"),
    (record(0x0001, interfaces=(Interface(3, 1, 1),)), "usb-hid"),
    (record(0x0001, description="Logitech, Inc. Webcam C270"), "usb-camera"),
    (record(0x0001, description="Sierra Wireless, Inc. AirPrime MC7455 3G/4G LTE Modem"),
     "modem"),
    (record(0x0001, product="HIK 2K Camera-Audio"), "usb-camera"),
    (record(0x0001, product="Hikari controller"), None),
])
def test_device_class(rec: UsbRecord, expected: str | None) -> None:
    assert identify(rec, SIGNATURES, NAMES).device_class == expected


def test_usb_ids_file_gives_vendor_and_product_names() -> None:
    assert NAMES.location == str(USB_IDS)
    assert NAMES.vendor(0x12D1) == "Huawei Technologies Co., Ltd."
    assert NAMES.product(0x046D, 0x085C) == "C922 Pro Stream Webcam"
    assert NAMES.vendor(0x2BDF) is None, "usb.ids has no Hikvision line"
    assert NAMES.product(0x12D1, 0x00) is None, "interface lines are not products"
    assert len(NAMES.vendors) == 6, "the class section after the vendor list is not read"


def test_hwdb_text_gives_the_same_names() -> None:
    names = VendorNames.load([ROOT / "missing.ids", HWDB])
    assert names.location == str(HWDB)
    assert names.vendor(0x046D) == "Logitech, Inc."
    assert names.product(0x12D1, 0x1506) == "Modem/Networkcard"


def test_no_names_file_is_not_an_error() -> None:
    names = VendorNames.load([ROOT / "missing.ids"])
    assert names.location is None and names.vendor(0x046D) is None


def test_registry_names_attribute_uncurated_vendors_and_describe_curated_ones() -> None:
    logitech = identify(record(0x046D, 0x085C), SIGNATURES, NAMES)
    assert any(e.indicates == "Logitech, Inc." and e.kind == "registrant"
               for e in logitech.evidence)
    assert logitech.model == "C922 Pro Stream Webcam"
    huawei = identify(record(0x12D1, 0x1506), SIGNATURES, NAMES)
    assert [e.indicates for e in huawei.evidence if e.indicates] == ["Huawei"], (
        "one VID votes once, not again through its registry name")
    assert huawei.vendor_name == "Huawei Technologies Co., Ltd."  # type: ignore[attr-defined]


def test_lsusb_description_vendor_part_does_not_vote_twice() -> None:
    (parsed,) = parse_lsusb("Bus 003 Device 002: ID 19d2:1405 ZTE WCDMA Technologies MSM").records
    device = identify(parsed, SIGNATURES, NAMES)
    assert [e.rule for e in device.evidence if e.indicates] == ["usb-vid-19d2"]


def test_device_json_fields() -> None:
    device = identify(record(0x2BDF, 0x0281, bus=1, device_number=7, port_path="1-1",
                             product="HIK 2K USB CAMERA", manufacturer="SN0002",
                             serial="SN0002"), SIGNATURES, NAMES)
    data = device.model_dump(mode="json")
    assert (data["vid"], data["pid"], data["host"]) == ("2bdf", "0281", "test-host")
    assert data["device_class"] == "usb-camera"
    assert data["addresses"] == ["1-1"] and data["usb_serial"] == "SN0002"
    assert data["serial"] is None, "USB serials like SN0002 repeat across units: not a key"


def test_malformed_signature_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "usb.yaml"
    bad.write_text("vendors:\n  - id: x\n    vid: zz\n")
    with pytest.raises(UsbError, match=str(bad)):
        UsbSignatures.load(bad)


def test_labelled_lsusb_lines_precision_and_recall() -> None:
    labelled = yaml.safe_load(
        (ROOT / "fixtures" / "usb" / "labelled_lsusb_lines.yaml").read_text())["lines"]
    records = [parse_lsusb(entry["line"]).records[0] for entry in labelled]
    devices = identify_records(records, SIGNATURES, NAMES)
    true_positive = false_positive = false_negative = 0
    for entry, device in zip(labelled, devices, strict=True):
        predicted = device.maker if device.maker in LISTED else None
        if predicted and predicted == entry["maker"]:
            true_positive += 1
        elif predicted:
            false_positive += 1
        if entry["maker"] and predicted != entry["maker"]:
            false_negative += 1
    precision = true_positive / (true_positive + false_positive)
    recall = true_positive / (true_positive + false_negative)
    assert sum(1 for e in labelled if e["maker"]) >= 12 and len(labelled) >= 30
    assert precision == 1.0, f"precision {precision:.2f}"
    assert recall == 1.0, f"recall {recall:.2f}"


def test_brand_from_a_medium_rule_needs_the_vid_to_agree() -> None:
    on_hikvision_vid = identify(record(0x2BDF, 0x0281, manufacturer="SN0002",
                                       product="HIK 2K USB CAMERA"), SIGNATURES, NAMES)
    assert on_hikvision_vid.brand == "Hikvision"
    elsewhere = identify(record(0x0C45, 0x6366, manufacturer="SN0002",
                                product="HIK 2K USB CAMERA"), SIGNATURES, NAMES)
    assert elsewhere.brand == "SN0002", "a medium label alone does not rename the device"
    assert any(e.rule == "usb-str-hik-token" and e.indicates == "Hikvision"
               for e in elsewhere.evidence), "but it is still evidence"
    solid = identify(record(0x0001, manufacturer="Hikrobot"), SIGNATURES, NAMES)
    assert solid.brand == "Hikrobot"
