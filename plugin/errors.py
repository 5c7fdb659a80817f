"""The one exception base of the plugin package; messages name what and where."""


class EntityscanError(Exception):
    """Base of every error entityscan raises on purpose."""


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
