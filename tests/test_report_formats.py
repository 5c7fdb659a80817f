"""Every output format of real screening runs against its contract: the JSON documents against
the published JSON Schemas, the CSV header against the columns README.md documents, the
CycloneDX BOM against the CycloneDX library's own 1.6 validator."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from _report_samples import HOSTILE, scan_doc, screen_doc, usb_doc
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from entityscan import reports
from entityscan.cli import main
from entityscan.output import SCAN_CSV_COLUMNS, SCREEN_CSV_COLUMNS, render_text
from entityscan.reports import document_errors, load_document, schema_for, schema_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {"network": scan_doc(), "usb": usb_doc(), "screen": screen_doc()}


# ---------- JSON Schema ----------
def test_schemas_are_shipped_and_valid_draft_2020_12() -> None:
    from jsonschema import Draft202012Validator

    for name in ("entityscan.scan/1", "entityscan.screen/1"):
        path = schema_path(name)
        assert path.is_file() and path.is_relative_to(ROOT / "plugin" / "reports" / "schemas")
        Draft202012Validator.check_schema(schema_for(name))
        assert schema_for(name)["properties"]["schema"] == {"const": name}


def test_shared_definitions_agree() -> None:
    scan, screen = schema_for("entityscan.scan/1"), schema_for("entityscan.screen/1")
    for key in ("match", "list_source", "summary", "verdict", "score", "reasons"):
        assert scan["$defs"][key] == screen["$defs"][key], key


def test_real_documents_validate(documents: dict[str, dict[str, Any]]) -> None:
    for kind, doc in documents.items():
        assert document_errors(doc) == [], kind
        # and after a JSON round trip, which is how consumers see them
        assert document_errors(json.loads(render_text(doc, "json"))) == [], kind


def test_cli_json_outputs_validate(tmp_path: Path) -> None:
    out = tmp_path / "screen.json"
    assert main(["screen", "--sample", "--format", "json", "--output", str(out)]) == 1
    doc = load_document(out)  # validates
    copy_out = tmp_path / "copy.json"
    assert main(["report", str(out), "--format", "json", "--output", str(copy_out)]) == 0
    assert json.loads(copy_out.read_text(encoding="utf-8")) == doc


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d["devices"][0].update(verdict="maybe"), "$.devices[0].verdict"),
    (lambda d: d["devices"][0]["evidence"][0].update(certainty="sure"),
     "$.devices[0].evidence[0].certainty"),
    (lambda d: d["devices"][0].update(mac="BC-AD-28-11-22-33"), "$.devices[0].mac"),
    (lambda d: d["devices"][0]["matches"][0].update(listed="13/08/2019"),
     "$.devices[0].matches[0].listed"),
    (lambda d: d.update(lists_content_hash="md5:abc"), "$.lists_content_hash"),
    (lambda d: d.pop("errors"), "$"),
    (lambda d: d["devices"][0].update(score=101), "$.devices[0].score"),
])
@pytest.mark.parametrize("fast", [True, False], ids=["jsonschema-rs", "jsonschema"])
def test_schema_catches_broken_scan_documents(documents: dict[str, dict[str, Any]], mutate: Any,
                                              where: str, fast: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if fast and reports._fast_validator("entityscan.scan/1") is None:
        pytest.skip("jsonschema-rs is not installed (optional accelerator)")
    if not fast:
        monkeypatch.setattr(reports, "_fast_validator", lambda name: None)
    doc = copy.deepcopy(documents["network"])
    mutate(doc)
    errors = document_errors(doc)
    assert errors and any(e.startswith(f"at {where}:") for e in errors), errors
    assert document_errors(documents["network"]) == []


def test_schema_catches_broken_screen_documents(documents: dict[str, dict[str, Any]]) -> None:
    doc = copy.deepcopy(documents["screen"])
    doc["results"][1]["matches"][0].pop("via")
    doc["results"][2]["item"]["extra"] = {"qty": 3}
    errors = document_errors(doc)
    assert any("$.results[1].matches[0]" in e and "'via'" in e for e in errors), errors
    assert any(e.startswith("at $.results[2].item.extra.qty:") for e in errors), errors


# ---------- CSV ----------
def readme_columns(heading_fragment: str) -> list[str]:
    """The first column of the README table that follows the line naming `heading_fragment`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(heading_fragment)
    table = re.search(r"\n\| column \| meaning \|\n\|---\|---\|\n((?:\|.*\|\n)+)", text[start:])
    assert table, f"no column table after {heading_fragment!r} in README.md"
    return [re.match(r"\| `([^`]+)` \|", row).group(1)  # type: ignore[union-attr]
            for row in table.group(1).splitlines()]


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_columns_are_the_documented_ones(documents: dict[str, dict[str, Any]]) -> None:
    assert readme_columns("`entityscan screen --format csv`") == list(SCREEN_CSV_COLUMNS)
    assert readme_columns("`entityscan scan --format csv`") == list(SCAN_CSV_COLUMNS)
    screen_header = render_text(documents["screen"], "csv").splitlines()[0].split(",")
    assert screen_header == [*SCREEN_CSV_COLUMNS, "cost_centre"]
    for kind in ("network", "usb"):
        header = render_text(documents[kind], "csv").splitlines()[0].split(",")
        assert header == list(SCAN_CSV_COLUMNS)


