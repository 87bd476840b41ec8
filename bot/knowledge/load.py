"""Reading notes from disk (the only I/O of the knowledge package) into the store."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from bot.db.store import (
    note_source_hash,
    note_source_hashes,
    notes_keys_under,
    remove_notes_sources,
    replace_note_chunks,
    set_note_source_hash,
)
from bot.knowledge.notes import chunk_markdown, note_title
from bot.knowledge.sample import remove_sample_data

NOTE_SUFFIXES = (".md", ".markdown")
# A notes file past this size is most likely generated (a changelog, a log dump): chunking 20 MB
# held 550 MB and made 95,000 chunks to encode, about half an hour of both cores.
MAX_NOTE_BYTES = 2_000_000


class NotesError(Exception):
    """A notes file could not be read; the message names the file."""


def find_note_files(paths: list[Path]) -> list[Path]:
    """Markdown files named directly or found under folders, in a stable order; inside a folder,
    files and folders whose names start with a dot (`.git`, `.github`) are skipped."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(_markdown_under(path)))
        elif path.exists():
            found.append(path)
        else:
            raise NotesError(f"{path}: no such file or folder")
    return found


def _markdown_under(root: Path) -> Iterator[Path]:
    # Hidden folders are pruned, not walked and filtered: a checkout's .git holds thousands of
    # files, and the scheduled sync lists the folder every minute.
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in NOTE_SUFFIXES:
                path = Path(folder, name)
                if path.is_file():
                    yield path


def _read_bytes(path: Path, max_bytes: int = MAX_NOTE_BYTES) -> bytes:
    try:
        # Opened without blocking and checked on the open file: reading a named pipe waits
        # for a writer forever, and a device never ends.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise NotesError(f"{path}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotesError(f"{path}: not a regular file (a pipe, device or socket)")
        try:
            data = f.read(max_bytes + 1)  # never more: the file may be huge, or still growing
        except OSError as exc:
            raise NotesError(f"{path}: cannot read it ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise NotesError(
            f"{path}: larger than {max_bytes / 1e6:g} MB, the limit for one notes file; split "
            "it, or raise DEVOPSBOT_MAX_NOTE_BYTES"
        )
    return data


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotesError(
            f"{path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8"
        ) from None


def read_note_file(path: Path) -> str:
    """The file's text, or NotesError naming it when it is unreadable, too large or not UTF-8."""
    return _decode(path, _read_bytes(path))


def _store_note(session: Session, path: Path, text: str) -> int:
    drafts = chunk_markdown(text)
    replace_note_chunks(session, str(path.resolve()), note_title(text) or path.name, drafts)
    return len(drafts)


def load_note_file(session: Session, path: Path) -> int:
    """Replace the chunks of one notes file inside the caller's transaction; returns the count."""
    return _store_note(session, path, read_note_file(path))


# -- keeping stored notes in step with disk (issue 7) ----------------------------------------


@dataclass(frozen=True)
class LoadedNote:
    """A notes file whose chunks were (re)made by a sync."""

    path: Path
    chunks: int


@dataclass
class SyncReport:
    """What one `sync_notes` did; files that failed keep the chunks already stored."""

    loaded: list[LoadedNote] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # keys whose file left a synced folder
    errors: list[NotesError] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)  # named paths not on disk: notes kept
    emptied: list[Path] = field(default_factory=list)  # folders kept by keep_emptied
    sample_removed: int = 0

    @property
    def chunks(self) -> int:
        """Chunks made by this sync."""
        return sum(n.chunks for n in self.loaded)

    @property
    def changed(self) -> bool:
        """True when some source was added, re-chunked or removed (indexes must re-read)."""
        return bool(self.loaded or self.removed or self.sample_removed)

    def summary(self) -> str:
        """The one-line summary `notes load` prints."""
        return (
            f"loaded {len(self.loaded)} files ({self.chunks} chunks), "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed"
        )


