"""The schema revision the bundled migrations lead to, read from their files alone.

Neither Alembic nor SQLAlchemy is imported here: a cold `devopsbot ask` checks the store's
revision with it before deciding whether it needs either.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The revision a store is at, as Alembic records it.
VERSION_SQL = "SELECT version_num FROM alembic_version"
_REVISION = re.compile(r'^(down_revision|revision) = "([^"]+)"', re.M)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration's id (the one nothing revises)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict((k, v) for k, v in _REVISION.findall(path.read_text("utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
        if "down_revision" in found:
            revised.add(found["down_revision"])
    (head,) = revisions - revised
    return head
