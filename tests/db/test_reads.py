"""The reads answering needs: the same answers through SQLAlchemy (SQLite and PostgreSQL) and
through the standard library's sqlite3, which a cold `devopsbot ask` uses on a SQLite store."""

from __future__ import annotations

import sqlite3

import pytest

from bot.chunks import ChunkDraft
from bot.db.index_store import save_index_cache
from bot.db.models import AnswerFeedback
from bot.db.reads import answer_votes, cached_index, count_sources, source_keys, source_revisions
from bot.db.session import make_engine, session_factory, upgrade
from bot.db.sqlite_reader import open_reader
from bot.db.store import bump_revision, replace_note_chunks


def fill(sessions) -> dict[str, int]:
    """Two notes sources (one edited once), a vote and a cached index; source ids by key."""
    with sessions.begin() as session:
        drafts = [ChunkDraft("note", "stern", "Kubernetes", "stern: tail many pods")]
        first = replace_note_chunks(session, "/notes/k8s.md", "k8s.md", drafts)
        second = replace_note_chunks(session, "/notes/pg.md", "pg.md", drafts)
        session.flush()
        bump_revision(session, second)
        session.add(
            AnswerFeedback(
                question="tail pods",
                question_key="k",
                chunk_id=1,
                chunk_title="stern",
                user_id="U1",
                value=-1,
            )
        )
        save_index_cache(session, "answers", "fp-1", b"\x00index bytes\xff")
        return {"/notes/k8s.md": first.id, "/notes/pg.md": second.id}


@pytest.fixture
def sqlite_sessions(sqlite_url):
    """Sessions on a migrated SQLite file (the only store the standard library reads)."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def reads(store) -> dict:
    return {
        "revisions": source_revisions(store),
        "count": count_sources(store),
        "keys": sorted(source_keys(store)),
        "votes": answer_votes(store),
        "cache": cached_index(store, "answers", "fp-1"),
        "other fingerprint": cached_index(store, "answers", "fp-2"),
    }


def test_reads_return_what_was_stored(sessions):
    ids = fill(sessions)
    with sessions() as session:
        got = reads(session)
    k8s, pg = ids["/notes/k8s.md"], ids["/notes/pg.md"]
    assert got["revisions"][k8s] + 1 == got["revisions"][pg]
    assert got["count"] == 2
    assert got["keys"] == ["/notes/k8s.md", "/notes/pg.md"]
    assert got["votes"] == [("tail pods", 1, "U1", -1)]
    assert got["cache"] == b"\x00index bytes\xff"
    assert got["other fingerprint"] is None


def test_sqlite3_reads_the_same_as_sqlalchemy(sqlite_url, sqlite_sessions):
    fill(sqlite_sessions)
    with sqlite_sessions() as session:
        expected = reads(session)
    reader = open_reader(sqlite_url)
    assert isinstance(reader, sqlite3.Connection)
    try:
        assert reads(reader) == expected
    finally:
        reader.close()
