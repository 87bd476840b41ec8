"""Store functions for notes saved from Slack (issue 10): a `slack` source, its chunks, and the
row saying who saved what from where. Callers own the session and the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.db.models import SlackNote, Source, utcnow
from bot.db.sql import aware
from bot.db.store import chunk_counts, get_or_create_source

KIND = "slack"


@dataclass(frozen=True)
class NoteFields:
    """A note as the saver submitted it, and where it came from."""

    title: str
    section: str
    body: str
    saver_id: str
    author_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    channel_name: str = ""
    message_ts: str | None = None
    permalink: str | None = None
    private: bool = False


def note_key(team_id: str | None, channel_id: str | None, ts: str | None) -> str:
    """`slack:<team>/<channel>/<ts>` for a saved message (saving it again edits that note);
    a fresh id for `/devops remember`, which has no message."""
    if channel_id and ts:
        return f"slack:{team_id or '-'}/{channel_id}/{ts}"
    return f"slack:remember/{uuid.uuid4().hex}"


def source_title(channel_name: str) -> str:
    """What answers name a saved note's source by."""
    return f"saved from #{channel_name}" if channel_name else "saved in Slack"


def slack_note_by_key(session: Session, key: str) -> SlackNote | None:
    """The note saved under this key (one message is one note)."""
    return session.scalar(select(SlackNote).join(Source).where(Source.key == key))


def slack_note(session: Session, note_id: int) -> SlackNote | None:
    """One saved note by id."""
    return session.get(SlackNote, note_id)


def put_slack_note(session: Session, key: str, values: NoteFields) -> SlackNote:
    """The note under `key` created, or replaced by these values (its chunks are the caller's:
    `replace_source_chunks` with kind KIND)."""
    source = get_or_create_source(session, KIND, key, source_title(values.channel_name))
    note = source.slack_note
    if note is None:
        note = SlackNote(source=source, created_at=utcnow())
        session.add(note)
    for f in fields(NoteFields):
        setattr(note, f.name, getattr(values, f.name))
    note.updated_at = utcnow()
    session.flush()
    return note


def edit_slack_note(session: Session, note: SlackNote, title: str, section: str, body: str) -> None:
    """New title, section and text for a saved note (its chunks are the caller's)."""
    note.title, note.section, note.body = title, section, body
    note.updated_at = utcnow()
    session.flush()


def delete_slack_note(session: Session, note_id: int) -> bool:
    """Delete a saved note with its source and chunks; False when it was already gone."""
    source_id = session.scalar(select(SlackNote.source_id).where(SlackNote.id == note_id))
    if source_id is None:
        return False
    session.execute(delete(Source).where(Source.id == source_id))
    return True


@dataclass(frozen=True)
class SlackNoteView:
    """One saved note as `notes list --kind slack` shows it."""

    id: int
    key: str
    title: str
    section: str
    channel_name: str
    saver_id: str
    author_id: str | None
    permalink: str | None
    private: bool
    chunks: int
    saved_at: datetime
    updated_at: datetime


def slack_notes(session: Session) -> list[SlackNoteView]:
    """Every saved note with its chunk count, oldest first."""
    chunks = chunk_counts()
    rows = session.execute(
        select(SlackNote, Source.key, func.coalesce(chunks.c.n, 0))
        .join(Source, Source.id == SlackNote.source_id)
        .outerjoin(chunks, chunks.c.source_id == Source.id)
        .order_by(SlackNote.created_at, SlackNote.id)
    )
    return [
        SlackNoteView(
            id=note.id,
            key=key,
            title=note.title,
            section=note.section,
            channel_name=note.channel_name,
            saver_id=note.saver_id,
            author_id=note.author_id,
            permalink=note.permalink,
            private=note.private,
            chunks=int(n),
            saved_at=aware(note.created_at) or note.created_at,
            updated_at=aware(note.updated_at) or note.updated_at,
        )
        for note, key, n in rows
    ]


def all_slack_notes(session: Session) -> list[SlackNote]:
    """Every saved note, oldest first."""
    return list(session.scalars(select(SlackNote).order_by(SlackNote.created_at, SlackNote.id)))


def notes_of_sources(session: Session, source_ids: Collection[int]) -> dict[int, SlackNote]:
    """Source id → the saved note it holds, for those of these sources that are saved notes."""
    if not source_ids:
        return {}
    rows = session.scalars(select(SlackNote).where(SlackNote.source_id.in_(list(source_ids))))
    return {n.source_id: n for n in rows}
