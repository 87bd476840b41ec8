"""Plain-text and JSON renderings of answers for the CLI (Slack has its own Block Kit builders)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.knowledge.articles import excerpt
from bot.knowledge.index import Hit, IndexedChunk, SearchResult
from bot.plaintext import stored_line, strip_controls

NO_ANSWER = "I don't know: nothing in the notes or feeds covers that well enough."
NOT_SURE = "Not sure this answers it; the closest match:"


def _shown(chunk: IndexedChunk) -> IndexedChunk:
    """The chunk's text as plain text: no control or bidi characters (an ESC from a feed would
    drive the terminal), and article titles stored before they were cleaned without tags."""
    if chunk.kind != "article":
        return replace(chunk, text=strip_controls(chunk.text))
    return replace(
        chunk,
        title=stored_line(chunk.title, 1000),
        section=stored_line(chunk.section, 1000),
        text=strip_controls(chunk.text),
        source_name=stored_line(chunk.source_name, 200),
    )


def hit_json(hit: Hit) -> dict[str, Any]:
    """One result in the GUIDE's JSON contract."""
    c = _shown(hit.chunk)
    return {
        "kind": c.kind,
        "title": c.title,
        "section": c.section,
        "text": c.text,
        "url": c.url,
        "source": c.source_name,
        "score": hit.score,
    }


def result_json(result: SearchResult) -> dict[str, Any]:
    """The whole answer as one JSON object."""
    return {
        "question": result.question,
        "answered": result.answered,
        "results": [hit_json(h) for h in result.hits],
    }


def _where(hit: Hit) -> str:
    c = _shown(hit.chunk)
    parts = [c.source_name, c.url or ""] if c.kind == "article" else [c.section, c.source_name]
    return " · ".join(p for p in parts if p)


def _one_line(hit: Hit, limit: int = 100) -> str:
    c = _shown(hit.chunk)
    label = c.title if c.kind == "article" else c.text.splitlines()[0]
    label = label if len(label) <= limit else label[: limit - 1] + "…"
    return f"{label}  ({_where(hit)})"


def _best(hit: Hit) -> list[str]:
    best = _shown(hit.chunk)
    lines = []
    if best.kind == "article":
        lines.append(best.title)
        if best.section:
            lines.append(f"[{best.section}]")
        lines.append(excerpt(best.text, 500))
    else:
        lines.append(best.text)
    lines.append(f"  — {_where(hit)}")
    return lines


def result_text(result: SearchResult) -> str:
    """Human output: the best answer with its section and source, then up to two suggestions."""
    lines: list[str] = []
    hits = result.hits
    if result.shows_best:
        if not result.answered:
            lines.append(NOT_SURE)
        lines.extend(_best(hits[0]))
        rest = hits[1:3]
        if rest:
            lines.append("")
            lines.append("See also:")
            lines.extend(f"  • {_one_line(h)}" for h in rest)
    else:
        lines.append(NO_ANSWER)
        if hits:
            lines.append("Nearest matches:")
            lines.extend(f"  • {_one_line(h)}" for h in hits[:3])
    return "\n".join(lines)
