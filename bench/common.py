"""Shared helpers for the benchmark scripts: seed loading, percentiles, eval matching."""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.db.session import make_engine, session_factory, upgrade
from bot.db.store import get_or_create_source, replace_note_chunks
from bot.feeds.ingest import store_parsed_feed
from bot.feeds.parse import parse_feed
from bot.knowledge.load import sync_notes
from bot.knowledge.notes import chunk_markdown
from bot.knowledge.service import Answerer

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
        store_parsed_feed(session, source, parsed)


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


PUBLIC_CORPUS = SHARED / "eval" / "public-corpus"
PUBLIC_EVAL = SHARED / "eval" / "public-dev-questions.jsonl"
EXTRA = REPO / "bench" / "extra-questions.jsonl"
CALIBRATION = REPO / "bench" / "calibration-questions.jsonl"
CACHE = REPO / "bench" / "results" / "embedding-cache.sqlite"


def load_public_corpus(session: Session, corpus: Path = PUBLIC_CORPUS) -> None:
    """Index the 689 public command-reference pages, one notes source per file."""
    for md in sorted(corpus.rglob("*.md")):
        key = str(md.relative_to(corpus))
        replace_note_chunks(session, key, md.name, chunk_markdown(md.read_text("utf-8")))


def _cache_db() -> sqlite3.Connection:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(CACHE)
    db.execute(
        "CREATE TABLE IF NOT EXISTS vectors (model TEXT, text_hash TEXT, vector BLOB, "
        "PRIMARY KEY (model, text_hash))"
    )
    return db


def restore_cached_embeddings(session: Session) -> int:
    """Copy vectors computed by earlier bench runs into this store (same model, same texts).

    Benchmarks build a fresh store every run; the cache only spares re-encoding identical
    chunk texts, exactly as the product's own store does across restarts.
    """
    from bot.db.index_store import save_embeddings
    from bot.db.models import Chunk
    from bot.knowledge.embed import MODEL_ID

    wanted = set(session.scalars(select(Chunk.text_hash).distinct()))
    with closing(_cache_db()) as db:
        rows = db.execute("SELECT text_hash, vector FROM vectors WHERE model = ?", (MODEL_ID,))
        found = [(h, v) for h, v in rows if h in wanted]
    save_embeddings(session, MODEL_ID, found)
    return len(found)


def save_cached_embeddings(session: Session) -> None:
    """Remember this store's vectors for the next bench run."""
    from bot.db.models import ChunkEmbedding

    rows = session.execute(
        select(ChunkEmbedding.model, ChunkEmbedding.text_hash, ChunkEmbedding.vector)
    ).all()
    with closing(_cache_db()) as db:
        db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", [tuple(r) for r in rows])
        db.commit()


def save_team_notes(session: Session, count: int) -> None:
    """Add `count` notes saved from Slack (bench/team_notes.py) the way the save modal does."""
    from bench.team_notes import team_notes
    from bot.db.slack_notes import NoteFields
    from bot.knowledge.slack_notes import save_note

    for i, note in enumerate(team_notes(count)):
        fields = NoteFields(
            title=note["title"],
            section=note["section"],
            body=note["text"],
            saver_id=f"U{i % 7:08d}",
            author_id=f"U{i % 5:08d}",
            team_id="T0BENCH",
            channel_id="C0BENCH",
            channel_name=note["section"],
            message_ts=f"1700000000.{i:06d}",
            permalink=f"https://bench.slack.com/archives/C0BENCH/p1700000000{i:06d}",
        )
        save_note(session, f"slack:T0BENCH/C0BENCH/1700000000.{i:06d}", fields)


def build_store(
    tmp: str, corpus: str, saved_notes: int = 0, notes: Sequence[Path] = ()
) -> tuple[sessionmaker[Session], Answerer, float]:
    """A real SQLite store with `corpus` ("seed", "public": public pages plus the seeds, or
    "notes": only the Markdown files and folders in `notes`, loaded as `notes load` does) and
    `saved_notes` notes saved from Slack, embedded and indexed the way the bot does it; returns
    sessions, answerer, build seconds."""
    engine = make_engine(f"sqlite:///{tmp}/{corpus}.db")
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        if corpus == "notes":
            sync_notes(session, list(notes))
        else:
            load_seeds(session)
        if corpus == "public":
            load_public_corpus(session)
        if saved_notes:
            save_team_notes(session, saved_notes)
        restore_cached_embeddings(session)
    answerer = Answerer()
    t0 = time.perf_counter()
    with sessions.begin() as session:
        answerer.sync(session)
    built = time.perf_counter() - t0
    with sessions() as session:
        save_cached_embeddings(session)
    return sessions, answerer, built


@contextmanager
def fresh_database(url: str | None) -> Iterator[str]:
    """A store URL for one run: a new schema on the given PostgreSQL server (dropped after), the
    given SQLite URL, or a temporary SQLite file."""
    if url is None or not url.startswith("postgresql"):
        with tempfile.TemporaryDirectory() as tmp:
            yield url or f"sqlite:///{tmp}/bench.db"
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
