"""The value a chunker produces: one answerable piece of text with where it came from."""

from __future__ import annotations

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
