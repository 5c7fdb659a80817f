"""SNMP, read-only, with the user's own community or v3 user (never `public`, never a guess).

One GET through pysnmp (asyncio, maintained; v1/v2c/v3 with USM) for MIB-II sysDescr,
sysObjectID and sysName (RFC 1213 / RFC 3418) and the first interface's MAC (IF-MIB
ifPhysAddress.1, RFC 2863).  Without an `snmp` line for the address nothing is sent.  The
answers become `snmp` signals (field = object name) and the MAC a fact; the community or keys
never appear in anything recorded.
"""

from __future__ import annotations

from typing import Any

from entityscan.scanners.credentials import SnmpCredential
from entityscan.scanners.probes import Observations

OIDS = {"sysDescr": "1.3.6.1.2.1.1.1.0", "sysObjectID": "1.3.6.1.2.1.1.2.0",
        "sysName": "1.3.6.1.2.1.1.5.0", "ifPhysAddress": "1.3.6.1.2.1.2.2.1.6.1"}
VALUE_LIMIT = 512


def _auth(credential: SnmpCredential) -> Any:
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    if credential.version == "v2c":
        # v2c only because the user wrote a v2c community for this device (v3 preferred).
        return hlapi.CommunityData(credential.community_or_user, mpModel=1)  # noqa: S508
    auth = {"md5": hlapi.usmHMACMD5AuthProtocol, "sha": hlapi.usmHMACSHAAuthProtocol,
            "sha256": hlapi.usmHMAC192SHA256AuthProtocol,
            "sha512": hlapi.usmHMAC384SHA512AuthProtocol}
    priv = {"aes": hlapi.usmAesCfb128Protocol, "aes256": hlapi.usmAesCfb256Protocol,
            "des": hlapi.usmDESPrivProtocol}
    return hlapi.UsmUserData(
        credential.community_or_user, credential.auth_key, credential.priv_key,
        authProtocol=auth[credential.auth_protocol or "sha"],
        privProtocol=priv[credential.priv_protocol] if credential.priv_protocol
        else hlapi.usmNoPrivProtocol)


def _text(name: str, value: Any) -> str:
    if name == "ifPhysAddress":
        raw = bytes(value.asOctets()) if hasattr(value, "asOctets") else b""
        return ":".join(f"{b:02x}" for b in raw) if len(raw) == 6 else ""
    if name == "sysObjectID":
        return str(value.prettyPrint())[:VALUE_LIMIT]
    raw = bytes(value.asOctets()) if hasattr(value, "asOctets") else str(value).encode()
    return raw.decode("utf-8", "replace")[:VALUE_LIMIT]


async def probe_snmp(address: str, port: int, credential: SnmpCredential, *,
                     timeout: float = 2.0) -> Observations:
    obs = Observations()
    where = f"snmp {address}:{port}"
    try:
        from pysnmp.hlapi.v3arch import asyncio as hlapi

        target = await hlapi.UdpTransportTarget.create((address, port), timeout=timeout,
                                                       retries=0)
        engine = hlapi.SnmpEngine()
        try:
            error, status, _, binds = await hlapi.get_cmd(
                engine, _auth(credential), target, hlapi.ContextData(),
                *(hlapi.ObjectType(hlapi.ObjectIdentity(oid)) for oid in OIDS.values()),
                lookupMib=False)
        finally:
            engine.close_dispatcher()
    except Exception as exc:  # a library or transport failure costs this probe only
        obs.errors.append(f"{where}: {type(exc).__name__}: {str(exc)[:120]}")
        return obs
    if error or status:
        # Wrong community: silence (a timeout); wrong v3 user or key: a report.
        obs.errors.append(f"{where}: no answer with the configured {credential.version} "
                          f"credentials ({str(error or status.prettyPrint())[:80]})")
        return obs
    obs.answered = True
    for name, (_, value) in zip(OIDS, binds, strict=False):
        if value is None or type(value).__name__ in ("NoSuchObject", "NoSuchInstance",
                                                     "EndOfMibView"):
            continue
        text = _text(name, value)
        if name == "ifPhysAddress":
            obs.fact("mac", text)
        else:
            obs.signal("snmp", text, "snmp", name, limit=VALUE_LIMIT)
    return obs
