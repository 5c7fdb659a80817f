"""Which port each simulated protocol listens on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from entityscan.scanners.lab.profiles import DeviceProfile

#: Protocols served over UDP (the others are TCP).
UDP_PROTOCOLS = ("wsd", "sadp", "dhip", "ssdp", "snmp")


class PortPlan(BaseModel):
    """Ports per protocol.  `unprivileged()` for loopback labs, `standard()` for namespaces."""

    model_config = ConfigDict(frozen=True)

    http: int = 8080
    https: int = 8443
    rtsp: int = 8554
    wsd: int = 3702
    sadp: int = 37020
    dhip: int = 37810
    # Vendor binary services (their usual ports are unprivileged already).
    hik_sdk: int = 8000
    dahua_sdk: int = 37777
    # Service greetings and UPnP/SNMP.
    telnet: int = 2323
    ftp: int = 2121
    ssh: int = 2222
    ssdp: int = 1900
    upnp: int = 49152
    snmp: int = 1161

    @classmethod
    def unprivileged(cls) -> PortPlan:
        return cls()

    @classmethod
    def standard(cls) -> PortPlan:
        """The ports real devices use (needs root or a namespace)."""
        return cls(http=80, https=443, rtsp=554, telnet=23, ftp=21, ssh=22, snmp=161)

    def as_dict(self) -> dict[str, int]:
        return self.model_dump()


def ports_for(profile: DeviceProfile, plan: PortPlan) -> dict[str, int]:
    """The protocols a profile serves and their ports (ONVIF SOAP rides on HTTP)."""
    greetings = profile.greetings
    wanted = {
        "http": profile.http is not None or profile.onvif is not None,
        "https": profile.http is not None and profile.tls is not None,
        "rtsp": profile.rtsp is not None,
        "wsd": profile.onvif is not None and profile.onvif.discoverable,
        "sadp": profile.sadp is not None,
        "dhip": profile.dhip is not None,
        "hik_sdk": profile.sdk is not None and profile.sdk.kind == "hikvision",
        "dahua_sdk": profile.sdk is not None and profile.sdk.kind == "dahua",
        "telnet": greetings is not None and greetings.telnet is not None,
        "ftp": greetings is not None and greetings.ftp is not None,
        "ssh": greetings is not None and greetings.ssh is not None,
        "ssdp": profile.upnp is not None,
        "upnp": profile.upnp is not None,
        "snmp": profile.snmp is not None,
    }
    ports = plan.as_dict()
    return {key: ports[key] for key, serves in wanted.items() if serves}
