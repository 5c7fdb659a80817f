"""How a table's columns are read as line-item fields: built-in synonyms, the ERP layouts in
`layouts/erp.yaml` (package data, each with its public source), and the user's `--map`.

    mapping = map_columns("po.xlsx", headers, overrides={"part_number": "Material"})
    mapping.targets        # column index -> field, or "extra:<header>"
    mapping.describe()     # one line per column: how it was read (`--show-mapping`)

A header is normalised once (case, spaces and punctuation ignored) and looked up in one table
built from the synonyms and every layout; a name two fields claim is a data error caught when
the table is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import yaml

from entityscan.errors import InputError

HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "line", "line_id", "line_no", "line_number", "item_id", "line_item",
           "po_line", "ref", "reference", "no", "number"),
    "supplier": ("supplier", "supplier_name", "vendor", "vendor_name", "seller", "distributor",
                 "reseller"),
    "manufacturer": ("manufacturer", "manufacturer_name", "mfr", "mfg", "make", "maker", "oem"),
    "brand": ("brand", "brand_name", "label", "trademark"),
    "description": ("description", "desc", "item_description", "product_description",
                    "product", "product_name", "item", "item_name", "title"),
    "part_number": ("part_number", "part_no", "part", "pn", "mpn", "sku", "model",
                    "model_number", "model_no", "catalog_number", "mfr_part_number",
                    "manufacturer_part_number", "article_number"),
}
FIELDS = tuple(f for f in HEADER_SYNONYMS if f != "id")
BUILT_IN = "built-in synonym"


@lru_cache(maxsize=1024)
def header_key(name: str) -> str:
    """A header as looked up: lower case, every run of other characters one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    source: str
    columns: dict[str, tuple[str, ...]]


@cache
def layouts() -> tuple[Layout, ...]:
    """The bundled ERP layouts, in file order."""
    text = (resources.files("entityscan") / "layouts" / "erp.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    found = []
    for name, body in data["layouts"].items():
        columns = {str(f): tuple(str(h) for h in headers)
                   for f, headers in body["columns"].items()}
        unknown = set(columns) - set(FIELDS)
        if unknown:
            raise ValueError(f"layout {name}: unknown fields {sorted(unknown)}")
        found.append(Layout(name, str(body["title"]), str(body["source"]), columns))
    return tuple(found)


@cache
def lookup() -> dict[str, tuple[str, str]]:
    """Normalised header -> (field, where the name comes from).  A name claimed by two
    fields is refused here: it would read one export's column as the wrong field."""
    table: dict[str, tuple[str, str]] = {}

    def add(key: str, field: str, origin: str) -> None:
        known = table.get(key)
        if known is not None and known[0] != field:
            raise ValueError(f"header {key!r}: {origin} reads it as {field}, "
                             f"{known[1]} as {known[0]}")
        table.setdefault(key, (field, origin))

    for field, synonyms in HEADER_SYNONYMS.items():
        for synonym in synonyms:
            add(synonym, field, BUILT_IN)
    for layout in layouts():
        for field, headers in layout.columns.items():
            for header in headers:
                add(header_key(header), field, f"layout {layout.name}")
    return table


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--map FIELD=COLUMN` options as {field: column}."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        field = header_key(field)
        if not sep or not column.strip():
            raise InputError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. "
                             f"--map part_number='Mfr Part Number'")
        if field not in HEADER_SYNONYMS:
            raise InputError(f"--map {pair!r}: unknown field {field!r}; fields are "
                             f"{', '.join(HEADER_SYNONYMS)}")
        if field in overrides:
            raise InputError(f"--map gives {field} twice")
        overrides[field] = column.strip()
    return overrides


@dataclass(frozen=True)
class ColumnMap:
    """Every column of a table: its header, the field it is read as (`extra:<header>` for a
    column kept as is) and why."""

    headers: tuple[str, ...]
    targets: tuple[str, ...]
    reasons: tuple[str, ...]

    def extra_columns(self) -> list[str]:
        return [t[6:] for t in self.targets if t.startswith("extra:")]

    def describe(self) -> list[str]:
        lines = []
        for index, (header, target, why) in enumerate(
                zip(self.headers, self.targets, self.reasons, strict=True), start=1):
            read_as = "kept as an extra column" if target.startswith("extra:") else target
            lines.append(f"  column {index} {header!r}: {read_as} ({why})")
        return lines


def _find_column(where: str, headers: list[str], column: str) -> int:
    stripped = [h.strip() for h in headers]
    if column in stripped:
        return stripped.index(column)
    keyed = [header_key(h) for h in headers]
    if header_key(column) in keyed:
        return keyed.index(header_key(column))
    raise InputError(f"{where}: --map names column {column!r}, which the header does not "
                     f"have; columns found: {', '.join(repr(h) for h in stripped)}")


def map_columns(where: str, headers: list[str],
                overrides: dict[str, str] | None = None) -> ColumnMap:
    """Read a header row.  `where` names the file (and sheet) in messages."""
    overrides = overrides or {}
    table = lookup()
    forced = {_find_column(where, headers, column): field
              for field, column in overrides.items()}
    targets: list[str] = []
    reasons: list[str] = []
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = header.strip()
        if not name:
            raise InputError(f"{where}: column {index + 1} has an empty header")
        if index in forced:
            target, why = forced[index], "--map"
        elif (known := table.get(header_key(name))) is None:
            target, why = f"extra:{name}", "no field has this name"
        elif known[0] in overrides:
            target, why = f"extra:{name}", f"--map {known[0]} names another column"
        else:
            target, why = known
        if target in seen:
            raise InputError(
                f"{where}: duplicate header {name!r} (columns {seen[target] + 1} and "
                f"{index + 1} both mean `{target}`); choose one with --map "
                f"{target}=COLUMN")
        seen[target] = index
        targets.append(target)
        reasons.append(why)
    if not any(t in FIELDS for t in targets):
        found = ", ".join(repr(h.strip()) for h in headers)
        raise InputError(f"{where}: no column to screen; columns found: {found}; fields "
                         f"expected: {', '.join(FIELDS)} (or a synonym such as vendor, mfr, "
                         f"mpn, sku, or an ERP export's own names; --map FIELD=COLUMN "
                         f"names one)")
    return ColumnMap(tuple(h.strip() for h in headers), tuple(targets), tuple(reasons))
