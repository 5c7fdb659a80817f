"""Device assembly (`entityscan.scanners.assembly`): candidate -> device -> merge ->
attribution, without sockets (the lab tests cover the same path end to end)."""

from __future__ import annotations

import pytest

from entityscan.scanners import attribution
from entityscan.scanners.assembly import Candidate, build_device, merge_and_attribute
from entityscan.scanners.probes import Observations

MAC = "c0:56:e3:4a:10:01"  # a Hangzhou Hikvision block


def _onvif_only_ezviz() -> Candidate:
    obs = Observations(answered=True)
    obs.signal("onvif_info", "EZVIZ", "onvif", "Manufacturer")
    obs.signal("onvif_info", "CS-C6N-A0-1C2WFR", "onvif", "Model")
    obs.fact("brand", "EZVIZ")
    obs.fact("model", "CS-C6N-A0-1C2WFR")
    return Candidate("10.9.0.20", open_ports={80}, observations=obs)


def _hikvision_web(address: str, *, hostile: bool = False) -> Candidate:
    obs = Observations(answered=True, hostile=hostile)
    obs.signal("http_server", "App-webs/", "http", "Server")
    obs.fact("mac", MAC)
    return Candidate(address, open_ports={80}, observations=obs)


def test_an_uncertain_platform_tell_names_no_platform():
    """EZVIZ seen over ONVIF alone: the `CS-…` model is an uncertain Hikvision tell.  The maker
    is a lead for review; the platform stays unnamed, as attribution decides for every maker
    (the network scan used to name it anyway for Hikvision and Dahua)."""
    [device] = merge_and_attribute([build_device(_onvif_only_ezviz(), None)])
    assert (device.maker, device.platform, device.brand) == ("Hikvision", None, "EZVIZ")
    assert device.confidence == 0.25
    assert any(r.startswith("only uncertain evidence for Hikvision") for r in device.reasons)


def test_attribution_runs_once_per_merged_device(monkeypatch: pytest.MonkeyPatch):
    calls: list[list[str]] = []
    real = attribution.attribute

    def counting(device):
        calls.append(device.addresses)
        return real(device)

    monkeypatch.setattr(attribution, "attribute", counting)
    records = [build_device(_hikvision_web("10.9.0.5"), None),
               build_device(_hikvision_web("fe80::c256:e3ff:fe4a:1001"), None),
               build_device(_onvif_only_ezviz(), None)]
    devices = merge_and_attribute(records)
    assert calls == [["10.9.0.5", "fe80::c256:e3ff:fe4a:1001"], ["10.9.0.20"]]
    assert [(d.maker, d.platform) for d in devices] == [("Hikvision", "Hikvision"),
                                                        ("Hikvision", None)]


@pytest.mark.parametrize("which", [0, 1])
def test_one_hostile_record_withholds_the_merged_device(which: int):
    """The same MAC at two addresses, one of which misbehaved: whichever record came first, the
    merged device keeps its evidence but claims no maker."""
    candidates = [_hikvision_web("10.9.0.5"), _hikvision_web("10.9.0.6")]
    candidates[which].observations.hostile = True
    [device] = merge_and_attribute(build_device(c, None) for c in candidates)
    assert device.addresses == ["10.9.0.5", "10.9.0.6"]
    assert (device.maker, device.platform, device.confidence) == (None, None, 0.0)
    assert device.reasons == ["attribution withheld: the device sent hostile or malformed data"]
    assert "http_server/hikvision-app-webs" in {ev.rule for ev in device.evidence}


class _RaisingRules:
    """A rule set with a bug: judging an HTTP Server header or a MAC registrant raises."""

    def evaluate(self, kind: str, value: str, *, probe: str, field: str):
        if kind in ("http_server", "oui"):
            raise RuntimeError(f"rule for {kind} compiled wrong")
        return []


def test_a_rule_that_raises_is_recorded_on_the_device():
    device = build_device(_hikvision_web("10.9.0.5"), None, rules=_RaisingRules())
    assert device.errors == [
        "http Server: judging the http_server signal failed (RuntimeError: rule for "
        "http_server compiled wrong); its evidence is missing",
        "oui MAC: judging the oui signal failed (RuntimeError: rule for oui compiled wrong); "
        "its evidence is missing"]
    assert device.evidence == [] and device.readable and device.mac == MAC
    [attributed] = merge_and_attribute([device])
    assert attributed.errors == device.errors and attributed.maker is None
