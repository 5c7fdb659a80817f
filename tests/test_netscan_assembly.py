"""Device assembly in the network scan: candidate -> device -> merge -> attribution, without
sockets (the lab tests cover the same path end to end)."""

from __future__ import annotations

from entityscan.scanners.probes import Observations
from entityscan.scanners.scan import Candidate, attribute, build_device, merge


def _onvif_only_ezviz() -> Candidate:
    obs = Observations(answered=True)
    obs.signal("onvif_info", "EZVIZ", "onvif", "Manufacturer")
    obs.signal("onvif_info", "CS-C6N-A0-1C2WFR", "onvif", "Model")
    obs.fact("brand", "EZVIZ")
    obs.fact("model", "CS-C6N-A0-1C2WFR")
    return Candidate("10.9.0.20", open_ports={80}, observations=obs)


def test_an_uncertain_platform_tell_names_no_platform():
    """EZVIZ seen over ONVIF alone: the `CS-…` model is an uncertain Hikvision tell.  The maker
    is a lead for review; the platform stays unnamed, as attribution decides for every maker
    (the network scan used to name it anyway for Hikvision and Dahua)."""
    [device] = merge([attribute(build_device(_onvif_only_ezviz(), None))])
    assert (device.maker, device.platform, device.brand) == ("Hikvision", None, "EZVIZ")
    assert device.confidence == 0.25
    assert any(r.startswith("only uncertain evidence for Hikvision") for r in device.reasons)
