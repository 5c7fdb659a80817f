"""Results other tools already produced, as the same attributed inventory a scan builds.

    from entityscan.scanners.importers import import_files

    inventory = import_files([Path("lab.xml"), Path("ssl.log")], rules=signatures)

nmap XML (`-oX`, service fingerprints and `http-server-header`, `http-title`, `http-headers`,
`ssl-cert`, `rtsp-methods` script output), masscan JSON banners (`-oJ`, `-oD`) and Zeek logs
(`http`, `ssl`, `x509`, `dhcp`, `software`, `known_services`; TSV or JSON).  What they recorded
becomes signals for the bundled signature rules, and devices are built, merged by MAC or serial
and attributed exactly as a scan's.  A malformed line or file is reported as `file:line` in
the inventory's errors; the rest is still read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from entityscan.scanners.importers.common import Imported, ImportFormatError, sniff
from entityscan.scanners.importers.masscan import read_masscan
from entityscan.scanners.importers.nmap import read_nmap
from entityscan.scanners.importers.zeek import ZeekState, read_zeek
from entityscan.scanners.inventory import Inventory
from entityscan.scanners.signals import RuleSet

__all__ = ["ImportFormatError", "import_files"]


def import_files(paths: Iterable[Path], *, rules: RuleSet | None = None) -> Inventory:
    """The inventory of what `paths` recorded; unreadable files and lines are in `errors`."""
    imported = Imported()
    zeek = ZeekState()
    started = datetime.now(UTC)
    for path in map(Path, paths):
        try:
            kind = sniff(path)
        except ImportFormatError as exc:
            imported.error(path, None, str(exc))
            continue
        imported.files[str(path)] = kind
        try:
            if kind == "nmap":
                read_nmap(path, imported)
            elif kind == "masscan":
                read_masscan(path, imported)
            else:
                read_zeek(path, imported, zeek)
        except OSError as exc:
            imported.error(path, None, f"cannot read: {exc.strerror or exc}")
    zeek.finish(imported)
    tools = sorted({kind.split("-")[0] for kind in imported.files.values()})
    devices = imported.table.devices(rules, discovered_by=tools or ["import"], report_all=True)
    return Inventory(kind="network", targets=list(imported.files), started=started,
                     finished=datetime.now(UTC), devices=devices, errors=imported.errors,
                     parameters={"mode": "import", "files": imported.files})
