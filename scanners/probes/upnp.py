"""The UPnP device description a device's SSDP answer points to (`LOCATION`).

Read-only and bounded: one GET, only when the URL names the very host that answered (a device
may point anywhere; the scanner never follows it elsewhere), at most 64 KiB and the request
timeout, parsed with defusedxml (no DTDs, no entities).  The fields of the root `device`
(manufacturer, modelName, modelNumber, serialNumber, friendlyName, UDN, presentationURL)
become `upnp` signals, each with its field name, for the rules to judge.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from entityscan.scanners.discovery.xmlsafe import UnsafeXML, children_text, find_all, parse_xml
from entityscan.scanners.probes import ANSWER_TIMEOUT, Observations
from entityscan.scanners.probes.http import fetch

DESCRIPTION_LIMIT = 64 * 1024
FIELDS = ("manufacturer", "modelName", "modelNumber", "serialNumber", "friendlyName", "UDN",
          "presentationURL", "modelDescription")


def same_host(url: str, address: str) -> bool:
    """True when `url` is plain http(s) to `address` itself (no names, no other hosts)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return parts.scheme in ("http", "https") and \
            ipaddress.ip_address(host) == ipaddress.ip_address(address)
    except ValueError:
        return False


async def probe_description(client: httpx.AsyncClient, address: str, location: str, *,
                            timeout: float = ANSWER_TIMEOUT) -> Observations:
    obs = Observations()
    if not same_host(location, address):
        obs.errors.append(f"upnp {address}: description URL {location[:120]!r} is not on the "
                          "answering host; not fetched")
        return obs
    try:
        fetched = await fetch(client, location, limit=DESCRIPTION_LIMIT, timeout=timeout)
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        obs.errors.append(f"upnp {address}: description not read ({type(exc).__name__})")
        return obs
    except Exception as exc:  # h11 protocol errors and the like: the device is odd, not us
        obs.errors.append(f"upnp {address}: description not read ({type(exc).__name__})")
        return obs
    if fetched.truncated:
        obs.hostile = True
        obs.errors.append(f"upnp {address}: description larger than "
                          f"{DESCRIPTION_LIMIT // 1024} KiB; refused")
        return obs
    if fetched.status != 200:
        obs.errors.append(f"upnp {address}: description answered HTTP {fetched.status}")
        return obs
    try:
        root = parse_xml(fetched.body)
    except UnsafeXML as exc:
        obs.hostile = obs.hostile or exc.hostile
        obs.errors.append(f"upnp {address}: description refused ({exc})")
        return obs
    devices = find_all(root, "device")
    if not devices:
        obs.errors.append(f"upnp {address}: description has no device element")
        return obs
    obs.answered = True
    values = children_text(devices[0])
    for name in FIELDS:
        obs.signal("upnp", values.get(name), "upnp", name)
    obs.fact("model", values.get("modelNumber") or values.get("modelName"))
    obs.fact("serial", values.get("serialNumber"))
    return obs
