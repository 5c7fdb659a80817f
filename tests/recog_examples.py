"""The rapid7/recog examples used as test data: where they live and how they were extracted.

`fixtures/recog/examples.jsonl` holds every `<example>` of the recog fingerprint files whose
signal kinds entityscan judges (one JSON object a line: recog file and line, entityscan kind and
field, the example value, the vendors its fingerprint asserts, the fingerprint's
description).  Only the examples are kept (real-format values, BSD-2-Clause, Rapid7; the
notice is in `fixtures/recog/COPYING`); recog's patterns are not copied.  Regenerate from a
checkout with::

    python tests/recog_examples.py /path/to/recog > fixtures/recog/examples.jsonl
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET

from entityscan.scanners.signatures.recog import FILES, VENDOR_PARAMS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "recog" / "examples.jsonl"
#: Field names for kinds whose rules are field-scoped (as the probes pass them).
FIELDS = {"snmp": {"sysdescr": "sysDescr", "sysobjectid": "sysObjectID"}}


def _value(element: Any) -> str:
    text = element.text or ""
    if element.get("_encoding") == "base64":
        return base64.b64decode("".join(text.split())).decode("utf-8", "replace")
    return text


def _example_lines(text: str) -> list[int]:
    """1-based numbers of the lines holding an `<example`, outside XML comments."""
    found = []
    in_comment = False
    for number, line in enumerate(text.splitlines(), start=1):
        rest = line
        while rest:
            if in_comment:
                end = rest.find("-->")
                if end < 0:
                    rest = ""
                else:
                    in_comment, rest = False, rest[end + 3:]
            else:
                start = rest.find("<!--")
                head = rest if start < 0 else rest[:start]
                if "<example" in head:
                    found.append(number)
                    break
                if start < 0:
                    rest = ""
                else:
                    in_comment, rest = True, rest[start + 4:]
    return found


def extract(checkout: Path) -> Iterator[dict[str, Any]]:
    folder = checkout / "xml"
    for name, (kind, scope) in sorted(FILES.items()):
        path = folder / name
        if not path.is_file():
            continue
        numbers = iter(_example_lines(path.read_text(encoding="utf-8", errors="replace")))
        root = SafeET.fromstring(path.read_bytes(), forbid_dtd=True)
        for fingerprint in root.iter("fingerprint"):
            params = {p.get("name"): p.get("value") for p in fingerprint.iter("param")
                      if p.get("pos") == "0" and p.get("value")}
            vendors = sorted({params[n] for n in VENDOR_PARAMS if params.get(n)})
            for example in fingerprint.iter("example"):
                field = FIELDS.get(kind, {}).get(scope or "", scope) or "value"
                yield {"file": f"xml/{name}", "line": next(numbers), "kind": kind, "field": field,
                       "value": _value(example), "asserts": vendors,
                       "description": (fingerprint.findtext("description") or "").strip()}


def load() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()
            if line.strip()]


if __name__ == "__main__":
    for record in extract(Path(sys.argv[1])):
        print(json.dumps(record, ensure_ascii=False))
