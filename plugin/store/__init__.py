"""The store (SQLAlchemy 2.x): a SQLite file in the user data directory by default
(`ENTITYSCAN_DATA_DIR`), or PostgreSQL by URL (`--db URL` / `ENTITYSCAN_DB`).

Public API: `Store`, `Outcome`, `StoreError`, `default_url`, `inventory_from_document`,
`diff_snapshots`.
"""

from entityscan.store.core import Outcome, Store, TokenInfo, hash_token
from entityscan.store.diff import diff_snapshots, is_empty
from entityscan.store.documents import inventory_from_document
from entityscan.store.engine import StoreError, default_url, redact

__all__ = ["Outcome", "Store", "StoreError", "TokenInfo", "default_url", "diff_snapshots",
           "hash_token", "inventory_from_document", "is_empty", "redact"]
