"""The root of every error entityscan raises on purpose, and the scanners' branch of it.

The root lives here, at the bottom of the one-way flow (scanners -> the rest), so both halves
derive from one class without `entityscan.scanners` importing the rest; `entityscan.errors`
re-exports it.  Messages name what and where, so a user can act on them.
"""


class EntityscanError(Exception):
    """Base of every error entityscan raises on purpose (the CLI turns it into exit code 2)."""


class ScannerError(EntityscanError):
    """A scan could not do what was asked; the message says what and where."""
