"""The bundled starter dataset: every entry cited and dated, sources named, no guesses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from entityscan.lists import load_bundled
from entityscan.lists.bundled_loader import load_bundled_file

BUNDLED = Path(__file__).resolve().parent.parent / "plugin" / "lists" / "bundled"
FILES = sorted(BUNDLED.glob("*.yaml"))
MAKERS = {"Hikvision", "Dahua", "Huawei", "ZTE", "Hytera", "iFLYTEK", "SenseTime", "Megvii",
          "Yitu", "Xiamen Meiya Pico", "Yixin"}


@pytest.fixture(scope="module")
def bundled():
    return load_bundled()


def test_every_entry_has_citation_and_listed_date(bundled) -> None:
    assert len(bundled) >= 40
    for entry in bundled.entries:
        assert entry.citation, entry.id
        assert entry.listed is not None, entry.id
        assert entry.list and entry.list_name and entry.source_url, entry.id
        if entry.removed is not None:
            assert entry.removed > entry.listed, entry.id


def test_ids_unique_and_makers_canonical(bundled) -> None:
    ids = [e.id for e in bundled.entries]
    assert len(ids) == len(set(ids))
    assert {e.maker for e in bundled.entries if e.maker} == MAKERS


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_file_names_its_sources_in_a_header_comment(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert header, f"{path.name} has no header comment"
    assert "# Sources:" in header, path.name
    # facts are cited where the public can check them, never from notes outside the repository
    assert any("https://" in line for line in header), path.name
    assert not any("shared" + "/reference" in line for line in header), path.name
    entries = load_bundled_file(path)
    assert {e.list for e in entries} == {yaml.safe_load(text)["list"]}, path.name


def test_84_fr_54002_companies(bundled) -> None:
    el = {e.maker: e for e in bundled.entries if e.list == "EL" and e.maker}
    for maker in ("Dahua", "Hikvision", "iFLYTEK", "Megvii", "SenseTime", "Xiamen Meiya Pico",
                  "Yitu", "Yixin"):
        assert el[maker].citation == "84 FR 54002", maker
        assert el[maker].listed.isoformat() == "2019-10-09", maker
    assert "杭州海康威视数字技术股份有限公司" in el["Hikvision"].aliases
    assert "Zhejiang Dahua Technology Co., Ltd." in el["Dahua"].aliases
    psb = [e for e in bundled.entries if "Public Security Bureau" in e.name]
    assert [e.listed.isoformat() for e in psb] == ["2019-10-09"]
    college = next(e for e in bundled.entries if e.name == "Xinjiang Police College")
    assert college.parent == psb[0].name


def test_delistings_and_history(bundled) -> None:
    zte = next(e for e in bundled.entries if e.list == "EL" and e.maker == "ZTE")
    assert (zte.listed.isoformat(), zte.removed.isoformat()) == ("2016-03-08", "2017-03-29")
    megvii = next(e for e in bundled.entries if e.list == "1260H" and e.maker == "Megvii")
    assert (megvii.listed.isoformat(), megvii.removed.isoformat()) == ("2024-01-31",
                                                                       "2025-01-07")
    huawei = next(e for e in bundled.entries if e.list == "EL" and e.maker == "Huawei")
    assert (huawei.citation, huawei.listed.isoformat()) == ("84 FR 22961", "2019-05-16")


def test_1260h_and_cmic_entries(bundled) -> None:
    wisdom = next(e for e in bundled.entries if e.name.startswith("Chengdu Dahua Wisdom"))
    assert (wisdom.list, wisdom.maker, wisdom.parent) == ("1260H", "Dahua",
                                                          "Zhejiang Dahua Technology Co., Ltd.")
    cmic = {e.name: e.listed.isoformat() for e in bundled.entries if e.list == "CMIC"}
    assert cmic["SenseTime Group Limited"] == "2021-12-10"
    for name in ("Megvii Technology Limited", "Xiamen Meiya Pico Information Co., Ltd.",
                 "Yitu Limited"):
        assert cmic[name] == "2021-12-16"
    # Hikvision's NS-CMIC status is uncertain in our sources: not bundled as fact
    assert not [e for e in bundled.entries if e.list == "CMIC" and e.maker == "Hikvision"]


def test_fcc_and_889_cover_the_five_named_companies(bundled) -> None:
    for code in ("FCC", "NDAA889"):
        makers = {e.maker for e in bundled.entries if e.list == code and e.maker}
        assert makers == {"Huawei", "ZTE", "Hytera", "Hikvision", "Dahua"}, code
    fcc = {e.maker: e.listed.isoformat() for e in bundled.entries
           if e.list == "FCC" and e.maker}
    assert set(fcc.values()) == {"2021-03-12"}


def test_no_alias_is_a_fragment_of_a_comma_split_name(bundled) -> None:
    for entry in bundled.entries:
        for alias in entry.aliases:
            assert not alias.endswith(" Co."), (entry.id, alias)
            assert alias not in ("Ltd.", "Ltd", "Inc.", "Co."), (entry.id, alias)


def test_unquoted_comma_names_in_yaml_are_caught(tmp_path: Path) -> None:
    from entityscan.errors import ListError

    path = tmp_path / "mine.yaml"
    path.write_text("list: X\nlist_name: x\ncitation: memo\nentries:\n  - id: a\n"
                    "    name: Acme\n    aliases: [Acme Optics Co., Ltd.]\n"
                    "    listed: 2024-01-01\n",
                    encoding="utf-8")
    with pytest.raises(ListError) as info:
        load_bundled_file(path)
    assert "mine.yaml: entry 1 (a), field `aliases`" in str(info.value)
