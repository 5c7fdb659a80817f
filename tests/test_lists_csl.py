"""The trade.gov CSL loaders: every format quirk, and every kind of bad input."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest

from entityscan.errors import ListError
from entityscan.lists.csl_entries import CslStats, source_code
from entityscan.lists.csl_names import parse_name, split_multi, strip_location
from entityscan.lists.csl_reader import (
    CSV_HARD_LIMIT,
    MAX_CELL_CHARS,
    MAX_RECORD_CHARS,
    load_csl_file,
)
from entityscan.model import ListEntry
from tests.lists_helpers import HEADER, write_csl

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "lists"
GOOD_FILES = ["csl_sample.csv", "csl_sample.json", "csl_no_id.csv", "csl_reordered.csv"]


def load(name: str) -> tuple[list[ListEntry], CslStats]:
    stats = CslStats()
    return load_csl_file(SAMPLES / name, stats), stats


def by_name(entries: list[ListEntry]) -> dict[str, ListEntry]:
    return {e.name: e for e in entries}


@pytest.fixture(scope="module", params=GOOD_FILES)
def sample(request: pytest.FixtureRequest) -> tuple[str, list[ListEntry], CslStats]:
    entries, stats = load(request.param)
    return request.param, entries, stats


# --- format variants ------------------------------------------------------------------------

def test_every_variant_reads_the_same_rows_and_lists(sample) -> None:
    _name, entries, stats = sample
    assert stats.rows == 12
    assert dict(stats.rows_per_list) == {"EL": 6, "SDN": 2, "CMIC": 1, "DPL": 1, "MEU": 1,
                                         "ISN": 1}
    # two affiliate rows add their parents: 12 rows -> 14 entries
    assert len(entries) == 14
    assert len({e.id for e in entries}) == len(entries)


def test_variants_agree_on_names_aliases_and_dates() -> None:
    def key(entries: list[ListEntry]) -> set[tuple]:
        return {(e.list, e.name, tuple(sorted(e.aliases)), e.parent, e.citation, e.listed,
                 e.removed, e.country) for e in entries}

    reference = key(load("csl_sample.csv")[0])
    for other in GOOD_FILES[1:]:
        assert key(load(other)[0]) == reference, other


def test_entity_list_rows_with_empty_type_are_kept(sample) -> None:
    _name, entries, _stats = sample
    el = [e for e in entries if e.list == "EL"]
    assert {"Hangzhou Hikvision Digital Technology Co., Ltd.",
            "Zhejiang Dahua Technology Co., Ltd."} <= {e.name for e in el}


def test_csv_id_and_json_id_give_the_same_entry_ids() -> None:
    csv_ids = {e.id for e in load("csl_sample.csv")[0]}
    json_ids = {e.id for e in load("csl_sample.json")[0]}
    assert csv_ids == json_ids
    assert "csl:6f4c1b1e0c2d4a7e9b1f3a5c7d9e0a11" in csv_ids


def test_files_without_id_column_get_stable_derived_ids() -> None:
    """Ids derived from source, entity number, name and addresses: the same in every release,
    so a finding's entry id still means the same row after `lists update`."""
    ids = sorted(e.id for e in load("csl_no_id.csv")[0])
    assert ids == [
        "csl:CMIC:04719920546e4f7b", "csl:DPL:251c7f53f4742411", "csl:EL:1e5b1bb3f4a5dbd2",
        "csl:EL:1e5b1bb3f4a5dbd2/parent", "csl:EL:32350ff31bbe2ae0", "csl:EL:7d4b5aad27ef8471",
        "csl:EL:8ea366bac10a2663", "csl:EL:8ea366bac10a2663/parent", "csl:EL:dcf9e82e9eed25b2",
        "csl:EL:e19bf0cc668b26e4", "csl:ISN:ce60a16837e10acd", "csl:MEU:bdeef67afe5d72db",
        "csl:SDN:769bbeeed7ef6f1c", "csl:SDN:ab2226cc24d91376"]


def test_and_before_last_alias_is_stripped() -> None:
    hik = by_name(load("csl_sample.csv")[0])["Hangzhou Hikvision Digital Technology Co., Ltd."]
    assert hik.aliases[:3] == ("Hikvision", "Hangzhou Hikvision Digital Technology",
                               "Hangzhou Hikvision")
    assert not any(a.lower().startswith("and ") for a in hik.aliases)


