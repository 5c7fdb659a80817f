"""The store (SQLAlchemy 2.x): a SQLite file in the user data directory by default
(`ENTITYSCAN_DATA_DIR`), or PostgreSQL by URL (`--db URL` / `ENTITYSCAN_DB`).

Public API: `Store` (a facade: `store.inventory`, `.findings`, `.decisions`, `.audit`,
`.tokens`, `.outbox`), `TokenInfo`, `SCOPES`, `StoreError`, `default_url`, `redact`,
`hash_token`, `inventory_from_document`, `diff_snapshots`.
"""

from entityscan.store.audit import AuditStore
from entityscan.store.core import Store
from entityscan.store.decisions import DecisionStore
from entityscan.store.diff import diff_snapshots
from entityscan.store.documents import inventory_from_document
from entityscan.store.engine import StoreError, default_url, redact
from entityscan.store.findings import FindingStore
from entityscan.store.inventory import InventoryStore
from entityscan.store.outbox import OutboxStore
from entityscan.store.tokens import SCOPES, TokenInfo, TokenStore, hash_token

__all__ = ["SCOPES", "AuditStore", "DecisionStore", "FindingStore", "InventoryStore",
           "OutboxStore", "Store", "StoreError", "TokenInfo", "TokenStore", "default_url",
           "diff_snapshots", "hash_token", "inventory_from_document", "redact"]