def test_csv_rows_carry_the_documents_values(documents: dict[str, dict[str, Any]]) -> None:
    doc = documents["network"]
    rows = parse_csv(render_text(doc, "csv"))
    assert len(rows) == len(doc["devices"])
    for row, device in zip(rows, doc["devices"], strict=True):
        assert row["id"] == device["id"] and row["verdict"] == device["verdict"]
        assert row["lists"] == ";".join(sorted({m["list"] for m in device["matches"]}))
        for match in device["matches"]:
            if match["citation"]:
                assert match["citation"] in row["citations"]
    hikvision = next(r for r in rows if r["mac"] == "bc:ad:28:11:22:33")
    assert hikvision["maker"] == "Hikvision" and hikvision["verdict"] == "flagged"
    assert "device-attribution" in hikvision["via"]
    axis = next(r for r in rows if r["model"] == "P3265-LVE")
    assert axis["verdict"] == "clear" and axis["attributed_maker"] == "Axis"
    usb = parse_csv(render_text(documents["usb"], "csv"))
    assert {(r["host"], r["vid"]) for r in usb} == {("ws-014", "2bdf"), ("ws-015", "046d")}


def test_csv_neutralises_spreadsheet_formulas(documents: dict[str, dict[str, Any]]) -> None:
    rows = parse_csv(render_text(documents["network"], "csv"))
    hostile = next(r for r in rows if r["brand"] == HOSTILE)
    assert hostile["serial"] == "'=HYPERLINK(\"http://evil.invalid\")"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


# ---------- CycloneDX ----------
def validate_cyclonedx(text: str) -> dict[str, Any]:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    assert errors is None, [str(e) for e in errors]  # type: ignore[union-attr]
    bom: dict[str, Any] = json.loads(text)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    return bom


def props(component: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in component.get("properties", []) if p["name"] == name]


def test_cyclonedx_devices(documents: dict[str, dict[str, Any]]) -> None:
    doc = documents["network"]
    bom = validate_cyclonedx(render_text(doc, "cyclonedx"))
    by_ref = {c["bom-ref"]: c for c in bom["components"]}
    assert set(by_ref) == {d["id"] for d in doc["devices"]}
    assert all(c["type"] == "device" for c in bom["components"])
    assert {d["ref"] for d in bom["dependencies"]} == set(by_ref)  # as the library writes it
    hik = by_ref["mac:bc:ad:28:11:22:33"]
    assert hik["manufacturer"]["name"] == "Hikvision"
    assert hik["name"] == "DS-2CD2143G2-I" and hik["version"] == "V5.7.3 build 220112"
    assert props(hik, "cdx:device:serialNumber") == ["DS-2CD2143G2-I20220101AAWRJ12345678"]
    assert props(hik, "cdx:device:macAddress") == ["bc:ad:28:11:22:33"]
    assert props(hik, "entityscan:verdict") == ["flagged"]
    hik_doc = next(d for d in doc["devices"] if d["id"] == "mac:bc:ad:28:11:22:33")
    assert props(hik, "entityscan:list") == sorted({m["list"] for m in hik_doc["matches"]})
    assert "NDAA889" in props(hik, "entityscan:list")
    assert props(hik, "entityscan:address") == ["10.20.1.64"]
    assert props(hik, "entityscan:citation") and props(hik, "entityscan:match")
    assert any("sadp DeviceType" in e for e in props(hik, "entityscan:evidence"))
    # the label is a property; the manufacturer is the attributed maker
    amcrest = by_ref["mac:3c:ef:8c:44:55:66"]
    assert amcrest["manufacturer"]["name"] == "Dahua"
    assert props(amcrest, "entityscan:label") == ["Amcrest"]
    # hostile strings survive as data; credentials never appear
    hostile = by_ref["mac:00:11:22:33:44:55"]
    assert props(hostile, "entityscan:label") == [HOSTILE]
    text = json.dumps(bom)
    assert "hunter2" not in text
    meta = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert meta["entityscan:lists-content-hash"] == doc["lists_content_hash"]
    assert meta["entityscan:parameter:password"] == "(not shown)"
    assert meta["entityscan:summary:flagged"] == str(doc["summary"]["flagged"])
    assert bom["metadata"]["tools"]["components"][0]["name"] == "entityscan"


