"""Which stores a cold `ask` may read through sqlite3 alone: only a SQLite file at the current
schema; everything else goes the usual way (SQLAlchemy, migrations)."""

from __future__ import annotations

import sqlite3

import pytest

from bot.db.schema_version import head_revision
from bot.db.session import make_engine, upgrade
from bot.db.sqlite_reader import open_reader


@pytest.fixture
def migrated(tmp_path):
    """A SQLite file at the newest schema revision."""
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def test_a_current_sqlite_store_is_read_directly(migrated):
    reader = open_reader(f"sqlite:///{migrated}")
    assert reader is not None
    try:
        assert reader.execute("SELECT version_num FROM alembic_version").fetchone() == (
            head_revision(),
        )
    finally:
        reader.close()


def test_the_reader_never_writes_the_schema_behind_or_ahead(migrated):
    with sqlite3.connect(migrated) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    assert open_reader(f"sqlite:///{migrated}") is None  # the usual way migrates it


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///{path}?timeout=5",
    ],
)
def test_other_databases_and_urls_with_options_go_the_usual_way(migrated, url):
    assert open_reader(url.format(path=migrated)) is None


def test_a_missing_file_is_not_created(tmp_path):
    path = tmp_path / "absent.db"
    assert open_reader(f"sqlite:///{path}") is None
    assert not path.exists()


def test_files_that_are_not_stores_go_the_usual_way(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    assert open_reader(f"sqlite:///{garbage}") is None
    assert open_reader(f"sqlite:///{empty}") is None
    assert garbage.read_bytes() == b"not a database at all" * 100
