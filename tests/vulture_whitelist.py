"""Names vulture cannot see used, so `tests/test_quality.py::test_no_dead_code` reports only
code that nothing uses.  Each group says who uses the names; vulture reads this file, nothing
runs it.  Protocol methods called by the standard library (asyncio, http.server, HTMLParser)
are in `[tool.vulture] ignore_names` in pyproject.toml; decorator-registered functions (hooks,
routes, commands, fixtures, validators) in `ignore_decorators`.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# Enum members chosen by value: typer parses --format/--fail-on into them, decisions arrive
# as JSON strings.
_.CSV
_.CYCLONEDX
_.NDJSON
_.ALLOW
_.BLOCK
_.FALSE_POSITIVE
_.EXCEPTION

# pydantic fields that are serialised (JSON documents, API responses, the audit log) but not
# read by name in Python.
_.revoked_by
_.entity
_.matched_name
_.applied_decision
_.schema_
_.last_scan_id

# Attributes a library reads: sqlite3's connection mode, pyusb's control-transfer timeout,
# uvicorn's shutdown flag, socketserver's threading and backlog settings.
_.isolation_level
_.default_timeout
_.should_exit
_.daemon_threads
_.request_queue_size

# Module protocol (PEP 562): lazy public names of `entityscan`.
_.__getattr__
_.__dir__

# http.server's handler settings, read by the base class.
_.disable_nagle_algorithm
_.protocol_version

# pyusb's backend interface, implemented by the scripted test backend (with its arguments).
_.get_device_descriptor
_.get_configuration_descriptor
_.get_interface_descriptor
_.open_device
_.close_device
_.ctrl_transfer
_.bmRequestType
_.bRequest
_.wIndex

# Response fields of the fleet API (pydantic models: read by clients, not by Python code).
_.review
_.last_scan_at
_.last_scan_kind
_.last_scan_devices
_.snapshot_pruned

# uvicorn's --factory entry point of a worker process (entityscan.service.worker).
_.app_from_env

# pickle's hook for custom reductions (the index cache's pickler).
_.reducer_override

# The lab's port plan fields are read by name through `as_dict()` (ports_for).
_.hik_sdk
_.dahua_sdk
