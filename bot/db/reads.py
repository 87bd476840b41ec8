"""The store reads answering a question needs, as plain SQL that SQLAlchemy and Python's own
sqlite3 both run.

A cold `devopsbot ask` on a SQLite store whose cached index is current reads through sqlite3
alone (bot.db.sqlite_reader): importing SQLAlchemy is 0.19 s, two fifths of that command. The
bot and every other command pass their sessions or connections, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from bot.db.sql import Store

# A Session or Connection, or a sqlite3 connection opened by bot.db.sqlite_reader.
Reader: TypeAlias = "Store | sqlite3.Connection"


def rows(store: Reader, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one SELECT with `:name` parameters; its rows as tuples."""
    if isinstance(store, sqlite3.Connection):
        return store.execute(sql, params).fetchall()
    from sqlalchemy import text  # already imported by whoever made the session

    return [tuple(r) for r in store.execute(text(sql), params)]


def source_revisions(store: Reader) -> dict[int, int]:
    """Source id → revision, the cheap check an index runs before answering."""
    return {sid: rev for sid, rev in rows(store, "SELECT id, revision FROM sources")}


def count_sources(store: Reader) -> int:
    """How many knowledge sources the store holds."""
    return int(rows(store, "SELECT count(*) FROM sources")[0][0])


def source_keys(store: Reader) -> list[str]:
    """The key (path, URL, `sample:` name) of every source."""
    return [key for (key,) in rows(store, "SELECT key FROM sources")]


def answer_votes(store: Reader) -> list[tuple[str, int, str, int]]:
    """Every 👍/👎 as (question, chunk id, user id, +1/-1)."""
    return rows(store, "SELECT question, chunk_id, user_id, value FROM answer_feedback")


def cached_index(store: Reader, name: str, fingerprint: str) -> bytes | None:
    """The cached index built from exactly this state of the store, if there is one."""
    found = rows(
        store,
        "SELECT data FROM index_cache WHERE name = :name AND fingerprint = :fingerprint",
        name=name,
        fingerprint=fingerprint,
    )
    return bytes(found[0][0]) if found else None
