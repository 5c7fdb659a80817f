"""Raw USB records -> inventory `Device` + `Evidence`.  Pure: reads data files, never the bus.

Identification data is data: the curated table `usb_vendors.yaml` (listed makers' VIDs and
string patterns, with sources) and the system `usb.ids` (or systemd's hwdb text, generated from
it) for every other vendor's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from entityscan.scanners.inventory import Certainty, Device, Evidence
from entityscan.scanners.usb.errors import UsbError
from entityscan.scanners.usb.records import Interface, UsbRecord

# Where distributions put the linux-usb.org list, then systemd's hwdb text built from it
# (Debian 12's usbutils reads only the hwdb, so usb.ids may be absent).
DEFAULT_USB_IDS_PATHS: tuple[Path, ...] = (
    Path("/usr/share/hwdata/usb.ids"),
    Path("/usr/share/misc/usb.ids"),
    Path("/var/lib/usbutils/usb.ids"),
    Path("/usr/share/usb.ids"),
    Path("/usr/lib/udev/hwdb.d/20-usb-vendor-model.hwdb"),
    Path("/lib/udev/hwdb.d/20-usb-vendor-model.hwdb"),
)
_MAX_VALUE = 200  # evidence values are truncated to this many characters

_STRING_FIELDS = (("manufacturer", "iManufacturer"), ("product", "iProduct"),
                  ("description", "description"))


@dataclass(frozen=True)
class VendorRule:
    id: str
    vid: str
    maker: str
    name: str
    certainty: Certainty
    source: str
    device_class: str | None
    examples: tuple[str, ...]


@dataclass(frozen=True)
class StringRule:
    id: str
    pattern: re.Pattern[str]
    maker: str
    brand: str | None
    certainty: Certainty
    source: str
    examples: tuple[str, ...]
    counterexamples: tuple[str, ...]


@dataclass(frozen=True)
class ClassRule:
    cls: int
    subclass: int | None
    protocol: int | None
    device_class: str
    generic: bool

    def matches(self, cls: int | None, subclass: int | None, protocol: int | None) -> bool:
        return (cls == self.cls
                and (self.subclass is None or subclass == self.subclass)
                and (self.protocol is None or protocol == self.protocol))


class UsbSignatures:
    """The curated identification table, loaded once and immutable."""

    def __init__(self, vendors: Sequence[VendorRule], strings: Sequence[StringRule],
                 classes: Sequence[ClassRule],
                 product_hints: Sequence[tuple[re.Pattern[str], str]], location: str) -> None:
        self.vendors = {rule.vid: rule for rule in vendors}
        self.strings = tuple(strings)
        self.classes = tuple(classes)
        self.product_hints = tuple(product_hints)
        self.location = location

    @classmethod
    def load(cls, path: Path | None = None) -> UsbSignatures:
        if path is None:
            bundled = resources.files("entityscan.scanners.usb").joinpath("usb_vendors.yaml")
            text = bundled.read_text("utf-8")
            return cls._parse(text, "scanners/usb/usb_vendors.yaml")
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise UsbError(f"{path}: cannot read the USB signature file ({exc.strerror})") from exc
        return cls._parse(text, str(path))

    @classmethod
    def _parse(cls, text: str, where: str) -> UsbSignatures:
        try:
            data = yaml.safe_load(text)
            vendors = [VendorRule(id=v["id"], vid=_hex4(v["vid"]), maker=v["maker"],
                                  name=v["name"], certainty=Certainty(v["certainty"]),
                                  source=v["source"], device_class=v.get("device_class"),
                                  examples=tuple(v.get("examples") or ()))
                       for v in data["vendors"]]
            strings = [StringRule(id=s["id"], pattern=re.compile(s["pattern"]), maker=s["maker"],
                                  brand=s.get("brand"), certainty=Certainty(s["certainty"]),
                                  source=s["source"], examples=tuple(s.get("examples") or ()),
                                  counterexamples=tuple(s.get("counterexamples") or ()))
                       for s in data["strings"]]
            classes = [ClassRule(cls=int(c["class"]), subclass=c.get("subclass"),
                                 protocol=c.get("protocol"), device_class=c["device_class"],
                                 generic=bool(c.get("generic", False)))
                       for c in data["classes"]]
            hints = [(re.compile(h["pattern"], re.IGNORECASE), h["device_class"])
                     for h in data["product_hints"]]
        except (yaml.YAMLError, KeyError, TypeError, ValueError, re.error) as exc:
            raise UsbError(f"{where}: malformed USB signature data ({exc})") from exc
        return cls(vendors, strings, classes, hints, where)

    def classify(self, record: UsbRecord, vendor: VendorRule | None) -> str | None:
        """The inventory device class: specific class codes, product words, vendor, generic."""
        triples: list[tuple[int | None, int | None, int | None]] = [
            (i.cls, i.subclass, i.protocol) for i in record.interfaces]
        triples.append((record.device_class, record.device_subclass, record.device_protocol))
        generic: str | None = None
        for rule in self.classes:
            if any(rule.matches(*t) for t in triples):
                if not rule.generic:
                    return rule.device_class
                generic = generic or rule.device_class
        for text in (record.product, record.description):
            for pattern, device_class in self.product_hints:
                if text and pattern.search(text):
                    return device_class
        if vendor and vendor.device_class:
            return vendor.device_class
        return generic


class VendorNames:
    """USB vendor and product names from usb.ids or systemd's hwdb text."""

    def __init__(self, vendors: dict[int, str], products: dict[tuple[int, int], str],
                 location: str | None) -> None:
        self.vendors = vendors
        self.products = products
        self.location = location

    @classmethod
    def empty(cls) -> VendorNames:
        return cls({}, {}, None)

    @classmethod
    def load(cls, paths: Iterable[Path] = DEFAULT_USB_IDS_PATHS) -> VendorNames:
        """The first readable file of `paths`; no file at all is not an error (fewer names)."""
        for path in paths:
            if path.is_file():
                return _load_names(str(path))
        return cls.empty()

    def vendor(self, vid: int) -> str | None:
        return self.vendors.get(vid)

    def product(self, vid: int, pid: int) -> str | None:
        return self.products.get((vid, pid))


