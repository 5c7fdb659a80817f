"""The one exception base of the simulated device lab."""

from entityscan.scanners.errors import ScannerError


class LabError(ScannerError):
    """The lab could not be set up as asked (bad profile, address in use …)."""
