"""Bundled sample data (the seed notes and feed snapshots) so a fresh install can answer."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.db.reads import Reader, count_sources, source_keys
from bot.knowledge.embed import MODEL_ID

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.db.sql import Store

SAMPLE_PREFIX = "sample:"
# Vectors of every sample chunk, made by bench/sample_embeddings.py: no encoding on first run.
SAMPLE_EMBEDDINGS = Path(__file__).resolve().parent.parent / "sample_data" / "embeddings.npz"


def load_sample_data(session: Session) -> int:
    """Index the bundled notes and feeds; returns how many sources were loaded.

    Their vectors ship in SAMPLE_EMBEDDINGS: `embed_missing` takes them from there.
    """
    # Only on first run: a later `ask` need not import the parsers or the ORM.
    from bot.db.store import get_or_create_source, replace_note_chunks
    from bot.feeds.ingest import store_parsed_feed
    from bot.feeds.parse import parse_feed
    from bot.knowledge.notes import chunk_markdown

    root = resources.files("bot") / "sample_data"
    loaded = 0
    for item in sorted(root.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".md"):
            drafts = chunk_markdown(item.read_text(encoding="utf-8"))
            replace_note_chunks(session, SAMPLE_PREFIX + item.name, item.name, drafts)
            loaded += 1
    for item in sorted((root / "feeds").iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".xml"):
            continue
        parsed = parse_feed(item.read_bytes(), f"https://sample.invalid/{item.name}")
        source = get_or_create_source(session, "feed", SAMPLE_PREFIX + item.name, parsed.title)
        store_parsed_feed(session, source, parsed)
        loaded += 1
    return loaded


@lru_cache(maxsize=1)
def shipped_vectors() -> dict[str, np.ndarray]:
    """Text hash → vector for every sample chunk, as shipped (empty if made for another model)."""
    if not SAMPLE_EMBEDDINGS.exists():
        return {}
    with np.load(SAMPLE_EMBEDDINGS) as data:
        if str(data["model"]) != MODEL_ID:
            return {}  # made for another model: the chunks get encoded like any others
        vectors = data["vectors"]
        return {h: vectors[i] for i, h in enumerate(data["hashes"].tolist())}


def ensure_sample_data(store: Store) -> bool:
    """Load the sample data when the store holds no source at all; True when it did.

    Given a bare Connection, the loading runs in an ORM session joined to its transaction.
    """
    if count_sources(store):
        return False
    from sqlalchemy import Connection

    if isinstance(store, Connection):
        from sqlalchemy.orm import Session

        with Session(store) as session:
            load_sample_data(session)
            session.flush()
    else:
        load_sample_data(store)
    return True


def only_sample_data(store: Reader) -> bool:
    """True when every source in the store is bundled sample data (and there is at least one)."""
    keys = source_keys(store)
    return bool(keys) and all(k.startswith(SAMPLE_PREFIX) for k in keys)


def remove_sample_data(session: Session) -> int:
    """Drop the bundled sample data once the user brings their own; returns sources removed."""
    from sqlalchemy import delete

    from bot.db.models import Source

    result = session.execute(delete(Source).where(Source.key.startswith(SAMPLE_PREFIX)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