_USB_IDS_VENDOR = re.compile(r"^([0-9a-fA-F]{4})\s+(.+?)\s*$")
_USB_IDS_PRODUCT = re.compile(r"^\t([0-9a-fA-F]{4})\s+(.+?)\s*$")
_HWDB_MATCH = re.compile(r"^usb:v([0-9A-Fa-f]{4})(?:p([0-9A-Fa-f]{4}))?\*$")


@lru_cache(maxsize=8)
def _load_names(path: str) -> VendorNames:
    vendors: dict[int, str] = {}
    products: dict[tuple[int, int], str] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines(keepends=True)
    first = next((line for line in lines if line.strip() and not line.startswith("#")), "")
    if first.startswith("usb:"):  # systemd hwdb text, generated from usb.ids
        key: tuple[int, int | None] | None = None
        for line in lines:
            match = _HWDB_MATCH.match(line.rstrip("\n"))
            if match:
                key = (int(match[1], 16), int(match[2], 16) if match[2] else None)
                continue
            stripped = line.strip()
            if key is None or "=" not in stripped:
                key = None if not stripped else key
                continue
            name, _, value = stripped.partition("=")
            if name == "ID_VENDOR_FROM_DATABASE" and key[1] is None:
                vendors[key[0]] = value
            elif name == "ID_MODEL_FROM_DATABASE" and key[1] is not None:
                products[(key[0], key[1])] = value
    else:
        vid: int | None = None
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith("\t\t"):
                continue  # interface lines
            if line.startswith("\t"):
                product = _USB_IDS_PRODUCT.match(line)
                if product and vid is not None:
                    products[(vid, int(product[1], 16))] = product[2]
                continue
            vendor = _USB_IDS_VENDOR.match(line)
            if not vendor:
                break  # the class, HID and language sections follow the vendor list
            vid = int(vendor[1], 16)
            vendors[vid] = vendor[2]
    return VendorNames(vendors, products, path)


def _hex4(value: Any) -> str:
    text = value if isinstance(value, str) else f"{int(value):04x}"
    text = text.lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{4}", text):
        raise ValueError(f"not a 4-digit hex USB id: {value!r}")
    return text


def _clip(value: str) -> str:
    return value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE - 1] + "…"


