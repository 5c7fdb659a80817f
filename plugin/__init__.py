"""entityscan: restricted-party screening for equipment, before purchase and after install.

The product half: lists, relations, matcher, hooks, CLI, service, store, reports.  It consumes
the inventory model produced by `scanners`.
"""

__version__ = "0.1.0"
