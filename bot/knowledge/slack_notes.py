"""Notes saved from Slack, kept: stored with chunks made by the Markdown chunker, edited,
deleted and exported. The store decides; callers own the session (Slack knows nothing here)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from bot.db.models import SlackNote
from bot.db.slack_notes import (
    KIND,
    NoteFields,
    all_slack_notes,
    delete_slack_note,
    edit_slack_note,
    put_slack_note,
    source_title,
)
from bot.db.sql import aware
from bot.db.store import replace_source_chunks
from bot.knowledge.saved import SavedNote, chunk_saved_note, export_file_name, note_document


def as_saved(note: SlackNote) -> SavedNote:
    """The row as the pure exporter and chunker read it."""
    return SavedNote(
        key=note.source.key,
        title=note.title,
        section=note.section,
        body=note.body,
        author_id=note.author_id,
        saver_id=note.saver_id,
        channel_id=note.channel_id,
        channel_name=note.channel_name,
        permalink=note.permalink,
        saved_at=aware(note.created_at) or note.created_at,
    )


def _rechunk(session: Session, note: SlackNote) -> int:
    drafts = chunk_saved_note(as_saved(note))
    replace_source_chunks(session, KIND, note.source.key, source_title(note.channel_name), drafts)
    return len(drafts)


def save_note(session: Session, key: str, values: NoteFields) -> SlackNote:
    """Store a saved note under `key` (one message is one note: saving it again replaces it)
    with its chunks; the source's revision moves, so every index re-reads it."""
    note = put_slack_note(session, key, values)
    _rechunk(session, note)
    return note


def edit_note(session: Session, note: SlackNote, title: str, section: str, body: str) -> None:
    """Change a saved note and make its chunks again."""
    edit_slack_note(session, note, title, section, body)
    _rechunk(session, note)


def delete_note(session: Session, note_id: int) -> bool:
    """Delete a saved note with its chunks; False when it was already gone."""
    return delete_slack_note(session, note_id)


def export_notes(session: Session, folder: Path) -> list[Path]:
    """Write every saved note as one Markdown file (front matter, then the text) into `folder`;
    returns the files written. Loading the folder with `notes load` gives the same chunks."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for note in all_slack_notes(session):
        saved = as_saved(note)
        path = folder / export_file_name(saved)
        path.write_text(note_document(saved), encoding="utf-8")
        written.append(path)
    return written
