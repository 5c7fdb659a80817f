"""Run simulated devices until SIGTERM/SIGINT:

    python -m entityscan.scanners.lab --profile hikvision-ipc --address 127.30.0.10
    python -m entityscan.scanners.lab --profile dahua-ipc --address 10.230.0.11 --ports standard
                           --multicast [--variant 3] [--mdns]     (inside a namespace)

Repeat `--profile/--address[/--variant/--netns]` for several devices in one process;
with `--netns` each device's sockets are created inside that network namespace.  Prints
`READY <name> <address> <mac>` per device on stdout once every socket is open.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from entityscan.scanners.lab.core import Lab
from entityscan.scanners.lab.errors import LabError
from entityscan.scanners.lab.ports import PortPlan
from entityscan.scanners.lab.profiles import load_profiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entityscan.scanners.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", action="append", required=True)
    parser.add_argument("--address", action="append", required=True)
    parser.add_argument("--variant", type=int, action="append",
                        help="variant index per device (distinct MAC/serial); default 0")
    parser.add_argument("--ports", choices=["standard", "unprivileged"], default="unprivileged")
    parser.add_argument("--multicast", action="store_true",
                        help="also join the discovery groups (network namespaces only)")
    parser.add_argument("--mdns", action="store_true", help="advertise mDNS services")
    parser.add_argument("--netns", action="append",
                        help="network namespace per device (root): one process serves devices "
                             "in many namespaces")
    args = parser.parse_args(argv)
    if len(args.profile) != len(args.address):
        parser.error("give one --address per --profile")
    variants = args.variant or [0] * len(args.profile)
    if len(variants) != len(args.profile):
        parser.error("give one --variant per --profile, or none")
    if args.netns and len(args.netns) != len(args.profile):
        parser.error("give one --netns per --profile, or none")
    try:
        profiles = [p.variant(v) for p, v in zip(load_profiles(args.profile), variants,
                                                  strict=True)]
        ports = PortPlan.standard() if args.ports == "standard" else PortPlan.unprivileged()
        lab = Lab(list(zip(profiles, args.address, strict=True)), ports,
                  multicast=args.multicast, mdns=args.mdns, namespaces=args.netns)
        asyncio.run(_serve(lab))
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(lab: Lab) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with lab:
        for dev in lab.devices:
            print(f"READY {dev.name} {dev.address} {dev.mac}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    sys.exit(main())
