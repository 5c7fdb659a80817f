"""Results other tools already produced, as the same attributed inventory a scan builds.

    from entityscan.scanners.importers import import_files

    inventory = import_files([Path("lab.xml"), Path("ssl.log")], rules=signatures)

nmap XML (`-oX`, service fingerprints and `http-server-header`, `http-title`, `http-headers`,
`ssl-cert`, `rtsp-methods` script output), masscan JSON banners (`-oJ`, `-oD`) and Zeek logs
(`http`, `ssl`, `x509`, `dhcp`, `software`, `known_services`; TSV or JSON).  What they recorded
becomes signals for the bundled signature rules, and devices are built, merged by MAC or serial
and attributed exactly as a scan's.  Asset-system exports (NetBox devices, Snipe-IT assets,
Lansweeper assets, a generic inventory CSV; `assets.py`, layouts in `asset_layouts.yaml`) become
one device per record, judged by the same rules and merged with the rest by MAC or serial.  A
malformed line or file is reported as `file:line` in the inventory's errors; the rest is still
read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from entityscan.scanners import assembly
from entityscan.scanners.importers.assets import read_assets, sniff_assets
from entityscan.scanners.importers.common import Imported, ImportFormatError, sniff
from entityscan.scanners.importers.masscan import read_masscan
from entityscan.scanners.importers.nmap import read_nmap
from entityscan.scanners.importers.zeek import ZeekState, read_zeek
from entityscan.scanners.inventory import Device, Inventory
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
            try:
                layout = sniff_assets(path)
            except ImportFormatError as why:
                table = str(why).startswith("a table")
                imported.error(path, None, str(why) if table else
                               f"{exc}, nor an asset-system export (a CSV with a header row)")
                continue
            except OSError as err:
                imported.error(path, None, f"cannot read: {err.strerror or err}")
                continue
            imported.files[str(path)] = f"{layout.id}-csv"
            try:
                read_assets(path, layout, imported, rules)
            except OSError as err:
                imported.error(path, None, f"cannot read: {err.strerror or err}")
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
    tools = sorted({kind.split("-")[0] for path, kind in imported.files.items()
                    if path not in imported.encodings})
    devices = imported.table.devices(rules, discovered_by=tools or ["import"], report_all=True)
    if imported.table.untracked:
        # The host table is bounded; what did not fit is said, never dropped in silence.
        imported.error(", ".join(imported.files) or "import", None, (
            f"more than {len(imported.table.hosts)} hosts: {imported.table.untracked} "
            "observations of further hosts were not kept; import the files a network at a time"))
    parameters: dict[str, object] = {"mode": "import", "files": imported.files}
    if imported.encodings:
        devices = _with_records(devices, imported.records)
        parameters.update(encodings=imported.encodings, records=len(imported.records),
                          records_not_screenable=imported.not_screenable)
    return Inventory(kind="network", targets=list(imported.files), started=started,
                     finished=datetime.now(UTC), devices=devices, errors=imported.errors,
                     parameters=parameters)


def _with_records(devices: list[Device], records: list[Device]) -> list[Device]:
    """Scan-derived devices and asset records merged by MAC or serial and attributed together;
    where a record's manufacturer differs from the maker the evidence names, a reason says so
    (the record's word is a label, the evidence wins)."""
    merged = assembly.merge_and_attribute([*devices, *records])
    out = []
    for device in merged:
        extra = device.model_extra or {}
        record = extra.get("inventory")
        if isinstance(record, dict):
            update: dict[str, object] = {}
            found_by = list(extra.get("discovered_by") or [])
            if record["layout"] not in found_by:  # merged with a scanned device
                update["discovered_by"] = [*found_by, record["layout"]]
            said = record.get("manufacturer")
            if said and device.maker and device.maker.casefold() not in said.casefold():
                update["reasons"] = [*device.reasons, (
                    f"the record says manufacturer {said[:80]!r}; its evidence says "
                    f"{device.maker} (a record's manufacturer is a label; the evidence wins)")]
            device = device.model_copy(update=update) if update else device
        out.append(device)
    return out
