"""`entityscan import` of asset-system exports (NetBox, Snipe-IT, Lansweeper, generic CSV):
layouts told from the header, each record judged by the scan's own rules (model numbers,
serials, MAC blocks), the manufacturer treated as a label, hostile rows reported as
`file:line` and skipped, and the result screened and saved like a scan."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.scanners.importers import import_files
from entityscan.scanners.importers.asset_layouts import detect
from entityscan.scanners.inventory import Device, Inventory

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "fixtures" / "assets" / "labelled-assets.csv"
RESTRICTED = {"Hikvision", "Dahua"}

# Headers as each product writes them (sources cited in scanners/importers/asset_layouts.yaml).
NETBOX = ["ID", "Name", "Status", "Tenant", "Site", "Location", "Rack", "Role", "Manufacturer",
          "Type", "Platform", "Serial number", "Asset tag", "IP Address", "IPv4 Address"]
NETBOX_IMPORT = ["name", "role", "manufacturer", "device_type", "status", "site", "location",
                 "serial", "asset_tag"]
SNIPEIT = ["Company", "Asset Name", "Asset Tag", "Model", "Model No.", "Category",
           "Manufacturer", "Serial", "Location", "Status", "MAC Address"]
LANSWEEPER = ["AssetID", "AssetName", "AssetTypename", "IPAddress", "Mac", "Manufacturer",
              "Model", "Serialnumber", "Location", "Lastseen"]


def _write(path: Path, header: list[str], rows: list[list[str]], *, delimiter: str = ",",
           encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as stream:
        writer = csv.writer(stream, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _by_name(inventory: Inventory) -> dict[str, Device]:
    return {(d.model_extra or {})["inventory"].get("name") or d.key(): d
            for d in inventory.devices}


def test_layouts_are_data_with_their_sources() -> None:
    from entityscan.scanners.errors import ScannerError
    from entityscan.scanners.importers.asset_layouts import _layout, layouts

    assert [layout.id for layout in layouts()] == ["netbox", "snipeit", "lansweeper",
                                                   "inventory"]
    assert all(layout.source and layout.fields for layout in layouts())
    with pytest.raises(ScannerError, match="layout x: no `source`"):
        _layout({"id": "x", "fields": {"model": ["Model"]}})
    with pytest.raises(ScannerError, match="unknown fields \\['colour'\\]"):
        _layout({"id": "y", "source": "s", "fields": {"colour": ["Colour"]}})


def test_netbox_device_export(tmp_path: Path) -> None:
    path = _write(tmp_path / "netbox_devices.csv", NETBOX, [
        ["1", "cam-dock", "Active", "", "HQ", "Dock", "", "Camera", "Hikvision",
         "DS-2CD2143G2-I", "", "", "A-001", "192.0.2.10/24", "192.0.2.10/24"],
        ["2", "cam-lobby", "Active", "", "HQ", "Lobby", "", "Camera", "Amcrest", "IP8M-2496EB",
         "", "", "A-002", "192.0.2.11/24", ""],
        ["3", "sw-core", "Active", "", "HQ", "", "R1", "Switch", "Cisco", "C9300-48P", "",
         "FOC1234X0AB", "A-003", "192.0.2.1/24", ""],
    ])
    inventory = import_files([path])
    assert inventory.parameters["files"] == {str(path): "netbox-csv"}
    devices = _by_name(inventory)
    dock = devices["cam-dock"]
    assert dock.addresses == ["192.0.2.10"] and dock.maker == "Hikvision"
    assert (dock.model_extra or {})["discovered_by"] == ["netbox"]
    assert (dock.model_extra or {})["inventory"] == {
        "layout": "netbox", "file": path.name, "line": 2, "name": "cam-dock", "site": "HQ",
        "location": "Dock", "asset_tag": "A-001", "category": "Camera",
        "manufacturer": "Hikvision", "key": "netbox:A-001"}
    rules = {ev.rule for ev in dock.evidence}
    assert {"model/hikvision-fixed-camera", "label/hikvision"} <= rules
    assert devices["sw-core"].serial == "FOC1234X0AB"
    # The bulk-import spelling of the same layout
    other = _write(tmp_path / "netbox_import.csv", NETBOX_IMPORT,
                   [["nvr", "NVR", "Dahua", "DHI-NVR4216-4KS2", "active", "HQ", "", "", ""]])
    assert getattr(detect(NETBOX_IMPORT), "id", None) == "netbox"
    (nvr,) = import_files([other]).devices
    assert nvr.maker == "Dahua" and nvr.key() == "asset:netbox:HQ/nvr"


def test_snipeit_custom_asset_report(tmp_path: Path) -> None:
    path = _write(tmp_path / "snipeit.csv", SNIPEIT, [
        ["Acme", "Lobby cam", "0001", "Lorex 4K Bullet", "E841CA", "Cameras", "Lorex",
         "ND0123456789", "Lobby", "Deployed", "e0:50:8b:01:02:03"],
        ["Acme", "Laptop 7", "0002", "Latitude 5440", "5440", "Laptops", "Dell", "7XK2M93",
         "IT", "Deployed", ""],
    ])
    inventory = import_files([path])
    assert inventory.parameters["files"] == {str(path): "snipeit-csv"}
    devices = _by_name(inventory)
    cam = devices["Lobby cam"]
    # The model number is read before the model name; the label is Lorex, the MAC block Dahua.
    assert cam.model == "E841CA" and cam.brand == "Lorex"
    assert cam.maker == "Dahua" and cam.mac == "e0:50:8b:01:02:03"
    assert any("the record says manufacturer 'Lorex'; its evidence says Dahua" in r
               for r in cam.reasons)
    assert devices["Laptop 7"].maker is None


def test_lansweeper_asset_export_semicolons_and_cp1252(tmp_path: Path) -> None:
    path = _write(tmp_path / "lansweeper.csv", LANSWEEPER, [
        ["17", "CAM-GARAGE", "Camera", "198.51.100.7", "C0-56-E3-AA-BB-CC", "Hikvision",
         "DS-2CD2387G2-LU", "", "Garage – Level 1", "2026-11-30"],
        ["18", "PRN-2", "Printer", "198.51.100.8", "00-1B-A9-00-00-01", "Brother",
         "HL-L2350DW", "E78123K1N", "Büro", "2026-11-30"],
    ], delimiter=";", encoding="cp1252")
    inventory = import_files([path])
    assert inventory.parameters["files"] == {str(path): "lansweeper-csv"}
    assert inventory.parameters["encodings"] == {str(path): "cp1252"}
    devices = _by_name(inventory)
    garage = devices["CAM-GARAGE"]
    assert garage.mac == "c0:56:e3:aa:bb:cc" and garage.maker == "Hikvision"
    assert garage.confidence >= 0.75  # model number and MAC block together
    assert (devices["PRN-2"].model_extra or {})["inventory"]["location"] == "Büro"
    assert devices["PRN-2"].maker is None


def test_utf16_tab_separated_and_the_encoding_guess_is_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Excel's "Unicode text": UTF-16 with a byte-order mark, tab separated
    path = _write(tmp_path / "estate.txt", ["Manufacturer", "Model", "MAC Address", "Site"],
                  [["Dahua", "IPC-HFW2431S-S-S2", "38:af:29:00:00:07", "Nord"]],
                  delimiter="\t", encoding="utf-16")
    (device,) = import_files([path]).devices
    assert device.maker == "Dahua" and device.confidence >= 0.75
    # Excel's delimiter line before the header
    excel = tmp_path / "excel.csv"
    excel.write_text("sep=;\nManufacturer;Model;IP Address\nDahua;IPC-HFW2431S-S-S2;192.0.2.7\n",
                     encoding="utf-8")
    (device,) = import_files([excel]).devices
    assert device.addresses == ["192.0.2.7"] and device.maker == "Dahua"
    latin = _write(tmp_path / "estate.csv", ["Manufacturer", "Model", "Site"],
                   [["Hikvision", "DS-2CD2143G2-I", "Zürich"]], encoding="cp1252")
    assert main(["import", str(path), str(latin), "-f", "json", "-o",
                 str(tmp_path / "out.json")]) == 1
    err = capsys.readouterr().err
    assert f"{path} is not UTF-8; read as utf-16" in err
    assert f"{latin} is not UTF-8; read as cp1252" in err
    doc = json.loads((tmp_path / "out.json").read_text())
    assert {d["inventory"].get("site") for d in doc["devices"]} == {"Nord", "Zürich"}


def test_labelled_asset_records_precision_and_recall() -> None:
    inventory = import_files([LABELLED])
    rows = {r["IP Address"]: r for r in csv.DictReader(LABELLED.open(encoding="utf-8"))}
    assert len(inventory.devices) == len(rows) == 40
    tp = fp = fn = 0
    wrong = []
    for device in inventory.devices:
        expected = rows[device.addresses[0]]["expected_maker"] or None
        # attributed at the review band or above (the matcher's review threshold)
        said = device.maker if device.confidence >= 0.3 and device.maker in RESTRICTED else None
        if said and said == expected:
            tp += 1
        elif said:
            fp += 1
            wrong.append((device.addresses[0], said, expected))
        if expected and said != expected:
            fn += 1
            wrong.append((device.addresses[0], said, expected))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nasset records: precision {precision:.2f} recall {recall:.2f} "
          f"({tp} of {tp + fn} Hikvision/Dahua records, {fp} false) {wrong}")
    assert precision == 1.0 and recall >= 0.95, wrong


def test_a_claim_alone_is_reviewed_and_evidence_wins_over_the_claim(tmp_path: Path) -> None:
    out = tmp_path / "labelled.json"
    assert main(["import", str(LABELLED), "-f", "json", "-o", str(out)]) == 1
    doc = json.loads(out.read_text())
    from entityscan.reports import validate_document

    validate_document(doc)
    by_ip = {d["addresses"][0]: d for d in doc["devices"]}
    claim = by_ip["10.20.0.32"]  # "Manufacturer: Hikvision" and nothing else
    assert claim["verdict"] == "review" and claim["confidence"] < 0.3
    assert any("label alone is weak evidence" in r for r in claim["reasons"])
    mislabelled = by_ip["10.20.0.11"]  # says Axis, model number is Hikvision's
    assert mislabelled["attributed_maker"] == "Hikvision" and mislabelled["verdict"] == "flagged"
    assert any("the record says manufacturer 'Axis'" in r for r in mislabelled["reasons"])
    for ip in ("10.20.0.22", "10.20.0.26", "10.20.0.28", "10.20.0.29"):  # others, false friends
        assert by_ip[ip]["verdict"] == "clear", by_ip[ip]
    assert doc["parameters"]["records"] == 40


def test_hostile_rows_are_reported_by_line_and_skipped(tmp_path: Path) -> None:
    header = ["Manufacturer", "Model", "Serial Number", "MAC Address", "IP Address", "Notes"]
    path = _write(tmp_path / "hostile.csv", header, [
        ["\x1b[31mHik\u200bvision\x1b[0m", "DS-2CD2143G2-I", "", "", "192.0.2.50", "ok"],  # 2
        ["Dahua", "X" * 5000, "", "", "192.0.2.51", ""],  # 3: over-long model
        ["Dahua", "IPC-HDW5442TM-AS", "", "not-a-mac", "192.0.2.52", ""],  # 4
        ["Dahua", "IPC-HDW5442TM-AS", "", "", "999.1.1.1", ""],  # 5
        ["Dahua", "IPC-HDW5442TM-AS", "", "", "192.0.2.53", "", "extra", "cells"],  # 6
        ["Axis", "=HYPERLINK(\"http://evil.example/\",\"x\")", "N/A", "", "192.0.2.54",
         "line one\nline two"],  # 7-8: a formula, a placeholder serial, a quoted newline
        ["Axis", "@SUM(1+1)", "N/A", "", "192.0.2.55", ""],  # 9: same placeholder serial
        ["", "", "", "", "", "name only"],  # 10: nothing to screen
        ["Bosch", "NBN-73023BA", "0", "00:00:00:00:00:00", "0.0.0.0", ""],  # 11: placeholders
    ])
    inventory = import_files([path])
    errors = [e.message for e in inventory.errors]
    assert any(m.startswith(f"{path}:3: column 'Model' holds 5,000 characters") for m in errors)
    assert any(m.startswith(f"{path}:4: column 'MAC Address': 'not-a-mac' is not a MAC")
               for m in errors)
    assert any(m.startswith(f"{path}:5: column 'IP Address': '999.1.1.1' is not an IP")
               for m in errors)
    assert any(m.startswith(f"{path}:6: 8 cells where the header has 6") for m in errors)
    assert len(errors) == 4, errors
    devices = {d.addresses[0] if d.addresses else d.key(): d for d in inventory.devices}
    assert set(devices) == {"192.0.2.50", "192.0.2.54", "192.0.2.55",
                            f"asset:inventory:{path.name}:11"}
    assert devices[f"asset:inventory:{path.name}:11"].mac is None
    first = devices["192.0.2.50"]
    # escape sequences and a zero-width space removed: the label reads (and is judged) whole
    assert first.brand == "Hikvision" and "\x1b" not in first.model_dump_json()
    assert "label/hikvision" in {ev.rule for ev in first.evidence}
    # placeholder serials identify nothing: the two Axis records stay two devices
    assert devices["192.0.2.54"].serial is None and devices["192.0.2.55"].serial is None
    assert inventory.parameters["records_not_screenable"] == 1

    out = tmp_path / "hostile-out.csv"
    assert main(["import", str(path), "-f", "csv", "-o", str(out)]) == 2  # errors: exit 2
    cells = [row for row in csv.DictReader(out.open(encoding="utf-8"))]
    models = {row["model"] for row in cells}
    assert "'=HYPERLINK(\"http://evil.example/\",\"x\")" in models and "'@SUM(1+1)" in models
    assert not any(v.startswith(("=", "@", "+")) for row in cells for v in row.values() if v)


def test_an_endless_line_and_an_unterminated_quote(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("Manufacturer,Model,IP Address\n")
        stream.write("Hikvision,DS-2CD2143G2-I,192.0.2.60\n")
        stream.write("Dahua," + "A" * (3 * 1024 * 1024) + ",192.0.2.61\n")  # line 3
        stream.write("Dahua,IPC-HDW5442TM-AS,192.0.2.62\n")
        stream.write('Dahua,"' + "B" * 200_000 + "\n")  # unterminated quote over the cell cap
        stream.write("Dahua,IPC-HDW5442TM-AS,192.0.2.63\n")
    inventory = import_files([path])
    errors = [e.message for e in inventory.errors]
    assert any(m.startswith(f"{path}:3: line longer than") for m in errors), errors
    assert any("unreadable row" in m and "field larger than field limit" in m for m in errors)
    found = {d.addresses[0] for d in inventory.devices}
    assert {"192.0.2.60", "192.0.2.62"} <= found and "192.0.2.61" not in found


def test_records_without_mac_or_serial_keep_their_own_identity(tmp_path: Path) -> None:
    # Two sites' Dahua cameras on the factory-default address, and a name used twice
    path = _write(tmp_path / "sites.csv", ["Name", "Manufacturer", "Model", "IP Address", "Site"], [
        ["gate", "Dahua", "IPC-HFW2431S-S-S2", "192.168.1.108", "North"],
        ["gate", "Dahua", "IPC-HFW2431S-S-S2", "192.168.1.108", "South"],
        ["", "Dahua", "IPC-HDW5442TM-AS", "192.168.1.108", "South"],
        ["gate", "Hikvision", "DS-2CD2143G2-I", "", "South"],
    ])
    devices = import_files([path]).devices
    keys = [d.key() for d in devices]
    assert keys == ["asset:inventory:North/gate", "asset:inventory:South/gate",
                    "asset:inventory:South/192.168.1.108",
                    f"asset:inventory:South/gate@{path.name}:5"]
    assert devices[3].errors == [f"another record ({path.name}:3) has the same asset tag, name "
                                 "or address; this one is kept apart"]
    db = f"sqlite:///{tmp_path / 'sites.db'}"
    assert main(["import", str(path), "--save", "--db", db, "-f", "json", "-o",
                 str(tmp_path / "sites.json")]) == 1
    from entityscan.store import Store

    assert len(Store(db).inventory.devices()) == 4  # nothing collapsed in the store


def test_records_past_the_run_bound_are_reported_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from entityscan.scanners.importers import assets

    monkeypatch.setattr(assets, "MAX_RECORDS", 3)
    path = _write(tmp_path / "many.csv", ["Manufacturer", "Model", "IP Address"],
                  [["Axis", "P3245-LVE", f"192.0.2.{n}"] for n in range(1, 6)])
    inventory = import_files([path])
    assert [d.addresses[0] for d in inventory.devices] == ["192.0.2.1", "192.0.2.2",
                                                           "192.0.2.3"]
    assert [e.message for e in inventory.errors] == [
        f"{path}:5: more than 3 records in this run; the rest of the file was not read "
        "(import the export in parts, e.g. a site at a time)"]


def test_a_table_matching_no_layout_is_refused_naming_its_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "po.csv", ["PO", "Qty", "Unit price"], [["1", "2", "3"]])
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err
    assert "columns ('PO', 'Qty', 'Unit price') match no asset-export layout" in err
    for name in ("NetBox device export", "Snipe-IT asset export", "Lansweeper asset export",
                 "generic asset inventory"):
        assert name in err


def test_records_merge_with_a_scan_by_mac_and_save_like_a_scan(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nmap = ROOT / "fixtures" / "import" / "nmap-sV-lab.xml"
    # The lab's Hikvision camera (MAC from the nmap XML) as the asset system knows it
    path = _write(tmp_path / "assets.csv", SNIPEIT, [
        ["Acme", "Dock cam", "0100", "Turret 4MP", "DS-2CD2143G2-I", "Cameras", "Hikvision",
         "", "Dock", "Deployed", "44:19:b6:6d:24:0a"],
        ["Acme", "Gate cam", "0101", "Bullet", "IPC-HFW2431S-S-S2", "Cameras", "Dahua", "",
         "Gate", "Deployed", ""],
    ])
    db = tmp_path / "store.db"
    out = tmp_path / "doc.json"
    assert main(["import", str(nmap), str(path), "-f", "json", "-o", str(out), "--save",
                 "--db", f"sqlite:///{db}"]) == 1
    assert "saved as scan" in capsys.readouterr().err
    doc = json.loads(out.read_text())
    hik = next(d for d in doc["devices"] if d["id"] == "mac:44:19:b6:6d:24:0a")
    assert hik["discovered_by"] == ["nmap", "snipeit"] and hik["inventory"]["name"] == "Dock cam"
    assert {"model/hikvision-fixed-camera", "http_server/hikvision-app-webs"} <= {
        e["rule"] for e in hik["evidence"]}
    from entityscan.store import Store

    stored = {d["key"]: d for d in Store(f"sqlite:///{db}").inventory.devices()}
    assert stored["mac:44:19:b6:6d:24:0a"]["verdict"] == "flagged"
    assert stored["asset:snipeit:0101"]["verdict"] == "flagged"
    # The document given back to the store is attributed again from its evidence (evidence
    # over claims): the records' model numbers and MAC blocks still decide, with the same result
    capsys.readouterr()
    assert main(["store", "import", str(out), "--db", f"sqlite:///{tmp_path / 'again.db'}",
                 "--format", "json"]) == 1
    again = {d["key"]: d for d in Store(f"sqlite:///{tmp_path / 'again.db'}").inventory.devices()}
    assert {k: d["verdict"] for k, d in again.items()} == {
        k: d["verdict"] for k, d in stored.items()}

    # html renders the records, every cell escaped
    html = tmp_path / "doc.html"
    assert main(["import", str(path), "-f", "html", "-o", str(html)]) == 1
    plain = html.read_text()
    hostile = _write(tmp_path / "hostile.csv", ["Manufacturer", "Model", "IP Address", "Name"], [
        ["Axis", "<script>alert(1)</script>", "192.0.2.9", "<img src=x onerror=alert(2)>"],
        ["Dahua", "IPC-HFW2431S-S-S2", "192.0.2.10", "gate"]])
    assert main(["import", str(hostile), "-f", "html", "-o", str(html)]) == 1
    text = html.read_text()
    assert "IPC-HFW2431S-S-S2" in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<script") == plain.count("<script") and "<img" not in text
