"""The cited starter dataset shipped in `plugin/lists/bundled/*.yaml`.

One YAML file per list: `list`, `list_name`, `source_url`, `citation` (default for entries) and
`entries`, each with `id`, `name`, `aliases`, `maker`, `citation`, `listed`, `removed`,
`country`, `parent`, `scope`, `remarks`.  Every entry carries its citation.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from entityscan.errors import ListError, first_problem
from entityscan.lists.list_set import ListSet, ListSource
from entityscan.model import ListEntry

# A YAML flow list splits on commas: `[Acme Co., Ltd.]` becomes "Acme Co." and "Ltd.".  An
# alias that is only a legal form is that mistake, never a real name.
_BARE_LEGAL_FORM = re.compile(
    r"^(?:co|corp|inc|ltd|llc|limited|company|corporation|gmbh|s\.?a|plc|jsc)\.?$",
    re.IGNORECASE)


def parse_bundled_document(doc: Any, where: str) -> list[ListEntry]:
    """Entries of one bundled-format document; `where` names the file in errors."""
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise ListError(f"{where}: not a bundled list file (needs `list` and `entries`)")
    defaults = {k: doc.get(k) for k in ("list", "list_name", "source_url", "citation")}
    entries: list[ListEntry] = []
    for index, raw in enumerate(doc["entries"], start=1):
        if not isinstance(raw, dict):
            raise ListError(f"{where}: entry {index} is not a mapping")
        record = {k: v for k, v in defaults.items() if v is not None} | raw
        record["aliases"] = tuple(record.get("aliases") or ())
        for alias in record["aliases"]:
            if isinstance(alias, str) and _BARE_LEGAL_FORM.match(alias.strip()):
                raise ListError(f"{where}: entry {index} ({raw.get('id', '?')}), field "
                                f"`aliases`: {alias!r} is only a legal form; quote names that "
                                'contain commas (aliases: ["Acme Co., Ltd."])')
        try:
            entries.append(ListEntry.model_validate(record))
        except ValidationError as exc:
            raise ListError(f"{where}: entry {index} ({raw.get('id', '?')}), "
                            f"{first_problem(exc)}") from exc
    return entries


def load_bundled_file(path: Path) -> list[ListEntry]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ListError(f"{path}: cannot read bundled list: {exc}") from exc
    return parse_bundled_document(doc, str(path))


def load_bundled() -> ListSet:
    """The bundled starter set as a `ListSet` (one source named `bundled`)."""
    folder = resources.files("entityscan.lists") / "bundled"
    entries: list[ListEntry] = []
    digest = hashlib.sha256()
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".yaml"):
            continue
        data = item.read_bytes()
        digest.update(data)
        with resources.as_file(item) as path:
            entries.extend(load_bundled_file(Path(path)))
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.list] = counts.get(entry.list, 0) + 1
    source = ListSource(name="bundled", location=str(folder), loaded_at=datetime.now(UTC),
                        published=None, count=len(entries), per_list=counts,
                        content_hash="sha256:" + digest.hexdigest())
    return ListSet(entries, [source])
