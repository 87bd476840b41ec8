"""Precompute the bundled sample data's embeddings (bot/sample_data/embeddings.npz).

    python bench/sample_embeddings.py

A fresh install answers its first question from the sample data within seconds because these
vectors ship with the package instead of being computed on first run. Re-run this after changing
the chunker, the embedding text or the model; tests/knowledge/test_sample.py fails until then.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sqlalchemy import select

from bot.db.models import Chunk
from bot.db.session import make_engine, session_factory, upgrade
from bot.knowledge.embed import MODEL_ID, Encoder, embedding_text
from bot.knowledge.sample import SAMPLE_EMBEDDINGS, load_sample_data


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/sample.db")
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            load_sample_data(session)
            rows = session.execute(
                select(Chunk.text_hash, Chunk.title, Chunk.section, Chunk.text).distinct()
            ).all()
    unique = {h: (t, s, x) for h, t, s, x in rows}
    hashes = sorted(unique)
    vectors = Encoder().encode([embedding_text(*unique[h]) for h in hashes])
    np.savez_compressed(
        SAMPLE_EMBEDDINGS,
        model=np.array(MODEL_ID),
        hashes=np.array(hashes),
        vectors=vectors.astype(np.float16),
    )
    size = SAMPLE_EMBEDDINGS.stat().st_size / 1e6
    print(f"wrote {len(hashes)} vectors ({size:.1f} MB) to {SAMPLE_EMBEDDINGS}")


if __name__ == "__main__":
    main()
