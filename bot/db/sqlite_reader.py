"""Reading a SQLite store through the standard library (never writing it), for a cold `ask`.

Only a store that needs nothing done to it qualifies: the file exists and its schema is at the
bundled head revision. Anything else (another database, a URL with options, a store to create
or migrate) gets None, and the caller opens the store the usual way, through SQLAlchemy.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

from bot.db.schema_version import VERSION_SQL, head_revision

# SQLAlchemy's form of a SQLite file URL, without query options (those take the usual way).
_FILE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?%]+)")


def open_reader(url: str) -> sqlite3.Connection | None:
    """A connection to the SQLite file of `url` when its schema is current; else None."""
    match = _FILE_URL.fullmatch(url)
    if match is None:
        return None
    path = Path(match["path"]).expanduser()
    if not path.is_file():
        return None
    try:
        # mode=rw: a file deleted since the check is an error here, never a new empty store.
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=rw", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        version = conn.execute(VERSION_SQL).fetchone()
    except sqlite3.Error:
        version = None
    if version is None or version[0] != head_revision():
        conn.close()
        return None
    return conn