def test_several_fr_citations_are_kept_in_order() -> None:
    entries = by_name(load("csl_sample.csv")[0])
    name = "Guizhou Aerospace Electronics Technology Co., Ltd., Guiyang, Guizhou"
    assert entries[name].citation == "83 FR 37423; 87 FR 77505"


def test_start_and_end_dates() -> None:
    entries = by_name(load("csl_sample.json")[0])
    dpl = entries["Northern Star Export Trading LLC"]
    assert (dpl.listed, dpl.removed) == (date(2021, 3, 1), date(2031, 3, 1))
    assert entries["OCEAN STAR 7"].listed is None


def test_affiliated_entity_names_are_split_with_parent(sample) -> None:
    _name, entries, _stats = sample
    named = by_name(entries)
    beijing = named["Huawei Cloud Beijing"]
    assert beijing.parent == "Huawei Technologies Co., Ltd."
    assert beijing.citation == "84 FR 22961; 85 FR 51603"
    assert "Huawei Cloud Computing Technology Beijing Branch" in beijing.aliases
    parents = [e for e in entries if e.name == "Huawei Technologies Co., Ltd."]
    assert len(parents) == 1, "the parent is emitted once, not once per affiliate row"
    assert "Huawei" in parents[0].aliases
    assert parents[0].parent is None


def test_location_text_kept_as_published_with_cleaned_alias() -> None:
    named = by_name(load("csl_sample.csv")[0])
    guiyang = named["Huawei Cloud Guiyang, Guiyang, Guizhou"]
    assert "Huawei Cloud Guiyang" in guiyang.aliases
    gaetc = named["Guizhou Aerospace Electronics Technology Co., Ltd., Guiyang, Guizhou"]
    assert "Guizhou Aerospace Electronics Technology Co., Ltd." in gaetc.aliases
    meu = next(e for e in named.values() if e.list == "MEU")
    assert meu.name.endswith("Xi'an, Shaanxi")
    assert "Aviation Industry Corporation of China Xi'an Aircraft Industry Group Company Ltd." \
        in meu.aliases


def test_subordinate_institution_is_split() -> None:
    named = by_name(load("csl_sample.csv")[0])
    institute = named["Institute of Fluid Physics"]
    assert institute.parent == "China Academy of Engineering Physics"
    assert "9th Academy Fluid Physics Institute" in institute.aliases
    assert "China Academy of Engineering Physics" in named


def test_individuals_keep_their_names_whole() -> None:
    named = by_name(load("csl_sample.csv")[0])
    person = named["AL-HARBI, Khalid Saad"]
    assert person.aliases == ("AL-HARBI, Khaled", "HARBI, Khalid")
    assert person.country == "SA"


@pytest.mark.parametrize(("source", "code"), [
    ("Entity List (EL) - Bureau of Industry and Security", "EL"),
    ("Denied Persons List (DPL) - Bureau of Industry and Security", "DPL"),
    ("Unverified List (UVL) - Bureau of Industry and Security", "UVL"),
    ("Military End User (MEU) List - Bureau of Industry and Security", "MEU"),
    ("ITAR Debarred (DTC) - State Department", "DTC"),
    ("Nonproliferation Sanctions (ISN) - State Department", "ISN"),
    ("Specially Designated Nationals (SDN) - Treasury Department", "SDN"),
    ("Foreign Sanctions Evaders (FSE) - Treasury Department", "FSE"),
    ("Sectoral Sanctions Identifications List (SSI) - Treasury Department", "SSI"),
    ("Palestinian Legislative Council List (PLC) - Treasury Department", "PLC"),
    ("Capta List (CAP) - Treasury Department", "CAP"),
    ("Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department", "NS-MBS"),
    ("Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department",
     "CMIC"),
    ("Entity List (EL) - Bureau of Industry and Security, Commerce", "EL"),  # reworded tail
    ("Outbound Investment Security List (OISL) - Treasury Department",
     "x-outbound-investment-security-list-oisl-treasury-department"),
])
def test_source_codes(source: str, code: str) -> None:
    assert source_code(source) == code


def test_unknown_source_rows_are_kept_under_a_slug(tmp_path: Path) -> None:
    path = tmp_path / "new_source.csv"
    path.write_text("source,name\nOutbound Investment Security List (OISL) - Treasury,"
                    '"Example Quantum Co., Ltd."\n', encoding="utf-8")
    entries = load_csl_file(path)
    assert [e.list for e in entries] == ["x-outbound-investment-security-list-oisl-treasury"]


