"""Turning CSL records into `ListEntry` objects: one row -> one entry per party it names.

A record is a mapping of CSL field names to values, the same for the CSV and the JSON reader.
The builder maps the `source` string to a short list code, splits affiliates out of Entity List
names (one entry per affiliate, tied to its parent, plus the parent once per list), parses dates,
and derives a stable id for older files without `_id`.  Multi-valued cells such as
`federal_register_notice` may hold several citations (`83 FR 37423; 87 FR 77505`), all kept.
The exact `source` strings are those of the trade.gov CSL bulk file
(https://www.trade.gov/consolidated-screening-list).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from entityscan.errors import ListError
from entityscan.lists.csl_names import clean_alias_list, parse_name, split_multi
from entityscan.model import ListEntry

#: The columns entries are built from; other columns are validated but not kept.
USED_FIELDS = frozenset((
    "_id", "id", "source", "entity_number", "name", "addresses", "federal_register_notice",
    "start_date", "end_date", "license_requirement", "programs", "remarks", "source_list_url",
    "source_information_url", "alt_names", "citizenships", "nationalities"))

#: Exact `source` strings -> short list codes.
SOURCE_CODES: dict[str, str] = {
    "Entity List (EL) - Bureau of Industry and Security": "EL",
    "Denied Persons List (DPL) - Bureau of Industry and Security": "DPL",
    "Unverified List (UVL) - Bureau of Industry and Security": "UVL",
    "Military End User (MEU) List - Bureau of Industry and Security": "MEU",
    "ITAR Debarred (DTC) - State Department": "DTC",
    "Nonproliferation Sanctions (ISN) - State Department": "ISN",
    "Specially Designated Nationals (SDN) - Treasury Department": "SDN",
    "Foreign Sanctions Evaders (FSE) - Treasury Department": "FSE",
    "Sectoral Sanctions Identifications List (SSI) - Treasury Department": "SSI",
    "Palestinian Legislative Council List (PLC) - Treasury Department": "PLC",
    "Capta List (CAP) - Treasury Department": "CAP",
    "Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department": "NS-MBS",
    "Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department":
        "CMIC",
}
KNOWN_CODES = frozenset(SOURCE_CODES.values())

_PAREN_CODE = re.compile(r"\(([A-Za-z][A-Za-z0-9-]*)(?:\s+List)?\)")
_SLUG = re.compile(r"[^a-z0-9]+")


def source_code(source: str) -> str:
    """Short list code for a CSL `source` string; unknown sources keep a slug, never dropped."""
    text = " ".join(source.split())
    if text in SOURCE_CODES:
        return SOURCE_CODES[text]
    # The publisher may reword the tail ("- Treasury") but keeps the code in parentheses.
    for match in _PAREN_CODE.finditer(text):
        code = match.group(1).upper()
        if code in KNOWN_CODES:
            return code
    slug = _SLUG.sub("-", text.lower()).strip("-")[:60]
    return "x-" + (slug or "unknown")


def split_citations(value: str) -> list[str]:
    """`83 FR 37423; 87 FR 77505` -> both citations, order kept."""
    return split_multi(value)


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y")


def parse_date(value: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    head = text[:10] if re.match(r"\d{4}-\d{2}-\d{2}[T ]", text) else text
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(head, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text[:40]!r}")


def _country_from_address(address: str) -> str | None:
    tail = address.rsplit(",", 1)[-1].strip()
    return tail.upper() if re.fullmatch(r"[A-Za-z]{2}", tail) else None


@dataclass
class CslStats:
    """What one load saw: rows per list code (before splitting) and the file's hash."""

    rows: int = 0
    rows_per_list: Counter[str] = field(default_factory=Counter)
    content_hash: str = ""
    format: str = ""


