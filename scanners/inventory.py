"""The inventory model: the contract between the scanners and the screening half.

Scanners (network, USB, lsusb files) produce `Device` records that carry every piece of
`Evidence` they saw; attribution fills in `maker`, `platform` and `confidence`; the matcher in
`plugin` then screens each device.  Nothing here does I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Certainty(StrEnum):
    """How far a piece of evidence or a relation can be trusted.

    `solid`: registry data, a vendor protocol answer, or several independent sources.
    `medium`: one good source or several weak ones.
    `uncertain`: a lead only; on its own it can justify `review`, never `flagged`.
    """

    SOLID = "solid"
    MEDIUM = "medium"
    UNCERTAIN = "uncertain"

    @property
    def weight(self) -> float:
        return {"solid": 1.0, "medium": 0.6, "uncertain": 0.25}[self.value]


class Evidence(BaseModel):
    """One observation about a device and what it points to."""

    model_config = ConfigDict(frozen=True)

    probe: str = Field(description="what produced it: sadp, dhip, wsd, mdns, http, rtsp, tls, "
                                   "onvif, oui, usb, lsusb …")
    field: str = Field(description="which field of the probe's answer, e.g. `Server` header")
    value: str = Field(description="the raw value as seen (truncated to a sane length)")
    indicates: str | None = Field(
        default=None,
        description="the maker or platform this points to (a maker name such as `Hikvision`), "
                    "or None for descriptive evidence (a model, a firmware string)",
    )
    certainty: Certainty = Certainty.MEDIUM
    source: str | None = Field(default=None, description="where the rule behind it comes from")
    rule: str | None = Field(default=None, description="id of the signature rule that matched")
    kind: str = Field(
        default="platform",
        description="`platform` (who built it: protocol, firmware, web stack), `registrant` "
                    "(OUI or USB VID owner) or `label` (what the box says: ONVIF "
                    "Manufacturer, page title, DHIP Vendor)",
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="values the rule extracted from `value` (model, firmware, serial, "
                    "build_date, mac …); empty when nothing was extracted",
    )


class Device(BaseModel):
    """A device found on a network or a host's USB bus, with everything seen about it."""

    model_config = ConfigDict(extra="allow")

    addresses: list[str] = Field(default_factory=list)
    mac: str | None = Field(default=None, description="lower-case, colon separated")
    serial: str | None = None
    brand: str | None = Field(default=None, description="the label the device shows")
    maker: str | None = Field(default=None, description="the attributed true maker")
    platform: str | None = Field(default=None, description="the firmware platform, if known")
    model: str | None = None
    firmware: str | None = None
    device_class: str | None = Field(default=None, description="camera, nvr, dvr, intercom, "
                                                                "usb-camera, modem …")
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    readable: bool = Field(default=True, description="False when the device could not be read")
    errors: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    # USB devices
    host: str | None = None
    vid: str | None = Field(default=None, description="4-digit lower-case hex, e.g. `2bdf`")
    pid: str | None = None
    reasons: list[str] = Field(default_factory=list, description="attribution's explanation")

    def key(self) -> str:
        """A stable identity: MAC, then serial, then USB path/ids, then an asset record's
        identity, then the first address.

        Uninitialised Dahua units share 192.168.1.108, so an IP is the last resort.
        """
        if self.mac:
            return f"mac:{self.mac.lower()}"
        if self.serial:
            return f"serial:{self.serial}"
        if self.vid and self.host:
            return f"usb:{self.host}:{self.vid}:{self.pid}:{','.join(self.addresses)}"
        record = (self.model_extra or {}).get("inventory")
        if isinstance(record, dict) and record.get("key"):
            # an asset-system record: its own identity (asset tag, site and name) before an
            # address, which two sites' private ranges may share
            return f"asset:{record['key']}"
        return f"ip:{self.addresses[0]}" if self.addresses else "unknown"


class ScanError(BaseModel):
    """A problem met during a scan that did not stop it."""

    target: str | None = None
    probe: str | None = None
    message: str


class Inventory(BaseModel):
    """What one scan (network or USB) found."""

    kind: str = Field(default="network", description="network | usb")
    targets: list[str] = Field(default_factory=list)
    started: datetime = Field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    devices: list[Device] = Field(default_factory=list)
    errors: list[ScanError] = Field(default_factory=list)
