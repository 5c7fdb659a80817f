"""Signatures as data: `<kind>.yaml` rule files and the engine that runs them.

Public API (everything else is private)::

    from entityscan.scanners.signatures import evaluate, extract, kinds

    evaluate(kind, value, *, probe, field) -> list[Evidence]
        (`value` is the text as seen; bytes are decoded as UTF-8 with replacement; an empty or
        None value yields no evidence.)
        Evidence for every rule of `kind` that matches `value` (first match per file wins
        unless a rule is marked `continue`), plus evidence from rules its extracted fields are
        chained to (an ONVIF `Model` is also judged by the `model` rules).  Each Evidence
        carries the maker it points to (`indicates`, None for descriptive evidence such as a
        model), `kind` (platform | registrant | label), `certainty`, `rule` (`kind/id`),
        `source`, and `fields` (extracted values: model, firmware, serial, build_date, mac …).
    extract(kind, value, *, field=None) -> dict[str, str]
        Only the extracted fields (first value wins across matching rules; no chaining).
    kinds() -> list[str]
        The signal kinds that have a rule file.

    load_signatures(dirs) -> Signatures   (same methods; for user rule directories and tests)
    SignatureError                        (bad rule file or unknown kind; a ScannerError)

`field` names the part of the probe's answer the value came from (`Server`, `Manufacturer`,
`reply`); field-scoped rules (`on_fields`) only run for those fields.  Values are truncated to
the rule file's `max_length` before matching; patterns are linear.  See each YAML file's
`description` for the value format a probe should pass.
"""

from __future__ import annotations

from entityscan.scanners.inventory import Evidence
from entityscan.scanners.signatures.engine import (
    SignatureError,
    Signatures,
    default_signatures,
    load_signatures,
)

__all__ = ["SignatureError", "Signatures", "evaluate", "extract", "kinds", "load_signatures"]


def evaluate(kind: str, value: str | bytes | None, *, probe: str,
             field: str) -> list[Evidence]:
    """Evidence from the bundled rules of `kind` that match `value`."""
    return default_signatures().evaluate(kind, value, probe=probe, field=field)


def extract(kind: str, value: str | bytes | None, *,
            field: str | None = None) -> dict[str, str]:
    """The fields the bundled rules of `kind` extract from `value`."""
    return default_signatures().extract(kind, value, field=field)


def kinds() -> list[str]:
    """The signal kinds that have a bundled rule file."""
    return default_signatures().kinds()
