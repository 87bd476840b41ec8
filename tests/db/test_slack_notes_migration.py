"""Migration 0012 adds the saved-notes table to a store that has data, and goes back (issue 10)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from bot.db.models import Base, SlackNote, Source
from bot.db.session import alembic_config, session_factory, upgrade
from bot.db.slack_notes import KIND, NoteFields, note_key, put_slack_note


def test_migration_0012_adds_slack_notes_and_downgrades_cleanly(engine):
    command.downgrade(alembic_config(engine), "0011")
    assert "slack_notes" not in inspect(engine).get_table_names()
    upgrade(engine, "head")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with session_factory(engine).begin() as session:
        key = note_key("T1", "C0OPS", "1.2")
        put_slack_note(session, key, NoteFields("Title", "ops", "text", saver_id="U1"))
    with session_factory(engine)() as session:
        [(kind, private)] = session.execute(
            select(Source.kind, SlackNote.private).join(SlackNote.source)
        ).all()
    assert (kind, private) == (KIND, False)
    # Deleting the source deletes its note (ON DELETE CASCADE, on both databases).
    with session_factory(engine).begin() as session:
        session.execute(Source.__table__.delete())
    with session_factory(engine)() as session:
        assert session.scalars(select(SlackNote)).all() == []
    command.downgrade(alembic_config(engine), "0011")
    assert "slack_notes" not in inspect(engine).get_table_names()