@pytest.mark.parametrize(("cell", "expected"), [
    ("A; B; and C", ["A", "B", "C"]),
    ("and Co Holdings; X", ["and Co Holdings", "X"]),  # only later aliases lose "and "
    ("One", ["One"]),
    ("", []),
    (" ; A ;; and B ", ["A", "B"]),
])
def test_split_multi(cell: str, expected: list[str]) -> None:
    assert split_multi(cell) == expected


@pytest.mark.parametrize(("name", "cleaned"), [
    ("Guizhou Huaxin Technology Co., Ltd., Guiyang, Guizhou",
     "Guizhou Huaxin Technology Co., Ltd."),
    ("Huawei Cloud Guiyang, Guiyang, Guizhou", "Huawei Cloud Guiyang"),
    ("Huawei Technologies Co., Ltd.", None),
    ("Beijing Huawei Digital Technologies, Co., Ltd.", None),
    ("SMITH, John", None),
    ("AL-HARBI, Khalid Saad", None),
    ("Xinjiang Police College, Urumqi", "Xinjiang Police College"),
    ("Foo Trading Ltd., Dubai, United Arab Emirates", "Foo Trading Ltd."),
    ("Tupolev, PJSC", None),
    ("Sukhoi Company (JSC), Moscow", "Sukhoi Company (JSC)"),
    ("KIM, Jong Un", None),
    ("Harbin Institute of Technology, Harbin", None),  # no legal tail, unknown place: kept
])
def test_strip_location(name: str, cleaned: str | None) -> None:
    assert strip_location(name) == cleaned


def test_parse_name_with_several_affiliates() -> None:
    parts = parse_name("Huawei Technologies Co., Ltd. (Huawei). Affiliated Entities: "
                       "Huawei Cloud Dalian; and Huawei OpenLab Suzhou, Suzhou, Jiangsu")
    assert parts.main == "Huawei Technologies Co., Ltd."
    assert parts.main_aliases == ["Huawei"]
    assert [name for name, _ in parts.affiliates] == ["Huawei Cloud Dalian",
                                                       "Huawei OpenLab Suzhou, Suzhou, Jiangsu"]
    assert parts.affiliates[1][1] == ["Huawei OpenLab Suzhou"]


def test_json_bare_array_and_extra_top_level_keys(tmp_path: Path) -> None:
    rows = json.loads((SAMPLES / "csl_sample.json").read_text(encoding="utf-8"))["results"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(rows), encoding="utf-8")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"sources_used": [{"source": "x"}], "total": len(rows),
                                   "results": rows, "search_performed_at": "2026-11-26"}),
                       encoding="utf-8")
    assert len(load_csl_file(bare)) == len(load_csl_file(wrapped)) == 14


def test_json_streams_across_read_blocks(tmp_path: Path) -> None:
    """Records straddling the 1 MiB read blocks parse exactly as a one-shot json.load."""
    rows = json.loads((SAMPLES / "csl_sample.json").read_text(encoding="utf-8"))["results"]
    many = []
    for i in range(3000):
        row = dict(rows[i % len(rows)])
        row["id"] = f"{row['id']}-{i}"
        row["remarks"] = "r" * (i % 997)
        many.append(row)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"results": many}, indent=2), encoding="utf-8")
    assert path.stat().st_size > 3 * (1 << 20)
    stats = CslStats()
    entries = load_csl_file(path, stats)
    assert stats.rows == 3000
    assert {e.remarks for e in entries if e.id.endswith("-996")} == {"r" * 996}


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (SAMPLES / "csl_sample.csv").read_bytes())
    assert len(load_csl_file(path)) == 14


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize(("fixture", "expected"), [
    ("corrupt_cp1252.csv", ["corrupt_cp1252.csv", "line 2", "field `license_requirement`",
                            "not UTF-8"]),
    ("corrupt_duplicate_header.csv", ["corrupt_duplicate_header.csv", "line 1",
                                      "duplicate column `name`", "columns 6, 7"]),
    ("corrupt_empty.csv", ["corrupt_empty.csv", "empty file"]),
    ("corrupt_page.html", ["corrupt_page.html", "line 1", "HTML page"]),
    ("corrupt_truncated.csv", ["corrupt_truncated.csv", "line 5", "truncated"]),
    ("corrupt_truncated_row.csv", ["corrupt_truncated_row.csv", "line 6",
                                   "after field `source`", "truncated"]),
    ("corrupt_truncated.json", ["corrupt_truncated.json", "line ", "record 6", "truncated"]),
    ("not_csl.csv", ["not_csl.csv", "line 1", "`name`", "`source`", "not a trade.gov CSL"]),
])
def test_corrupt_fixtures_name_file_line_and_field(fixture: str, expected: list[str]) -> None:
    with pytest.raises(ListError) as info:
        load_csl_file(SAMPLES / fixture)
    message = str(info.value)
    for part in expected:
        assert part in message, (part, message)


