"""Brand and OEM relations (brand -> maker) kept as data with their sources.

`load_relations(extra)` reads the bundled `brands.yaml`, then each user file in order; a user
row whose brand (normalised) equals an earlier row's replaces it, so users can both add and
override.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from entityscan.errors import InputError, first_problem
from entityscan.model import Relation


def _parse(doc: Any, where: str) -> list[Relation]:
    if not isinstance(doc, dict) or not isinstance(doc.get("relations"), list):
        raise InputError(f"{where}: not a relations file (needs a top-level `relations` list)")
    out: list[Relation] = []
    for index, raw in enumerate(doc["relations"], start=1):
        if not isinstance(raw, dict):
            raise InputError(f"{where}: relation {index} is not a mapping")
        raw = dict(raw)
        raw["aliases"] = tuple(raw.get("aliases") or ())
        try:
            out.append(Relation.model_validate(raw))
        except ValidationError as exc:
            raise InputError(f"{where}: relation {index} ({raw.get('brand', '?')}), "
                             f"{first_problem(exc)}") from exc
    return out


def load_relations(extra: Sequence[Path] = ()) -> list[Relation]:
    """Bundled relations, then user files; later rows replace earlier ones by brand."""
    bundled = resources.files("entityscan.relations") / "brands.yaml"
    docs: list[tuple[str, Any]] = [("brands.yaml (bundled)", yaml.safe_load(bundled.read_text(
        encoding="utf-8")))]
    for path in extra:
        try:
            docs.append((str(path), yaml.safe_load(Path(path).read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"{path}: cannot read relations file: {exc}") from exc
    by_brand: dict[str, Relation] = {}
    for where, doc in docs:
        for relation in _parse(doc, where):
            by_brand[relation.brand.casefold().strip()] = relation
    return list(by_brand.values())


__all__ = ["load_relations"]
