"""Discovery: who is there.  Vendor and ONVIF multicast/unicast protocols, mDNS and a TCP
connect sweep; each yields `DiscoveryReply` records for the orchestrator to fold into
candidates.  Parsers are pure functions, safe on hostile input.

Each protocol module also owns what its replies mean: `observe(reply) -> Observations` turns
one reply into signals (for the signature rules) and facts (model, serial, MAC …).
`observe` below looks the reply's protocol up in `OBSERVERS`.
"""

from collections.abc import Callable

from entityscan.scanners.discovery import dhip, mdns, sadp, ssdp, wsd
from entityscan.scanners.discovery.base import DiscoveryReply
from entityscan.scanners.probes import Observations

#: Protocol name (`DiscoveryReply.protocol`) -> the function reading its replies.
OBSERVERS: dict[str, Callable[[DiscoveryReply], Observations]] = {
    "sadp": sadp.observe,
    "dhip": dhip.observe,
    "wsd": wsd.observe,
    "mdns": mdns.observe,
    "ssdp": ssdp.observe,
}


def observe(reply: DiscoveryReply) -> Observations:
    """Signals and facts from one reply; a protocol without a reader is an error on the
    device (never a crash, never silence)."""
    reader = OBSERVERS.get(reply.protocol)
    if reader is None:
        obs = Observations()
        obs.errors.append(f"{reply.protocol}: no reader for this discovery protocol's replies")
        return obs
    return reader(reply)


__all__ = ["OBSERVERS", "DiscoveryReply", "observe"]
