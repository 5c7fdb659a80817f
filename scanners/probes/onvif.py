"""ONVIF device service.

Without credentials: only `GetSystemDateAndTime` (needs no auth on conforming devices), sent as
a small hand-built SOAP request and read bounded; the answer proves an ONVIF stack and gives
the clock skew; a 401 gives the realm.  With the user's own credentials for this device:
`GetDeviceInformation` and `GetNetworkInterfaces` through onvif-zeep-async (no WSDL cache,
clock adjusted).  A wrong password is a `zeep.exceptions.Fault` and is reported, not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from entityscan.scanners.discovery.xmlsafe import UnsafeXML, find_all, find_text, parse_xml
from entityscan.scanners.probes import Observations, host_for_url
from entityscan.scanners.probes.http import realm_of

SOAP_TIME = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    b'<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body>'
    b"</s:Envelope>"
)

SOAP_LIMIT = 64 * 1024


def _import_onvif() -> Any:
    """Import onvif-zeep-async without letting it reconfigure our logging, and with zeep
    settings that refuse huge trees and DTDs (entities are refused by default)."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    import onvif
    import onvif.settings

    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    onvif.settings.DEFAULT_SETTINGS.xml_huge_tree = False
    onvif.settings.DEFAULT_SETTINGS.forbid_dtd = True
    onvif.settings.DEFAULT_SETTINGS.forbid_entities = True
    onvif.settings.DEFAULT_SETTINGS.forbid_external = True
    return onvif


async def _post_bounded(client: httpx.AsyncClient, url: str, timeout: float
                        ) -> tuple[int, httpx.Headers, bytes, bool]:
    async with asyncio.timeout(timeout):
        async with client.stream(
                "POST", url, content=SOAP_TIME,
                headers={"Content-Type": 'application/soap+xml; charset=utf-8; '
                         'action="http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"'}
        ) as response:
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > SOAP_LIMIT:
                    return response.status_code, response.headers, bytes(body[:SOAP_LIMIT]), True
            return response.status_code, response.headers, bytes(body), False


async def probe_onvif(client: httpx.AsyncClient, address: str, port: int, *,
                      scheme: str = "http", path: str = "/onvif/device_service",
                      credentials: tuple[str, str] | None = None,
                      budget: float = 8.0) -> Observations:
    obs = Observations()
    url = f"{scheme}://{host_for_url(address)}:{port}{path}"
    try:
        status, headers, body, truncated = await _post_bounded(client, url, min(3.0, budget))
    except TimeoutError:
        obs.errors.append(f"onvif {url}: no answer to GetSystemDateAndTime in time")
        return obs
    except Exception as exc:  # httpx and h11 errors: an odd or closed port
        obs.errors.append(f"onvif {url}: {type(exc).__name__}: {str(exc)[:120]}")
        return obs
    obs.signal("http_realm", realm_of(headers.get("www-authenticate")), "onvif",
               "WWW-Authenticate realm")
    if truncated:
        obs.hostile = True
        obs.errors.append(f"onvif {url}: SOAP answer larger than {SOAP_LIMIT} bytes, refused")
        return obs
    if status in (200, 400, 500) and body:
        try:
            root = parse_xml(body)
        except UnsafeXML as exc:
            obs.hostile = exc.hostile
            obs.errors.append(f"onvif {url}: {'hostile' if exc.hostile else 'malformed'} SOAP "
                              f"answer refused ({str(exc)[:80]})")
            return obs
        if find_all(root, "GetSystemDateAndTimeResponse") or find_all(root, "Fault"):
            obs.answered = True
            obs.fact("onvif", url)
            year = find_text(root, "UTCDateTime", "Year")
            if year:
                obs.fact("onvif_clock_year", year)
    elif status == 401:
        obs.answered = True
        obs.fact("onvif", url)
    if credentials and obs.answered:
        await _with_credentials(obs, address, port, credentials, max(1.0, budget - 3.0))
    return obs


async def _with_credentials(obs: Observations, address: str, port: int,
                            credentials: tuple[str, str], budget: float) -> None:
    import zeep.exceptions

    onvif = _import_onvif()
    camera = onvif.ONVIFCamera(address, port, credentials[0], credentials[1],
                               no_cache=True, adjust_time=True)
    try:
        async with asyncio.timeout(budget):
            await camera.update_xaddrs()
            devicemgmt = await camera.create_devicemgmt_service()
            info = await devicemgmt.GetDeviceInformation()
            for name in ("Manufacturer", "HardwareId"):
                obs.signal("onvif_info", _attr(info, name), "onvif", name)
            obs.fact("brand", _attr(info, "Manufacturer"))
            obs.fact("model", _attr(info, "Model"))
            obs.fact("firmware", _attr(info, "FirmwareVersion"))
            obs.fact("serial", _attr(info, "SerialNumber"))
            obs.signal("model", _attr(info, "Model"), "onvif", "Model")
            obs.signal("firmware", _attr(info, "FirmwareVersion"), "onvif", "FirmwareVersion")
            obs.signal("serial", _attr(info, "SerialNumber"), "onvif", "SerialNumber")
            interfaces = await devicemgmt.GetNetworkInterfaces()
            for interface in (interfaces or [])[:8]:
                mac = _attr(getattr(getattr(interface, "Info", None), "HwAddress", None), "")
                if mac:
                    obs.fact("mac", mac)
                    break
    except zeep.exceptions.Fault as exc:
        obs.errors.append(f"onvif {address}:{port}: the device refused the supplied "
                          f"credentials or request ({str(exc)[:80]})")
    except TimeoutError:
        obs.errors.append(f"onvif {address}:{port}: device information not read within "
                          f"{budget:g}s")
    except Exception as exc:  # ONVIFError, transport and XML errors: report, keep scanning
        obs.errors.append(f"onvif {address}:{port}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        with contextlib.suppress(Exception):  # closing a broken session must not fail the scan
            await asyncio.wait_for(camera.close(), 2.0)


def _attr(obj: Any, name: str) -> str | None:
    value = getattr(obj, name, None) if name else obj
    if value is None and isinstance(obj, dict):
        value = obj.get(name)
    return str(value).strip()[:256] if value not in (None, "") else None
