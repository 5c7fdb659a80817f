"""Which port each simulated protocol listens on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
