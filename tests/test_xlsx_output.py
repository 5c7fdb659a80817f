"""`--format xlsx` opened as a spreadsheet program would (openpyxl), CSV encodings and
delimiters, and column mapping (`--map`, layouts, refusals)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from entityscan.columns import FIELDS, layouts, lookup, map_columns
from entityscan.errors import InputError
from entityscan.lineitems import LineItemFile
from tests.labelled_items import ITEM_FIELDS, read_labelled
from tests.test_workbooks import run_cli, screen_json, write_labelled_csv

HOSTILE = [
    ("X-1", '=HYPERLINK("http://127.0.0.1/x","Hikvision")', "formula"),
    ("X-2", "+cmd|' /C calc'!A0", "plus"),
    ("X-3", "@SUM(1+1)*cmd|' /C calc'!A0", "at"),
    ("X-4", "-2+3+cmd|' /C calc'!A0", "minus"),
    ("X-5", "\x07Zhejiang\x1b[31m Dahua\x00 Technology", "control characters"),
]


def write_hostile_csv(path: Path) -> None:
    write_labelled_csv(path)
    with path.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        for item_id, supplier, note in HOSTILE:
            writer.writerow([item_id, supplier, "", "", note, "", "=1+1", "@A1"])


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("xlsx-out")
    source = tmp / "lines.csv"
    write_hostile_csv(source)
    doc = screen_json(source, tmp / "out.json")
    book = tmp / "screened.xlsx"
    result = run_cli("screen", str(source), "--format", "xlsx", "--output", str(book))
    assert result.returncode == 1, result.stderr  # the labelled set has flagged lines
    return book, doc


def sheet_rows(book: Path, name: str) -> list[list[Any]]:
    workbook = openpyxl.load_workbook(book)
    return [[c.value for c in row] for row in workbook[name].iter_rows()]


def test_every_result_row_is_there_with_its_verdict(screened: tuple[Path, dict[str, Any]]
                                                    ) -> None:
    book, doc = screened
    rows = sheet_rows(book, "Results")
    header, body = rows[0], rows[1:]
    assert header[:7] == ["id", "verdict", "decision", "maker", "score", "lists", "reason"]
    assert header[7:] == ["id", *ITEM_FIELDS, "cost_centre", "po_number"]
    assert len(body) == len(read_labelled()) + len(HOSTILE) == len(doc["results"])
    expected = {r["id"]: (r["verdict"], r["decision"], r.get("maker") or None)
                for r in doc["results"]}
    assert {r[0]: (r[1], r[2], r[3] or None) for r in body} == expected
    labelled = {r.id: r for r in read_labelled()}
    for row in body:
        if row[0] in labelled:  # the input's own cells as read (trimmed; None: empty)
            item = labelled[row[0]].item
            assert row[8:13] == [item[f].strip() or None for f in ITEM_FIELDS], row[0]


def test_formula_looking_cells_are_text_and_controls_gone(
        screened: tuple[Path, dict[str, Any]]) -> None:
    book, _ = screened
    workbook = openpyxl.load_workbook(book)
    sheet = workbook["Results"]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for item_id, supplier, _ in HOSTILE[:4]:
        cell = cells[item_id][8]
        assert cell.data_type == "s" and cell.value == supplier, item_id
        assert cells[item_id][13].data_type == "s" and cells[item_id][13].value == "=1+1"
    assert cells["X-5"][8].value == "Zhejiang[31m Dahua Technology"
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:O{sheet.max_row}"
    assert sheet.column_dimensions["G"].width > 30


def test_verdict_cells_are_coloured(screened: tuple[Path, dict[str, Any]]) -> None:
    book, _ = screened
    sheet = openpyxl.load_workbook(book)["Results"]
    colours = {row[1].value: row[1].fill.fgColor.rgb for row in sheet.iter_rows(min_row=2)}
    assert colours["flagged"].endswith("F4C7C3") and colours["review"].endswith("FCE8B2")
    assert colours["clear"].endswith("D9EAD3")


def test_matches_and_sources_sheets(screened: tuple[Path, dict[str, Any]]) -> None:
    book, doc = screened
    matches = sheet_rows(book, "Matches")
    assert matches[0][:7] == ["line id", "verdict", "list", "entity", "citation", "listed",
                              "route"]
    expected = [(r["id"], m["list"], m["entity"], m["via"])
                for r in doc["results"] for m in r.get("matches") or ()]
    assert [(r[0], r[2], r[3], r[6]) for r in matches[1:]] == expected
    sources = sheet_rows(book, "Sources")
    by_key = {r[0]: r[1:] for r in sources if r[0]}
    assert by_key["lists content hash"][0] == doc["lists_content_hash"]
    assert by_key["total"][0] == len(doc["results"])
    bundled = by_key["bundled"]
    assert bundled[2] == doc["lists"][0]["content_hash"]
    assert by_key["format"][0] == "xlsx" and by_key["fail_on"][0] == "flagged"


def test_xlsx_needs_an_output_file_and_leaves_nothing_on_error(tmp_path: Path) -> None:
    source = tmp_path / "lines.csv"
    source.write_text("supplier\nHikvision\n", encoding="utf-8")
    result = run_cli("screen", str(source), "--format", "xlsx")
    assert result.returncode == 2 and "give --output FILE.xlsx" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("id,supplier\n1,a\n1,b\n", encoding="utf-8")
    out = tmp_path / "out.xlsx"
    result = run_cli("screen", str(bad), "--format", "xlsx", "--output", str(out))
    assert result.returncode == 2 and "duplicate id" in result.stderr
    assert list(tmp_path.iterdir()) == [source, bad] or not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.xlsx")]


# ----- CSV encodings and delimiters -----
LATIN = [("M-1", "Müller Überwachungstechnik GmbH", "Kuppelkamera für Außenbereich"),
         ("M-2", "Hikvision Deutschland GmbH", "Netzwerkkamera, wetterfest, 4 MP"),
         ("M-3", "Société Générale de Sécurité", "caméra dôme infrarouge")]


def test_legacy_encoding_is_detected_and_stated(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    text = "id;Vendor;Beschreibung\r\n" + "".join(
        f"{i}-{n};{s};{d}\r\n" for n in range(30) for i, s, d in LATIN)
    source.write_bytes(text.encode("cp1252"))
    out = tmp_path / "out.json"
    result = run_cli("screen", str(source), "--format", "json", "--output", str(out))
    assert result.returncode in (0, 1), result.stderr
    assert f"{source}: read as " in result.stderr and "detected" in result.stderr
    assert "--encoding" in result.stderr
    # names came through as written (a wrong guess would mangle the umlauts)
    suppliers = {r["item"]["supplier"] for r in json.loads(out.read_text())["results"]}
    assert suppliers == {s for _, s, _ in LATIN}


def test_given_encoding_is_used_and_a_wrong_one_fails_on_its_line(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes("supplier\tdescription\nAcme\tok\nMüller\tdome\n".encode("cp1252"))
    out = tmp_path / "out.json"
    result = run_cli("screen", str(source), "--encoding", "utf-8", "--format", "json",
                     "--output", str(out))
    assert result.returncode == 2 and "line 3: not UTF-8" in result.stderr
    result = run_cli("screen", str(source), "--encoding", "cp1252", "--format", "json",
                     "--output", str(out))
    assert result.returncode == 0 and "read as cp1252 (--encoding)" in result.stderr
    assert json.loads(out.read_text())["results"][1]["item"]["supplier"] == "Müller"
    result = run_cli("screen", str(source), "--encoding", "klingon-8")
    assert result.returncode == 2 and "--encoding 'klingon-8'" in result.stderr


def test_plain_utf8_says_nothing_and_delimiters_are_sniffed(tmp_path: Path) -> None:
    for delimiter in (",", ";", "\t", "|"):
        source = tmp_path / "lines.csv"
        source.write_text(delimiter.join(["Vendor Name", "Mfr Part Number", "Short Text"])
                          + "\n" + delimiter.join(["Dahua", "IPC-HFW2431S", "bullet"]) + "\n",
                          encoding="utf-8")
        reader = LineItemFile(source)
        assert reader.describe_input()["delimiter"] == delimiter
        assert [r[1:6] for c in reader.chunks() for r in c] == [
            ("Dahua", None, None, "bullet", "IPC-HFW2431S")]
    result = run_cli("screen", str(source), "--format", "ndjson")
    assert result.returncode == 1 and result.stderr == ""


# ----- column mapping -----
def test_every_layout_header_reads_as_its_field() -> None:
    from entityscan.columns import header_key

    table = lookup()
    assert {layout.name for layout in layouts()} >= {"sap-mm", "ariba", "oracle", "coupa",
                                                     "netsuite", "dynamics"}
    for layout in layouts():
        assert layout.source.strip(), layout.name
        for field, headers in layout.columns.items():
            assert field in FIELDS
            for header in headers:
                assert table[header_key(header)][0] == field, (layout.name, header)


def test_map_overrides_and_resolves_duplicates(tmp_path: Path) -> None:
    source = tmp_path / "po.csv"
    source.write_text("Supplier,Vendor,Material,Text\nAcme Distribution,Dahua,IPC-1,cam\n",
                      encoding="utf-8")
    with pytest.raises(InputError, match=r"duplicate header 'Vendor'.*--map supplier=COLUMN"):
        LineItemFile(source)
    reader = LineItemFile(source, overrides={"supplier": "vendor",
                                             "part_number": "Material"})
    row = next(reader.chunks())[0]
    assert row[1:6] == ("Dahua", None, None, "cam", "IPC-1")
    assert row[6] == {"Supplier": "Acme Distribution"}
    assert reader.columns is not None
    assert reader.columns.describe()[0] == ("  column 1 'Supplier': kept as an extra column "
                                            "(--map supplier names another column)")
    with pytest.raises(InputError, match=r"--map names column 'Plant'.*columns found: "
                                         r"'Supplier', 'Vendor', 'Material', 'Text'"):
        LineItemFile(source, overrides={"brand": "Plant"})
    result = run_cli("screen", str(source), "--map", "colour=Text")
    assert result.returncode == 2 and "unknown field 'colour'" in result.stderr


def test_no_screenable_column_lists_what_was_found(tmp_path: Path) -> None:
    source = tmp_path / "po.xlsx"
    import xlsxwriter

    book = xlsxwriter.Workbook(str(source))
    book.add_worksheet("Lines").write_row(0, 0, ["Plant", "Quantity", "Net Price"])
    book.close()
    result = run_cli("screen", str(source))
    assert result.returncode == 2
    message = result.stderr.replace("\n", " ")
    assert f"{source}, sheet 'Lines', row 1: no column to screen" in message
    assert "columns found: 'Plant', 'Quantity', 'Net Price'" in message
    assert "fields expected: supplier, manufacturer, brand, description, part_number" in message
    with pytest.raises(InputError, match="no column to screen"):
        map_columns("x.csv: line 1", ["Plant"])


def test_workbook_in_and_out_across_worker_chunks(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Several chunks screened in worker processes (`--jobs 2`): every line reaches the
    Results sheet once, in input order, with the JSON run's verdict."""
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path / "data"))
    import xlsxwriter

    labelled = read_labelled()
    source = tmp_path / "big.xlsx"
    book = xlsxwriter.Workbook(str(source), {"constant_memory": True})
    sheet = book.add_worksheet("Lines")
    sheet.write_row(0, 0, ["Line ID", "Name of Vendor", "Short Text", "Mfr Part Number"])
    count = 0
    for copy in range(6):
        for row in labelled:
            count += 1
            sheet.write_row(count, 0, [f"{row.id}-{copy}", row.item["supplier"],
                                       row.item["description"], row.item["part_number"]])
    book.close()
    doc = screen_json(source, tmp_path / "out.json", "--jobs", "2")
    out = tmp_path / "out.xlsx"
    result = run_cli("screen", str(source), "--jobs", "2", "--format", "xlsx", "--output",
                     str(out))
    assert result.returncode in (0, 1), result.stderr
    body = sheet_rows(out, "Results")[1:]
    assert len(body) == count > 2 * 1000
    assert [(r[0], r[1]) for r in body] == [(r["id"], r["verdict"]) for r in doc["results"]]