def identify(record: UsbRecord, signatures: UsbSignatures, names: VendorNames) -> Device:
    """One raw record -> a `Device` with all evidence (attribution is the caller's next step)."""
    probe = "lsusb" if record.source.startswith("lsusb") else "usb"
    evidence: list[Evidence] = []
    vendor = signatures.vendors.get(record.vid_hex)
    vendor_name = names.vendor(record.vid)
    if vendor:
        # A USB device has no protocol to ask; its VID is written into the firmware's
        # descriptor by whoever built the device, and OEM relabels keep it.  So a curated VID
        # of a listed maker is platform evidence, weighed by its own certainty (2e03 Dahua is
        # medium -> review); an OUI on a network card is only a registrant hint.
        evidence.append(Evidence(probe=probe, field="idVendor", value=f"0x{record.vid_hex}",
                                 indicates=vendor.maker, certainty=vendor.certainty,
                                 source=vendor.source, rule=vendor.id, kind="platform"))
    if vendor_name:
        # The registry name is the maker for vendors we do not curate; for curated ones it is
        # description only (one VID must not vote twice).
        evidence.append(Evidence(probe=probe, field="idVendor (usb.ids)",
                                 value=_clip(vendor_name),
                                 indicates=None if vendor else vendor_name,
                                 certainty=Certainty.SOLID, source=f"usb.ids ({names.location})",
                                 rule="usb-ids", kind="registrant"))

    brand: str | None = None
    fired: set[str] = set()  # one rule votes once: lsusb repeats iProduct in its description
    # lsusb's description starts with the registry's vendor name when it knows the VID: that
    # part repeats the VID evidence, so only the rest is the device's own text.
    registry_names = [n for n in (vendor_name, vendor.name if vendor else None) if n]
    description_rest = _strip_prefix(record.description, registry_names)
    for attr, field_name in _STRING_FIELDS:
        value = description_rest if attr == "description" else getattr(record, attr)
        if not value:
            continue
        hits = [rule for rule in signatures.strings
                if rule.id not in fired and rule.pattern.search(value)]
        fired.update(rule.id for rule in hits)
        for rule in hits:
            evidence.append(Evidence(probe=probe, field=field_name, value=_clip(value),
                                     indicates=rule.maker, certainty=rule.certainty,
                                     source=rule.source, rule=rule.id, kind="label"))
            # A rule names the brand when it is solid alone, or when the VID agrees ("HIK" on
            # a 2bdf device); otherwise the device's own manufacturer string is its label.
            if rule.certainty is Certainty.SOLID or (vendor and vendor.maker == rule.maker):
                brand = brand or rule.brand
        if not hits and attr != "description":
            evidence.append(Evidence(probe=probe, field=field_name, value=_clip(value),
                                     kind="label"))
    if record.serial:
        evidence.append(Evidence(probe=probe, field="iSerial", value=_clip(record.serial),
                                 kind="label"))

    product_name = names.product(record.vid, record.pid)
    model = record.product or product_name or description_rest
    extra: dict[str, Any] = {
        "bus": record.bus, "device_number": record.device_number,
        "port_path": record.port_path, "usb_serial": record.serial,
        "vendor_name": vendor_name or (vendor.name if vendor else None),
        "usb_class": _class_text(record), "usb_source": record.source,
    }
    return Device(
        host=record.host, vid=record.vid_hex, pid=record.pid_hex,
        addresses=[record.address()],
        brand=brand or record.manufacturer,
        model=model, firmware=record.bcd_device,
        device_class=signatures.classify(record, vendor),
        readable=not record.vanished, errors=list(record.notes), evidence=evidence,
        **{k: v for k, v in extra.items() if v is not None},
    )


def _strip_prefix(text: str | None, prefixes: Sequence[str]) -> str | None:
    """lsusb prints "<vendor> <product>"; with a known vendor name the rest is the product."""
    if not text:
        return None
    for prefix in prefixes:
        if text.casefold().startswith(prefix.casefold()):
            return text[len(prefix):].strip() or None
    return text


def _class_text(record: UsbRecord) -> str | None:
    def triple(*codes: int | None) -> str:
        return "/".join("--" if code is None else f"{code:02x}" for code in codes)

    if record.device_class is None and not record.interfaces:
        return None
    parts = [triple(record.device_class, record.device_subclass, record.device_protocol)]
    seen: set[Interface] = set()
    for interface in record.interfaces:
        if interface not in seen:
            seen.add(interface)
            parts.append(triple(interface.cls, interface.subclass, interface.protocol))
    return " ".join(parts)
