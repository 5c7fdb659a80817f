"""The one exception base of the plugin package; messages name what and where."""


class EntityscanError(Exception):
    """Base of every error entityscan raises on purpose."""


class InputError(EntityscanError):
    """A user-supplied file or value cannot be used (exit code 2)."""


class ListError(EntityscanError):
    """A restricted-party list cannot be loaded or installed; the last good copy is kept."""
