"""Discovery: who is there.  Vendor and ONVIF multicast/unicast protocols, mDNS and a TCP
connect sweep; each yields `DiscoveryReply` records for the orchestrator to fold into
candidates.  Parsers are pure functions, safe on hostile input."""

from entityscan.scanners.discovery.base import DiscoveryReply

__all__ = ["DiscoveryReply"]