def test_cyclonedx_usb_and_line_items(documents: dict[str, dict[str, Any]]) -> None:
    usb = validate_cyclonedx(render_text(documents["usb"], "cyclonedx"))
    assert {p for c in usb["components"] for p in props(c, "entityscan:usb-id")} == {
        "2bdf:0289", "046d:085b"}
    screen = documents["screen"]
    bom = validate_cyclonedx(render_text(screen, "cyclonedx"))
    by_ref = {c["bom-ref"]: c for c in bom["components"]}
    assert set(by_ref) == {f"item:{r['id']}" for r in screen["results"]}
    first = by_ref["item:PO-1001/1"]
    assert first["name"] == "DS-2CD2143G2-I" and first["manufacturer"]["name"] == "Hikvision"
    assert first["supplier"]["name"] == "ADI Global Distribution"
    assert props(first, "cdx:device:sku") == ["DS-2CD2143G2-I"]
    assert props(first, "entityscan:column:cost_centre") == ["FAC-12"]
    ezviz = by_ref["item:PO-1001/2"]
    assert props(ezviz, "entityscan:label") == ["EZVIZ"]
    assert props(ezviz, "entityscan:verdict") == ["flagged"]


def test_cyclonedx_is_stable_for_one_document(documents: dict[str, dict[str, Any]]) -> None:
    first = render_text(documents["network"], "cyclonedx")
    assert render_text(documents["network"], "cyclonedx") == first
    other = copy.deepcopy(documents["network"])
    other["generated"] = "2026-11-27T00:00:00+00:00"
    assert (json.loads(render_text(other, "cyclonedx"))["serialNumber"]
            != json.loads(first)["serialNumber"])


def test_cli_cyclonedx(tmp_path: Path) -> None:
    out = tmp_path / "po.cdx.json"
    assert main(["screen", "--sample", "--format", "cyclonedx", "--output", str(out)]) == 1
    validate_cyclonedx(out.read_text(encoding="utf-8"))


# ---------- a real scanner run (the USB check over collected lsusb files) ----------
def test_real_usb_check_outputs_meet_their_contracts(tmp_path: Path) -> None:
    lsusb = sorted(str(p) for p in (ROOT / "fixtures" / "lsusb").glob("*.txt"))
    assert lsusb, "fixtures/lsusb holds collected lsusb files"
    outputs = {}
    for fmt in ("json", "csv", "cyclonedx", "html"):
        out = tmp_path / f"usb.{fmt}"
        code = main(["usb", "--from-lsusb", *lsusb, "--format", fmt, "--output", str(out)])
        assert code in (0, 1), fmt
        outputs[fmt] = out.read_text(encoding="utf-8")
    doc = json.loads(outputs["json"])
    assert doc["schema"] == "entityscan.scan/1" and doc["kind"] == "usb" and doc["devices"]
    assert document_errors(doc) == []
    rows = parse_csv(outputs["csv"])
    assert list(rows[0]) == list(SCAN_CSV_COLUMNS) and len(rows) == len(doc["devices"])
    bom = validate_cyclonedx(outputs["cyclonedx"])
    assert len(bom["components"]) == len(doc["devices"])
    flagged = [d for d in doc["devices"] if d["verdict"] == "flagged"]
    assert f'id="count-flagged">{len(flagged)}<' in outputs["html"]
    for device in flagged:
        component = next(c for c in bom["components"] if c["bom-ref"] == device["id"])
        assert props(component, "entityscan:verdict") == ["flagged"]
        assert f"host {device['host']}" in outputs["html"]