def test_huge_csv_cell_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = write_csl(tmp_path / "huge.csv", {"EL": 3})
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    rows[2][HEADER.index("remarks")] = "x" * (10 * 1024 * 1024)
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    with pytest.raises(ListError) as info:
        load_csl_file(path)
    message = str(info.value)
    assert "huge.csv" in message and "line 3" in message and "field `remarks`" in message
    assert f"{MAX_CELL_CHARS:,}" in message


def test_monstrous_csv_cell_hits_the_hard_limit(tmp_path: Path) -> None:
    path = tmp_path / "monster.csv"
    with open(path, "w", encoding="utf-8") as out:
        out.write("source,name,remarks\n")
        out.write('Entity List (EL) - Bureau of Industry and Security,X Co., Ltd.,"')
        out.write("y" * (17 * MAX_CELL_CHARS))
        out.write('"\n')
    with pytest.raises(ListError) as info:
        load_csl_file(path)
    assert str(info.value) == (f"{path}: line 2: a cell is larger than {CSV_HARD_LIMIT:,} "
                               "characters; refusing the file")


def test_huge_json_value_is_refused_naming_the_field(tmp_path: Path) -> None:
    rows = json.loads((SAMPLES / "csl_sample.json").read_text(encoding="utf-8"))["results"]
    rows[1]["remarks"] = "x" * (MAX_CELL_CHARS + 10)
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"results": rows}, indent=1), encoding="utf-8")
    with pytest.raises(ListError) as info:
        load_csl_file(path)
    message = str(info.value)
    assert "huge.json" in message and "record 2" in message and "field `remarks`" in message


def test_json_record_beyond_the_record_limit(tmp_path: Path) -> None:
    path = tmp_path / "endless.json"
    with open(path, "w", encoding="utf-8") as out:
        out.write('{"results": [{"source": "Entity List (EL) - Bureau of Industry and Security",'
                  ' "name": "X", "remarks": "')
        out.write("z" * (5 * MAX_CELL_CHARS))
    with pytest.raises(ListError) as info:
        load_csl_file(path)
    assert str(info.value) == (f"{path}: line 1, record 1: a record larger than "
                               f"{MAX_RECORD_CHARS:,} characters; refusing the file")


@pytest.mark.parametrize(("content", "expected"), [
    (b'{"data": []}', "`results`"),
    (b'{"results": {"a": 1}}', "not an array"),
    (b'{"results": [1, 2]}', "not an object"),
    (b'{"results": [{"title": "x"}]}', "missing required field"),
    (b'[{"source": "Entity List (EL) - Bureau of Industry and Security", "name": ""}]',
     "field `name`"),
    (b'{"results": []} trailing', "unexpected data"),
    (b'{"results": [{"source": "SDN", "name": "A", "start_date": "yesterday"}]}',
     "field `start_date`"),
])
def test_bad_json_shapes(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ListError) as info:
        load_csl_file(path)
    assert "bad.json" in str(info.value) and expected in str(info.value)


def test_bad_date_in_csv_names_line_and_field(tmp_path: Path) -> None:
    path = write_csl(tmp_path / "dates.csv", {"EL": 4})
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("2020-01-02", "02.01.2020")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ListError) as info:
        load_csl_file(path)
    assert "dates.csv: line 4, field `start_date`" in str(info.value)


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(ListError, match="no rows"):
        load_csl_file(path)


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "consolidated.csv"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 20)  # a gzip body, not CSV
    with pytest.raises(ListError) as info:
        load_csl_file(path)
    assert str(info.value).startswith(f"{path}: line 1, column 2: not UTF-8 text (byte 0x8b")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="cannot read"):
        load_csl_file(tmp_path / "absent.csv")