# Bump when the chunker changes what it makes of the same bytes: every notes file stored with an
# older hash is then re-chunked once by the next load or sync, with no command to remember.
CHUNKER_VERSION = b"chunker-9\x00"


def note_file_hash(path: Path) -> str:
    """sha256 of the chunker version and the file's bytes; NotesError when it cannot be read."""
    return _content_hash(_read_bytes(path))


def _content_hash(data: bytes) -> str:
    return hashlib.sha256(CHUNKER_VERSION + data).hexdigest()


@dataclass(frozen=True)
class _Folder:
    path: Path
    root: str  # resolved: the key prefix of the notes loaded from it
    files: int


def sync_notes(
    session: Session,
    paths: Sequence[Path],
    *,
    force: bool = False,
    keep_emptied: bool = False,
    progress: Callable[[int, int, Path], None] | None = None,
    max_bytes: int = MAX_NOTE_BYTES,
) -> SyncReport:
    """Chunk new and changed files, skip unchanged ones (same sha256), and remove the notes of
    files gone from a named folder, inside the caller's transaction; paths not on disk keep theirs.
    """
    # keep_emptied: a folder now holding no Markdown at all is what an unmounted mount point
    # looks like, so the scheduled sync keeps its notes. force: re-chunk after a chunker change.
    report = SyncReport()
    files: dict[str, Path] = {}  # key → path: a file named twice is read once
    folders: list[_Folder] = []
    for path in paths:
        try:
            found = find_note_files([path])
        except NotesError:
            report.missing.append(path)
            continue
        if path.is_dir():
            folders.append(_Folder(path, str(path.resolve()), len(found)))
        for file in found:
            files.setdefault(str(file.resolve()), file)

    stored = note_source_hashes(session)
    for done, (key, path) in enumerate(files.items(), start=1):
        if progress is not None:  # the file now being read, and how many are done
            progress(done - 1, len(files), path)
        try:
            data = _read_bytes(path, max_bytes)  # read once: hashed, then chunked from these
            digest = _content_hash(data)
            if not force and stored.get(key) == digest:
                report.unchanged.append(path)
                continue
            # Re-read under a row lock: another replica may have just loaded this very file.
            if key in stored and not force and note_source_hash(session, key, lock=True) == digest:
                report.unchanged.append(path)
                continue
            count = _store_note(session, path, _decode(path, data))
        except NotesError as exc:
            report.errors.append(exc)
            continue
        set_note_source_hash(session, key, digest)
        report.loaded.append(LoadedNote(path, count))
    if progress is not None and files:
        progress(len(files), len(files), path)

    gone: set[str] = set()
    for folder in folders:
        stale = [k for k in notes_keys_under(session, folder.root) if k not in files]
        if stale and keep_emptied and folder.files == 0:
            report.emptied.append(folder.path)
            continue
        gone.update(stale)
    remove_notes_sources(session, gone)
    report.removed = sorted(gone)
    if report.loaded:
        report.sample_removed = remove_sample_data(session)
    return report


def remove_notes(session: Session, paths: Sequence[str]) -> list[str]:
    """Remove the notes of files, or of every file under folders (matched on stored keys, so
    gone folders work); returns their keys. NotesError names unknown paths; nothing is removed."""
    keys: dict[str, None] = {}
    unknown: list[str] = []
    stored = note_source_hashes(session)
    for raw in paths:
        if not raw.strip():
            unknown.append(repr(raw))  # "" would resolve to the working directory
            continue
        matched = notes_keys_under(session, str(Path(raw).expanduser().resolve()))
        if not matched and raw in stored:
            matched = [raw]  # a key that is not a path (the bundled sample notes)
        if not matched:
            unknown.append(raw)
        keys.update(dict.fromkeys(matched))
    if unknown:
        raise NotesError(
            "no notes loaded from " + ", ".join(unknown) + " (see `devopsbot notes list`)"
        )
    remove_notes_sources(session, keys)
    return list(keys)
