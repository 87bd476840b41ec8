"""Migration 0013 (unanswered threads) goes up and down on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.db.models import Base
from bot.db.session import alembic_config, upgrade


def test_migration_0013_adds_unanswered_threads_and_goes_back(engine):
    assert "unanswered_threads" in inspect(engine).get_table_names()
    command.downgrade(alembic_config(engine), "0012")
    assert "unanswered_threads" not in inspect(engine).get_table_names()
    upgrade(engine, "head")
    uniques = inspect(engine).get_unique_constraints("unanswered_threads")
    assert [u["column_names"] for u in uniques] == [["channel_id", "thread_ts"]]
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