class EntryBuilder:
    """Turns CSL records into entries; de-duplicates parents split out of affiliate names."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.seen_ids: set[str] = set()
        self.row_keys: set[tuple[str, str]] = set()
        self.split_parents: dict[tuple[str, str], dict[str, Any]] = {}
        self.stats = CslStats()

    def _unique(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self.seen_ids:
            n += 1
            candidate = f"{base}#{n}"
        self.seen_ids.add(candidate)
        return candidate

    def build(self, record: dict[str, Any], line: int) -> list[ListEntry]:
        def text(key: str) -> str:
            return _text(record.get(key))

        name = text("name")
        source = text("source")
        if not name:
            raise ListError(f"{self.where}: line {line}, field `name`: empty name")
        if not source:
            raise ListError(f"{self.where}: line {line}, field `source`: empty source")
        code = source_code(source)
        self.stats.rows += 1
        self.stats.rows_per_list[code] += 1

        dates: dict[str, date | None] = {}
        for key in ("start_date", "end_date"):
            try:
                dates[key] = parse_date(text(key))
            except ValueError as exc:
                raise ListError(f"{self.where}: line {line}, field `{key}`: {exc}") from exc

        alt = record.get("alt_names")
        aliases = (clean_alias_list(alt) if isinstance(alt, list)
                   else split_multi(text("alt_names")))

        country = None
        addresses = record.get("addresses")
        if isinstance(addresses, list):
            for item in addresses:
                if isinstance(item, dict) and item.get("country"):
                    country = str(item["country"]).strip().upper()[:2] or None
                    break
        else:
            for address in split_multi(text("addresses")):
                country = _country_from_address(address)
                if country:
                    break
        if not country:
            for key in ("nationalities", "citizenships"):
                values = split_multi(text(key))
                if values:
                    country = values[0][:40]
                    break

        citations = split_citations(text("federal_register_notice"))
        common: dict[str, Any] = {
            "list": code,
            "list_name": source,
            "citation": "; ".join(citations) or None,
            "listed": dates["start_date"],
            "removed": dates["end_date"],
            "country": country,
            "scope": text("programs") or text("license_requirement") or None,
            "source_url": text("source_list_url") or text("source_information_url") or None,
            "remarks": text("remarks") or None,
        }
        raw_id = text("_id") or text("id")
        if raw_id:
            base_id = f"csl:{raw_id}"
        else:  # older files: derive a stable id from what identifies the row
            digest = hashlib.sha1(  # noqa: S324 - an identifier, not a security hash
                "\x1f".join((source, text("entity_number"), name, text("addresses")))
                .encode("utf-8")).hexdigest()[:16]
            base_id = f"csl:{code}:{digest}"

        parts = parse_name(name)
        entries: list[ListEntry] = []
        if not parts.affiliates:
            main_aliases = _dedupe([*aliases, *parts.main_aliases], exclude=parts.main)
            entries.append(self._entry(common, self._unique(base_id), parts.main, main_aliases,
                                       None, line))
            self.row_keys.add((code, parts.main.casefold()))
            return entries
        # The row names a parent and its affiliates: one entry per affiliate (tied to the
        # parent) plus the parent itself, emitted once per list at the end of the file.
        # A row naming one affiliate is that affiliate's row: its aliases are the affiliate's.
        single = len(parts.affiliates) == 1
        parent_aliases = parts.main_aliases if single else [*parts.main_aliases, *aliases]
        for index, (aff_name, aff_aliases) in enumerate(parts.affiliates, start=1):
            suffix = "" if single else f"/aff{index}"
            names = [*aff_aliases, *aliases] if single else aff_aliases
            entries.append(self._entry(common, self._unique(base_id + suffix), aff_name,
                                       _dedupe(names, exclude=aff_name), parts.main, line))
            self.row_keys.add((code, aff_name.casefold()))
        parent_key = (code, parts.main.casefold())
        parent = self.split_parents.get(parent_key)
        if parent is None:
            self.split_parents[parent_key] = {
                "common": dict(common), "id": base_id + "/parent", "name": parts.main,
                "aliases": _dedupe(parent_aliases, exclude=parts.main), "line": line,
                "citations": list(citations),
            }
        else:
            # The parent was listed no later than any affiliate row names it.
            parent["aliases"] = _dedupe([*parent["aliases"], *parent_aliases],
                                        exclude=parts.main)
            listed = parent["common"]["listed"]
            if common["listed"] and (listed is None or common["listed"] < listed):
                parent["common"]["listed"] = common["listed"]
            for citation in citations:
                if citation not in parent["citations"]:
                    parent["citations"].append(citation)
            parent["common"]["citation"] = "; ".join(parent["citations"]) or None
        return entries

    def _entry(self, common: dict[str, Any], entry_id: str, name: str, aliases: list[str],
               parent: str | None, line: int) -> ListEntry:
        try:
            return ListEntry(id=entry_id, name=name, aliases=tuple(aliases), parent=parent,
                             **common)
        except ValueError as exc:  # pydantic ValidationError is a ValueError
            raise ListError(f"{self.where}: line {line}: invalid record: {exc}") from exc

    def finish(self) -> list[ListEntry]:
        """Parents split out of affiliate names that no row lists on its own."""
        out = []
        for key, parent in self.split_parents.items():
            if key in self.row_keys:
                continue
            out.append(self._entry(parent["common"], self._unique(parent["id"]), parent["name"],
                                   parent["aliases"], None, parent["line"]))
        return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return "; ".join(_flatten_text(v) for v in value if v not in (None, ""))
    return _flatten_text(value)


def _flatten_text(value: Any) -> str:
    if isinstance(value, dict):  # JSON addresses / ids: join the non-empty parts in order
        return ", ".join(str(v).strip() for v in value.values() if v not in (None, ""))
    return str(value).strip()


def _dedupe(names: list[str], exclude: str) -> list[str]:
    seen = {exclude.casefold()}
    out = []
    for name in names:
        key = name.casefold()
        if name and key not in seen:
            seen.add(key)
            out.append(name)
    return out
