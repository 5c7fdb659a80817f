"""The one exception base of the scanners package."""


class ScannerError(Exception):
    """A scan could not do what was asked; the message says what and where."""
