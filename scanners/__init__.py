"""Edge checks: network discovery and fingerprinting, USB.  They produce the inventory.

This package never imports `plugin`: data flows scanners -> inventory -> matcher.
"""

from scanners.errors import ScannerError
from scanners.inventory import Certainty, Device, Evidence, Inventory, ScanError

__all__ = ["Certainty", "Device", "Evidence", "Inventory", "ScanError", "ScannerError"]
