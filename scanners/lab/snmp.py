"""An SNMP agent for one simulated device (pysnmp's command responder, asyncio).

It answers read requests for MIB-II `system` (sysDescr, sysObjectID, sysName) and the first
interface's MAC (`ifPhysAddress.1`), and only for the profile's own community (v1/v2c) or its
v3 user (SHA authentication, AES privacy): any other community or user gets no answer, as a
real agent configured that way behaves.  The socket is created by the caller (inside the
device's network namespace) and handed over.
"""

from __future__ import annotations

import socket
from typing import Any

from entityscan.scanners.lab.device import SimDevice

#: IF-MIB ifPhysAddress (RFC 2863), first interface.
IF_PHYS_ADDRESS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 6)
IF_PHYS_ADDRESS_INDEX = (1,)


def _oid(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip(".").split("."))


class SnmpAgent:
    """`start()` serves `sock` until `stop()`."""

    def __init__(self, device: SimDevice, sock: socket.socket) -> None:
        self.device = device
        self.sock = sock
        self._engine: Any = None

    def start(self) -> None:
        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import cmdrsp, context

        spec = self.device.profile.snmp
        assert spec is not None
        snmp_engine = engine.SnmpEngine()
        config.add_transport(snmp_engine, udp.DOMAIN_NAME,
                             udp.UdpAsyncioTransport().open_server_mode(sock=self.sock))
        if spec.community:
            config.add_v1_system(snmp_engine, "lab-area", spec.community)
            for model in (1, 2):
                config.add_vacm_user(snmp_engine, model, "lab-area", "noAuthNoPriv", (1, 3, 6))
        if spec.v3_user and spec.v3_auth_key and spec.v3_priv_key:
            config.add_v3_user(snmp_engine, spec.v3_user, config.USM_AUTH_HMAC96_SHA,
                               spec.v3_auth_key, config.USM_PRIV_CFB128_AES, spec.v3_priv_key)
            config.add_vacm_user(snmp_engine, 3, spec.v3_user, "authPriv", (1, 3, 6))
        snmp_context = context.SnmpContext(snmp_engine)
        self._populate(snmp_context.get_mib_instrum().get_mib_builder())
        cmdrsp.GetCommandResponder(snmp_engine, snmp_context)
        cmdrsp.NextCommandResponder(snmp_engine, snmp_context)
        self._engine = snmp_engine

    def _populate(self, builder: Any) -> None:
        spec = self.device.profile.snmp
        assert spec is not None
        descr, object_id, name = builder.import_symbols(
            "__SNMPv2-MIB", "sysDescr", "sysObjectID", "sysName")
        descr.syntax = descr.syntax.clone(self.device.render(spec.sys_descr))
        object_id.syntax = object_id.syntax.clone(_oid(self.device.render(spec.sys_object_id)))
        name.syntax = name.syntax.clone(self.device.render(spec.sys_name))
        # pysnmp's compiled MIB-II leaves the interfaces table out: declare the one column.
        scalar, instance = builder.import_symbols("SNMPv2-SMI", "MibScalar",
                                                  "MibScalarInstance")
        (octets,) = builder.import_symbols("ASN1", "OctetString")
        mac = bytes.fromhex(self.device.mac.replace(":", ""))
        builder.export_symbols(
            "__LAB-IF-MIB",
            labIfPhysAddress=scalar(IF_PHYS_ADDRESS, octets()).setMaxAccess("read-only"),
            labIfPhysAddressOne=instance(IF_PHYS_ADDRESS, IF_PHYS_ADDRESS_INDEX,
                                         octets(mac)))

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None
