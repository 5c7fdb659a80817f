"""Which port each simulated protocol listens on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from entityscan.scanners.lab.profiles import DeviceProfile


class PortPlan(BaseModel):
    """Ports per protocol.  `unprivileged()` for loopback labs, `standard()` for namespaces."""

    model_config = ConfigDict(frozen=True)

    http: int = 8080
    https: int = 8443
    rtsp: int = 8554
    wsd: int = 3702
    sadp: int = 37020
    dhip: int = 37810

    @classmethod
    def unprivileged(cls) -> PortPlan:
        return cls()

    @classmethod
    def standard(cls) -> PortPlan:
        """The ports real devices use (needs root or a namespace)."""
        return cls(http=80, https=443, rtsp=554)

    def as_dict(self) -> dict[str, int]:
        return self.model_dump()


def ports_for(profile: DeviceProfile, plan: PortPlan) -> dict[str, int]:
    """The protocols a profile serves and their ports (ONVIF SOAP rides on HTTP)."""
    wanted = {
        "http": profile.http is not None or profile.onvif is not None,
        "https": profile.http is not None and profile.tls is not None,
        "rtsp": profile.rtsp is not None,
        "wsd": profile.onvif is not None,
        "sadp": profile.sadp is not None,
        "dhip": profile.dhip is not None,
    }
    ports = plan.as_dict()
    return {key: ports[key] for key, serves in wanted.items() if serves}
