"""Edge checks: network discovery and fingerprinting, USB.  They produce the inventory.

This package never imports `plugin`: data flows scanners -> inventory -> matcher.
"""

from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Certainty, Device, Evidence, Inventory, ScanError

__all__ = ["Certainty", "Device", "Evidence", "Inventory", "ScanError", "ScannerError"]
