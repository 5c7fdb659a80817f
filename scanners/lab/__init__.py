"""The simulated device lab: device profiles (data) served on real sockets.

Tests, `entityscan demo` and benchmarks scan these devices instead of real ones.  Each device
gets its own IPv4 address and answers, as its profile says, on:

- HTTP/1.1 (keep-alive) and HTTPS (self-signed cert with the profile's subject), incl.
  ONVIF SOAP 1.2 at `POST /onvif/device_service` (GetSystemDateAndTime without auth;
  GetDeviceInformation, GetNetworkInterfaces, GetScopes … need a WS-Security UsernameToken
  digest or HTTP digest with the profile's `credentials`, else a SOAP Fault, HTTP 400);
- RTSP (OPTIONS, DESCRIBE -> 401 with the profile's realm, 200 with credentials);
- WS-Discovery on UDP `wsd` (Probe -> ProbeMatches to the sender, honouring Types/Scopes);
- Hikvision SADP on UDP `sadp` (inquiry -> ProbeMatch; multicast inquiries are answered to
  the group 239.255.255.250:sadp-port, unicast ones to the sender);
- Dahua DHIP on UDP `dhip` (DHDiscover.search -> client.notifyDevInfo, to the sender);
- mDNS/DNS-SD through zeroconf when `mdns=True` (slow: ~1.6 s, register once per module);
- service greetings on telnet, FTP and SSH (`greetings`: said on connect, input read and
  dropped, nobody ever logged in);
- the vendor binary services (`sdk`): Hikvision's on `hik_sdk` (a 16-byte status frame for any
  request) and Dahua's DVRIP on `dahua_sdk` (the realm and random for a realm request);
- SSDP on UDP `ssdp` (M-SEARCH -> `200 OK` with LOCATION) and the UPnP device description on
  TCP `upnp` (`upnp`);
- an SNMP agent on UDP `snmp` (`snmp`: pysnmp's command responder) answering sysDescr,
  sysObjectID, sysName and ifPhysAddress.1 for its one community or v3 user only.

Every incoming XML is parsed with defusedxml.  Nothing binds or sends outside the addresses
given (plus the protocols' multicast groups when `multicast=True`, for namespaces only).

API::

    from entityscan.scanners.lab import (Lab, PortPlan, load_profiles, replicate,
                                         run_lab_in_process, run_lab_in_thread)

    profiles = load_profiles(["hikvision-ipc", "dahua-ipc"])   # or load_profiles() for all
    async with Lab.loopback(profiles, base="127.30.0.10") as lab:
        for dev in lab.devices:          # SimDevice(name, address, ports, profile)
            dev.address, dev.ports["http"], dev.url("http", "/"), dev.mac, dev.expected.maker
        lab.port_plan                    # PortPlan(http=8080, https=8443, rtsp=8554,
                                         #   wsd=3702, sadp=37020, dhip=37810, hik_sdk=8000,
                                         #   dahua_sdk=37777, telnet=2323, ftp=2121,
                                         #   ssh=2222, ssdp=1900, upnp=49152, snmp=1161)
        lab.device("dahua-ipc")          # lookup by name (also "name#3" variants)
        dev.profile.credentials          # the "user's" credentials (admin / Lab-Passw0rd!)
        dev.expected                     # ground truth: maker, platform, model, readable

    with run_lab_in_thread(profiles, base="127.30.1.10") as lab:   # sync face
        ...

    replicate(load_profiles(), 60)       # 60 devices with distinct MACs/serials

    with run_lab_in_process(profiles, base="127.30.2.10") as lab:  # child process: for
        ...                                                         # benchmarks (no GIL share)

`PortPlan.standard()` gives 80/443/554, telnet 23, FTP 21, SSH 22 and SNMP 161 (root or a
namespace).  Namespace labs
(real multicast, real MACs) are built by `tests/lab/netns.py`, which runs
`python -m entityscan.scanners.lab --profile NAME --address IP --ports standard --multicast
[--netns NS] [--mdns]`; with `--netns` one process serves devices in many namespaces (a
socket stays in the namespace it was created in).  Hostile profiles (`profile.hostile`, name
`hostile-*`) misbehave on purpose; filter them out where a test wants only real devices.
Profiles are documented in `scanners/lab/device_profiles/README.md`.
"""

from entityscan.scanners.lab.core import Lab, LabThread, run_lab_in_process, run_lab_in_thread
from entityscan.scanners.lab.device import SimDevice
from entityscan.scanners.lab.errors import LabError
from entityscan.scanners.lab.ports import PortPlan
from entityscan.scanners.lab.profiles import DeviceProfile, Expected, load_profiles, replicate

__all__ = ["DeviceProfile", "Expected", "Lab", "LabError", "LabThread", "PortPlan",
           "SimDevice", "load_profiles", "replicate", "run_lab_in_process",
           "run_lab_in_thread"]
