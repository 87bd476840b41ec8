"""Shared helpers for the benchmark scripts: seed loading, percentiles, eval matching."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from sqlalchemy.orm import Session

from bot.db.store import get_or_create_source, replace_note_chunks, store_feed_entries
from bot.feeds.parse import parse_feed
from bot.knowledge.notes import chunk_markdown

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds" if (SHARED / "seeds").is_dir() else REPO / "bot" / "sample_data"
EVAL = SHARED / "eval" / "dev-questions.jsonl"


def load_seeds(session: Session, seeds: Path = SEEDS) -> None:
    """Index the seed notes and the four seed feeds (from files, as the sample loader does)."""
    for md in sorted(seeds.glob("*.md")):
        replace_note_chunks(session, str(md), md.name, chunk_markdown(md.read_text("utf-8")))
    for xml in sorted((seeds / "feeds").glob("*.xml")):
        parsed = parse_feed(xml.read_bytes(), f"https://seed.invalid/{xml.name}")
        source = get_or_create_source(session, "feed", f"seed:{xml.name}", parsed.title)
        store_feed_entries(session, source, parsed)


def load_questions(path: Path = EVAL) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def is_right(question: dict, kind: str, title: str, section: str, text: str) -> bool:
    """The eval README's rule: notes match `any` in text or section, articles `title`."""
    if question["kind"] == "note":
        hay = f"{text}\n{section}".lower()
        return kind == "note" and any(s.lower() in hay for s in question["any"])
    if question["kind"] == "article":
        return kind == "article" and any(s.lower() in title.lower() for s in question["title"])
    return False


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
