"""Workbooks in: `entityscan screen FILE.xlsx|.xlsm|.ods` reads the same line items as the CSV
of the same lines, whatever the spreadsheet does to them (merged cells, hidden sheets,
formulas, dates, empty rows), and refuses what it cannot read with the file named."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from entityscan import sheets
from entityscan.errors import InputError
from entityscan.lineitems import LineItemFile
from tests.labelled_items import ITEM_FIELDS, read_labelled

ROOT = Path(__file__).resolve().parent.parent

# Real export headers per layout (plugin/layouts/erp.yaml) for the line-item fields; the id
# column is named the way a user would add one, the others are kept as extra columns.
ERP_HEADERS: dict[str, dict[str, str]] = {
    "sap-mm": {"id": "Line ID", "supplier": "Name of Vendor", "manufacturer":
               "External Manufacturer", "brand": "Brand", "description": "Short Text",
               "part_number": "Manufacturer Part Number"},
    "coupa": {"id": "Line ID", "supplier": "supplier-name", "manufacturer":
              "manufacturer-name", "brand": "Brand", "description": "Line Item Description",
              "part_number": "source-part-num"},
    "dynamics": {"id": "Line ID", "supplier": "Buy-from Vendor Name", "manufacturer":
                 "Manufacturer Code", "brand": "Brand", "description": "Product name",
                 "part_number": "Vendor Item No."},
}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entityscan", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, check=False, env=env)


def screen_json(path: Path, out: Path, *extra: str) -> dict[str, Any]:
    result = run_cli("screen", str(path), "--format", "json", "--output", str(out), *extra)
    assert result.returncode in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def write_labelled_csv(path: Path) -> None:
    import csv

    rows = read_labelled()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *ITEM_FIELDS, "cost_centre", "po_number"])
        for row in rows:
            writer.writerow([row.id, *(row.item[f] for f in ITEM_FIELDS),
                             row.extra.get("cost_centre", ""), row.extra.get("po_number", "")])


def write_labelled_workbook(path: Path, headers: dict[str, str]) -> None:
    """The labelled lines under an ERP's headers, on the second sheet after a hidden one,
    with an empty row every 50 lines."""
    book = xlsxwriter.Workbook(str(path))
    notes = book.add_worksheet("Export notes")
    notes.write_string(0, 0, "Vendor Name")  # a hidden sheet a reader must not take
    notes.write_string(1, 0, "Hikvision")
    sheet = book.add_worksheet("Open PO lines")
    sheet.activate()
    notes.hide()
    names = [headers["id"], headers["supplier"], headers["manufacturer"], headers["brand"],
             headers["description"], headers["part_number"], "Cost Center",
             "Purchasing Document"]
    sheet.write_row(0, 0, names)
    line = 1
    for index, row in enumerate(read_labelled()):
        if index % 50 == 49:
            line += 1  # an empty row
        cells = [row.id, *(row.item[f] for f in ITEM_FIELDS)]
        for column, value in enumerate(cells):
            if value:
                sheet.write_string(line, column, value)
        sheet.write_string(line, 6, row.extra.get("cost_centre", ""))
        sheet.write_string(line, 7, row.extra.get("po_number", ""))
        line += 1
    book.close()


def verdicts(doc: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {r["id"]: (r["verdict"], r.get("maker")) for r in doc["results"]}


def items(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {r["id"]: {k: v for k, v in r["item"].items() if k != "extra"}
            for r in doc["results"]}


@pytest.mark.parametrize("layout", list(ERP_HEADERS))
def test_labelled_workbook_screens_like_the_csv(tmp_path: Path, layout: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    as_csv, as_xlsx = tmp_path / "lines.csv", tmp_path / "open_po_lines.xlsx"
    write_labelled_csv(as_csv)
    write_labelled_workbook(as_xlsx, ERP_HEADERS[layout])
    from_csv = screen_json(as_csv, tmp_path / "csv.json")
    from_xlsx = screen_json(as_xlsx, tmp_path / "xlsx.json")
    labelled = read_labelled()
    assert len(from_xlsx["results"]) == len(labelled)
    assert verdicts(from_xlsx) == verdicts(from_csv)
    assert items(from_xlsx) == items(from_csv), "every field read as the CSV reads it"
    flagged = [v for v, _ in verdicts(from_xlsx).values() if v == "flagged"]
    # the lines were read, not lost: the flagged ones are the labelled set's (accuracy itself
    # is measured in test_accuracy.py)
    assert len(flagged) >= 0.9 * sum(r.expected_verdict == "flagged" for r in labelled)
    first = from_xlsx["results"][0]["item"]["extra"]
    assert set(first) == {"Cost Center", "Purchasing Document"}


def test_show_mapping_names_each_column_and_its_layout(tmp_path: Path) -> None:
    book = tmp_path / "po.xlsx"
    write_labelled_workbook(book, ERP_HEADERS["sap-mm"])
    result = run_cli("screen", str(book), "--show-mapping", "--format", "ndjson",
                     "--output", str(tmp_path / "out.ndjson"))
    assert result.returncode in (0, 1), result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"{book}: sheet 'Open PO lines', read by calamine"
    assert "  column 2 'Name of Vendor': supplier (layout sap-mm)" in lines
    assert "  column 5 'Short Text': description (layout sap-mm)" in lines
    assert "  column 7 'Cost Center': kept as an extra column (no field has this name)" in lines


def write_quirky_workbook(path: Path) -> None:
    """What spreadsheets do to a PO: a hidden first sheet, a title-less table starting at
    B3, a supplier merged over its PO's lines, formulas with cached values, dates, numbers,
    empty rows, formatted but empty columns."""
    book = xlsxwriter.Workbook(str(path))
    hidden = book.add_worksheet("Lookup")
    hidden.write_row(0, 0, ["supplier", "part_number"])
    hidden.write_row(1, 0, ["Dahua Technology", "IPC-HFW2431S"])
    sheet = book.add_worksheet("PO 4711")
    sheet.activate()
    hidden.hide()
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(2, 1, ["Vendor", "Mfr Part Number", "Short Text", "Delivery Date", "Qty",
                           "Unit Price"])
    sheet.merge_range(3, 1, 5, 1, "Hangzhou Hikvision Digital Technology Co., Ltd.")
    sheet.write_string(3, 2, "DS-2CD2143G2-I")
    sheet.write_string(3, 3, "4MP dome camera")
    sheet.write_datetime(3, 4, dt.datetime(2026, 3, 14), date)
    sheet.write_number(3, 5, 12)
    sheet.write_number(3, 6, 89.5)
    sheet.write_formula(4, 2, '="DS-2CD"&"1043G0-I"', None, "DS-2CD1043G0-I")
    sheet.write_string(4, 3, "bullet camera")
    sheet.write_formula(4, 5, "=F4*2", None, 24)
    sheet.write_string(5, 3, "mounting bracket")
    # row 7 (index 6) empty; row 8 a line from another supplier
    sheet.write_string(7, 1, "Axis Communications AB")
    sheet.write_number(7, 2, 2201)  # a part number that is a number
    sheet.write_string(7, 3, "P3265-LVE")
    sheet.write_string(7, 4, "=cmd|' /C calc'!A0")  # text that looks like a formula
    sheet.set_column(8, 12, 20, book.add_format({"bg_color": "#FFFF00"}))
    sheet.write_blank(7, 9, None, book.add_format({"bold": True}))
    book.close()


def use_reader(monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    """Read test workbooks as a workbook of the size that picks `reader` is read."""
    if reader != "calamine":
        monkeypatch.setattr(sheets, "HOLD_ABOVE", 0)
    if reader == "openpyxl":
        monkeypatch.setattr(sheets, "CHILD_MAX", 0)


@pytest.mark.parametrize("reader", sheets.READERS)
def test_workbook_quirks_are_read_as_a_person_sees_them(
        tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_reader(monkeypatch, reader)
    book = tmp_path / "quirks.xlsx"
    write_quirky_workbook(book)
    source = LineItemFile(book)
    assert source.sheet is not None and source.sheet.name == "PO 4711"
    assert source.sheet.reader == reader
    rows = [r for chunk in source.chunks() for r in chunk]
    hik = "Hangzhou Hikvision Digital Technology Co., Ltd."
    merged = None if reader == "openpyxl" else hik  # the streaming reader sees no merges
    assert [(r[0], r[1], r[5], r[4]) for r in rows] == [
        ("row-4", hik, "DS-2CD2143G2-I", "4MP dome camera"),
        ("row-5", merged, "DS-2CD1043G0-I", "bullet camera"),
        ("row-6", merged, None, "mounting bracket"),
        ("row-8", "Axis Communications AB", "2201", "P3265-LVE"),
    ]
    assert rows[0][6] == {"Delivery Date": "2026-03-14", "Qty": "12", "Unit Price": "89.5"}
    assert rows[1][6]["Qty"] == "24"
    assert rows[3][6]["Delivery Date"] == "=cmd|' /C calc'!A0"
    # the hidden sheet only when asked for
    lookup = [r for chunk in LineItemFile(book, sheet="Lookup").chunks() for r in chunk]
    assert lookup[0][1:6:4] == ("Dahua Technology", "IPC-HFW2431S")


def test_quirky_workbook_screens_end_to_end(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    book = tmp_path / "quirks.xlsx"
    write_quirky_workbook(book)
    doc = screen_json(book, tmp_path / "out.json")
    assert verdicts(doc) == {"row-4": ("flagged", "Hikvision"),
                             "row-5": ("flagged", "Hikvision"),
                             "row-6": ("flagged", "Hikvision"),
                             "row-8": ("clear", None)}
    assert doc["source"] == str(book)


def write_ods(path: Path, rows: list[list[str]]) -> None:
    """A minimal OpenDocument spreadsheet (what LibreOffice writes, less its styles)."""
    def cell(value: str) -> str:
        text = value.replace("&", "&amp;").replace("<", "&lt;")
        return f'<table:table-cell office:value-type="string"><text:p>{text}</text:p>' \
               f"</table:table-cell>"
    body = "".join(f"<table:table-row>{''.join(cell(c) for c in row)}</table:table-row>"
                   for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Lines">{body}'
        "</table:table></office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet",
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)


def test_opendocument_sheet(tmp_path: Path) -> None:
    ods = tmp_path / "lines.ods"
    write_ods(ods, [["Supplier", "Manufacturer Part Number", "Item Description"],
                    ["Zhejiang Dahua Technology", "IPC-HDW2431T", "turret <camera> & mount"],
                    ["Bosch Security Systems", "NDE-3503-AL", "dome"]])
    rows = [r for chunk in LineItemFile(ods).chunks() for r in chunk]
    assert [(r[1], r[5], r[4]) for r in rows] == [
        ("Zhejiang Dahua Technology", "IPC-HDW2431T", "turret <camera> & mount"),
        ("Bosch Security Systems", "NDE-3503-AL", "dome")]


def test_password_protected_workbook_is_refused(tmp_path: Path) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain, locked = tmp_path / "plain.xlsx", tmp_path / "locked.xlsx"
    write_quirky_workbook(plain)
    with plain.open("rb") as source, locked.open("wb") as target:
        OOXMLFile(source).encrypt("S3cret-pass", target)
    out = tmp_path / "out.json"
    result = run_cli("screen", str(locked), "--format", "json", "--output", str(out))
    assert result.returncode == 2
    message = result.stderr.replace("\n", " ")
    assert f"{locked}: the workbook is password-protected" in message
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-a-workbook", "xls-named"])
def test_corrupt_workbook_is_refused_naming_the_file(tmp_path: Path, damage: str) -> None:
    good = tmp_path / "good.xlsx"
    write_quirky_workbook(good)
    bad = tmp_path / "bad.xlsx"
    if damage == "garbage":
        bad.write_bytes(b"\x00\x01PK\x03\x04 not really" * 100)
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "not-a-workbook":
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("readme.txt", "a zip file, not a workbook")
    else:  # an OLE2 container without encryption: an old binary workbook renamed
        bad.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 4000)
    with pytest.raises(InputError) as caught:
        LineItemFile(bad)
    assert str(caught.value).startswith(f"{bad}: ")
    result = run_cli("screen", str(bad), "--format", "json")
    assert result.returncode == 2 and str(bad) in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("reader", sheets.READERS[1:])
def test_every_reader_reads_the_labelled_workbook_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    book = tmp_path / "po.xlsx"
    write_labelled_workbook(book, ERP_HEADERS["sap-mm"])
    held = [r for chunk in LineItemFile(book).chunks() for r in chunk]
    use_reader(monkeypatch, reader)
    source = LineItemFile(book)
    assert source.sheet is not None and source.sheet.reader == reader
    assert [r for chunk in source.chunks() for r in chunk] == held
    assert len(held) == len(read_labelled())


def test_child_reader_errors_are_the_readers_own(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    book = tmp_path / "po.xlsx"
    write_quirky_workbook(book)
    use_reader(monkeypatch, "calamine-child")
    source = LineItemFile(book)
    book.write_bytes(b"gone bad after opening")
    with pytest.raises(InputError, match=r"po.xlsx: not a readable .xlsx workbook"):
        list(source.chunks())


def test_workbook_that_unpacks_past_the_bound_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = tmp_path / "bomb.xlsx"
    write_quirky_workbook(book)
    monkeypatch.setattr(sheets, "MAX_XML_BYTES", 4096)
    with pytest.raises(InputError, match=r"unpacks to .* export the sheet as CSV"):
        LineItemFile(book)


def test_sheet_errors_name_file_sheet_and_row(tmp_path: Path) -> None:
    book_path = tmp_path / "po.xlsx"
    book = xlsxwriter.Workbook(str(book_path))
    sheet = book.add_worksheet("Lines")
    sheet.write_row(0, 0, ["id", "Vendor"])
    sheet.write_row(1, 0, ["A-1", "Acme"])
    sheet.write_row(2, 0, ["A-1", "Hikvision"])
    empty = book.add_worksheet("Empty")
    empty.set_column(0, 3, 20)
    book.close()
    with pytest.raises(InputError) as caught:
        list(LineItemFile(book_path).chunks())
    assert str(caught.value) == (f"{book_path}, sheet 'Lines': row 3, field 'id': duplicate id "
                                 f"'A-1'")
    with pytest.raises(InputError, match="sheet 'Empty': the sheet is empty"):
        LineItemFile(book_path, sheet="Empty")
    with pytest.raises(InputError, match=r"no worksheet named 'Nope'; sheets: 'Lines', 'Empty'"):
        LineItemFile(book_path, sheet="Nope")
    with pytest.raises(InputError, match=r"--encoding is for CSV files"):
        LineItemFile(book_path, encoding="cp1252")
    csv_path = tmp_path / "po.csv"
    csv_path.write_text("supplier\nAcme\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"po.csv: --sheet is for workbooks"):
        LineItemFile(csv_path, sheet="Lines")
