"""Asset-system export layouts (data: `asset_layouts.yaml`, with the public source of every
product's column names) and telling them apart by a CSV file's header."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from entityscan.scanners.errors import ScannerError

LAYOUTS_FILE = Path(__file__).with_name("asset_layouts.yaml")
FIELDS = ("manufacturer", "model_number", "model", "serial", "mac", "ip", "site", "location",
          "name", "asset_tag", "category")
#: Fields read from every present candidate column (a device may list several addresses).
MULTI = frozenset({"ip", "mac"})
_FOLD = re.compile(r"[\s_\-]+")


def header_key(name: str) -> str:
    """One spelling per column name: case folded, runs of spaces, `_` and `-` as one space."""
    return _FOLD.sub(" ", name.replace("\ufeff", "")).strip().casefold()


@dataclass(frozen=True)
class Layout:
    id: str
    name: str
    tool: str
    source: str
    require: tuple[str, ...]
    any_of: tuple[str, ...]
    any_min: int
    groups: tuple[tuple[str, ...], ...]
    groups_min: int
    fields: dict[str, tuple[str, ...]]

    def matches(self, keys: set[str]) -> bool:
        if not all(column in keys for column in self.require):
            return False
        if self.any_of and sum(column in keys for column in self.any_of) < self.any_min:
            return False
        return not self.groups or sum(
            any(column in keys for column in group) for group in self.groups) >= self.groups_min

    def columns(self, header: list[str]) -> dict[str, list[int]]:
        """field -> the indexes of the columns it is read from."""
        index: dict[str, int] = {}
        for position, name in enumerate(header):
            index.setdefault(header_key(name), position)
        out: dict[str, list[int]] = {}
        for name, candidates in self.fields.items():
            present = [index[c] for c in candidates if c in index]
            if present:
                out[name] = present if name in MULTI else present[:1]
        return out


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScannerError(f"{LAYOUTS_FILE.name}: {where}: expected a list of column names")
    return tuple(header_key(v) for v in value)


def _layout(raw: Any) -> Layout:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise ScannerError(f"{LAYOUTS_FILE.name}: a layout without an id")
    where = f"layout {raw['id']}"
    detect = raw.get("detect") or {}
    fields = raw.get("fields") or {}
    if not isinstance(raw.get("source"), str) or not raw["source"].strip():
        raise ScannerError(f"{LAYOUTS_FILE.name}: {where}: no `source` (where its column "
                           "names come from)")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ScannerError(f"{LAYOUTS_FILE.name}: {where}: unknown fields {unknown}; "
                           f"known: {', '.join(FIELDS)}")
    return Layout(
        id=raw["id"], name=str(raw.get("name") or raw["id"]), tool=str(raw.get("tool") or
                                                                       raw["id"]),
        source=raw["source"],
        require=_names(detect.get("all", []), f"{where} detect.all"),
        any_of=_names(detect.get("any", []), f"{where} detect.any"),
        any_min=int(detect.get("any_min", 1)),
        groups=tuple(_names(g, f"{where} detect.any_groups")
                     for g in detect.get("any_groups", [])),
        groups_min=int(detect.get("groups_min", 1)),
        fields={name: _names(columns, f"{where} fields.{name}")
                for name, columns in fields.items()})


@cache
def layouts() -> tuple[Layout, ...]:
    """The known layouts, in the order they are tried."""
    data = yaml.safe_load(LAYOUTS_FILE.read_text(encoding="utf-8"))
    return tuple(_layout(raw) for raw in (data or {}).get("layouts", []))


def detect(header: list[str]) -> Layout | None:
    """The first layout whose identifying columns are all in `header`."""
    keys = {header_key(name) for name in header}
    return next((layout for layout in layouts() if layout.matches(keys)), None)
