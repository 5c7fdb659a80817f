"""Reports people hand on: an HTML page, a CycloneDX hardware BOM, and the published JSON Schemas
of the `entityscan.scan/1` and `entityscan.screen/1` documents every format is rendered from.

Public API:
- `render_html(doc)`: one self-contained HTML page (no network fetches) for a scan or screen;
- `render_cyclonedx(doc)`: a CycloneDX 1.6 JSON BOM, devices or line items as components;
- `schema_for(name)` / `validate_document(doc)`: the published JSON Schemas and a validator;
- `load_document(path)`: read a saved scan/screen JSON file, validated, with errors that name
  the file and the field.

`entityscan.output.RENDERERS` imports the renderers lazily, so `--format html|cyclonedx` works for
every command that writes documents through `entityscan.output.write_output`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from entityscan.errors import InputError

SCHEMA_FILES = {
    "entityscan.scan/1": "entityscan.scan-1.schema.json",
    "entityscan.screen/1": "entityscan.screen-1.schema.json",
}
# A saved document larger than this is not a report input anyone meant to give.
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024


def schema_path(name: str) -> Path:
    """Where the JSON Schema of document type `name` (e.g. `entityscan.scan/1`) is installed."""
    try:
        filename = SCHEMA_FILES[name]
    except KeyError:
        raise InputError(f"unknown document schema {name!r} (known: "
                         f"{', '.join(SCHEMA_FILES)})") from None
    return Path(str(resources.files("entityscan.reports") / "schemas" / filename))


@cache
def schema_for(name: str) -> dict[str, Any]:
    """The parsed JSON Schema of document type `name`."""
    schema: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema_for(name),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _fast_validator(name: str) -> Any:
    """jsonschema-rs, when installed (schemathesis brings it), answers "valid?" some hundred
    times faster than jsonschema on a large scan; jsonschema still words every error."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        return jsonschema_rs.validator_for(schema_for(name), validate_formats=True)
    except Exception:  # an incompatible build: fall back to the pure-Python validator
        return None


def document_errors(doc: Any) -> list[str]:
    """Every way `doc` breaks its schema, as `at <json path>: <message>` lines (empty if valid)."""
    if not isinstance(doc, dict):
        return [f"at $: expected a JSON object, found {type(doc).__name__}"]
    name = doc.get("schema")
    if name not in SCHEMA_FILES:
        return [f"at $.schema: {name!r} is not one of {', '.join(SCHEMA_FILES)}"]
    fast = _fast_validator(name)
    if fast is not None and fast.is_valid(doc):
        return []
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"at {e.json_path}: {e.message[:300]}" for e in errors]


def validate_document(doc: Any, where: str = "document") -> None:
    """Raise `InputError` naming `where` and the first failing fields when `doc` is invalid."""
    errors = document_errors(doc)
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise InputError(f"{where}: not a valid entityscan scan or screen document: "
                         f"{'; '.join(errors[:3])}{more}")


def load_document(path: Path) -> dict[str, Any]:
    """Read a saved `entityscan.scan/1` or `entityscan.screen/1` JSON file and validate it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise InputError(f"{path}: {size} bytes is larger than the "
                             f"{MAX_DOCUMENT_BYTES // 2**20} MB a report input may be")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise InputError(f"{path}: empty file; expected an entityscan scan or screen JSON "
                         f"document (--format json)")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}, column {exc.colno}: not JSON: "
                         f"{exc.msg}") from exc
    validate_document(doc, str(path))
    return doc


def render_html(doc: dict[str, Any]) -> str:
    from entityscan.reports.html import render_html as _render

    return _render(doc)


def render_cyclonedx(doc: dict[str, Any]) -> str:
    from entityscan.reports.cyclonedx import render_cyclonedx as _render

    return _render(doc)


__all__ = ["MAX_DOCUMENT_BYTES", "document_errors", "load_document", "render_cyclonedx",
           "render_html", "schema_for", "schema_path", "validate_document"]
