"""mDNS / DNS-SD advertisement through python-zeroconf (registration takes ~1.6 s: done once)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from entityscan.scanners.lab.device import SimDevice


def service_info(device: SimDevice):  # -> zeroconf.ServiceInfo (imported lazily: slow import)
    from zeroconf import ServiceInfo

    spec = device.profile.mdns
    assert spec is not None
    service_type = spec.service_type if spec.service_type.endswith(".") else \
        spec.service_type + "."
    port = int(spec.port) if spec.port.isdigit() else device.ports[spec.port]
    return ServiceInfo(
        service_type,
        f"{device.render(spec.instance)}.{service_type}",
        addresses=[socket.inet_aton(device.address)],
        port=port,
        properties={k: device.render(v) for k, v in spec.txt.items()},
        server=device.render(spec.srv_target),
    )


class MdnsAdvertiser:
    """Advertises the lab's mDNS services on the given interface addresses only."""

    def __init__(self, devices: list[SimDevice], interface_addresses: list[str]) -> None:
        self.devices = [d for d in devices if d.profile.mdns is not None]
        self.interface_addresses = interface_addresses
        self._zc: Any = None

    def open(self) -> None:
        """Create the sockets now (synchronously: the caller may be inside a namespace)."""
        if not self.devices or self._zc is not None:
            return
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncZeroconf

        # Never InterfaceChoice.All: only the lab's own addresses.
        self._zc = AsyncZeroconf(interfaces=self.interface_addresses,
                                 ip_version=IPVersion.V4Only)

    async def start(self) -> None:
        self.open()
        if self._zc is None:
            return
        # Probing takes ~1.6 s per name: probe all names at once.
        tasks = await asyncio.gather(*(self._zc.async_register_service(
            service_info(d), allow_name_change=True) for d in self.devices))
        await asyncio.gather(*tasks)

    async def stop(self) -> None:
        if self._zc is not None:
            await self._zc.async_unregister_all_services()
            await self._zc.async_close()
            self._zc = None
