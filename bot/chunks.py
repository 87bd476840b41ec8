"""The value a chunker produces: one answerable piece of text with where it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SECTION_SEP = " › "


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: text plus the title/section that locate it."""

    kind: str  # "note" | "article"
    title: str
    section: str
    text: str
    url: str | None = None
    line_start: int | None = None
    line_end: int | None = None


def chunk_text_hash(title: str, section: str, text: str) -> str:
    """sha256 of a chunk's content: the key its stored embedding is found by."""
    digest = hashlib.sha256()
    for part in (title, section, text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()
