"""UTC times into and out of the database (SQLite hands back naive datetimes; everything is
stored in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import RowMapping


def now() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """In UTC: a naive datetime (SQLite hands them back) is taken as UTC, an aware one
    converted."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dated(row: RowMapping) -> dict[str, Any]:
    """A result row as a dict, its datetimes made aware."""
    return {k: aware(v) if isinstance(v, datetime) else v for k, v in row.items()}
