"""Passive identification: packet captures become the same attributed inventory an active
scan builds, without sending a packet.

    from entityscan.scanners.passive import PassiveOptions, capture_live, read_captures

    inventory = read_captures([Path("span-port.pcapng")], PassiveOptions(signatures=rules))
    inventory = capture_live("eth0", 60.0)      # root and tcpdump; BPF-filtered, bounded

What is read: WS-Discovery Hello/ProbeMatches, SADP and DHIP replies, mDNS answers, SSDP
NOTIFY and search responses (`chatter`); HTTP and RTSP responses reassembled across TCP
segments within size caps (`streams`, `responses`); TLS server certificates where they travel
in clear, TLS 1.2 and older (`tls`); DHCP client messages; ARP and frames' source MACs with
their OUI (`hosts`).  Every observation is a signal for the bundled signature rules, judged,
merged and attributed by the active scan's own assembly.  Devices record
`discovered_by: ["passive"]` and `observed` (protocols heard, first and last packet, packet
count); they are keyed by MAC where the capture shows it, else by address.
"""

from entityscan.scanners.passive.capture import CaptureError
from entityscan.scanners.passive.engine import (
    DEFAULT_FILTER,
    PassiveOptions,
    PassiveScan,
    capture_live,
    read_captures,
)

__all__ = ["DEFAULT_FILTER", "CaptureError", "PassiveOptions", "PassiveScan", "capture_live",
           "read_captures"]
