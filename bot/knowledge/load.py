"""Reading notes from disk (the only I/O of the knowledge package) into the store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from bot.db.store import replace_note_chunks
from bot.knowledge.notes import chunk_markdown

NOTE_SUFFIXES = (".md", ".markdown")


class NotesError(Exception):
    """A notes file could not be read; the message names the file."""


def find_note_files(paths: list[Path]) -> list[Path]:
    """Markdown files named directly or found under folders, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*") if p.suffix.lower() in NOTE_SUFFIXES and p.is_file()
                )
            )
        elif path.exists():
            found.append(path)
        else:
            raise NotesError(f"{path}: no such file or folder")
    return found


def read_note_file(path: Path) -> str:
    """The file's text, or NotesError naming it when it is unreadable or not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotesError(
            f"{path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8"
        ) from None
    except OSError as exc:
        raise NotesError(f"{path}: cannot read it ({exc.strerror})") from None


def load_note_file(session: Session, path: Path) -> int:
    """Replace the chunks of one notes file inside the caller's transaction; returns the count."""
    text = read_note_file(path)
    drafts = chunk_markdown(text)
    replace_note_chunks(session, str(path.resolve()), path.name, drafts)
    return len(drafts)
