"""Small SQL helpers the store and the outbox share, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import Connection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# What store functions run on: the bot's ORM sessions, or a bare Connection (a cold `ask`).
Store: TypeAlias = "Session | Connection"


def aware(value: datetime | None) -> datetime | None:
    """A UTC-aware datetime (SQLite hands back naive ones; everything we store is UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def dialect_name(store: Store) -> str:
    """ "sqlite" or "postgresql", for a session or a bare connection alike."""
    bind = store if isinstance(store, Connection) else store.get_bind()
    return bind.dialect.name


def insert_ignoring_duplicates(store: Store, model: object, rows: list[dict[str, Any]]) -> int:
    """INSERT rows, silently skipping those that hit a unique constraint; returns rows inserted.

    `model` is a mapped class or a Core table."""
    if not rows:
        return 0
    dialect = dialect_name(store)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    result = store.execute(insert(model).values(rows).on_conflict_do_nothing())
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
