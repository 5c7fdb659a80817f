"""The product's errors: one root (`EntityscanError`), messages that name what and where.

`EntityscanError` is defined in `entityscan.scanners.errors` (the scanners may not import the
rest of the product) and re-exported here; `ScannerError` is its branch for the edge checks.
"""

from entityscan.scanners.errors import EntityscanError, ScannerError

__all__ = ["EntityscanError", "InputError", "ListError", "ScannerError", "first_problem"]


class InputError(EntityscanError):
    """A user-supplied file or value cannot be used (exit code 2)."""


class ListError(EntityscanError):
    """A restricted-party list cannot be loaded or installed; the last good copy is kept."""


def first_problem(exc: Exception) -> str:
    """"field `x`: what is wrong" for the first error of a pydantic ValidationError."""
    errors = getattr(exc, "errors", None)
    if not callable(errors) or not errors():
        return str(exc)
    first = errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return f"field `{field}`: {first['msg']}"
