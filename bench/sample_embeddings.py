"""Precompute the bundled sample data's embeddings (bot/sample_data/embeddings.npz).

    python bench/sample_embeddings.py

A fresh install answers its first question from the sample data within seconds because these
vectors ship with the package instead of being computed on first run. Re-run this after changing
the chunker, the embedding text or the model; tests/knowledge/test_sample.py fails until then.
Vectors already in the file for the same model and text are kept, as the bot's store keeps them:
the model's int8 activations are scaled per batch, so re-encoding a text in another batch moves
its vector slightly (up to 0.02), and every figure measured on it with it.
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
    kept = _existing_vectors()
    new = [h for h in hashes if h not in kept]
    encoded = Encoder().encode([embedding_text(*unique[h]) for h in new]) if new else []
    kept.update(zip(new, (np.asarray(v, dtype=np.float16) for v in encoded), strict=True))
    np.savez_compressed(
        SAMPLE_EMBEDDINGS,
        model=np.array(MODEL_ID),
        hashes=np.array(hashes),
        vectors=np.array([kept[h] for h in hashes], dtype=np.float16).reshape(len(hashes), -1),
    )
    size = SAMPLE_EMBEDDINGS.stat().st_size / 1e6
    print(f"wrote {len(hashes)} vectors ({len(new)} new, {size:.1f} MB) to {SAMPLE_EMBEDDINGS}")


def _existing_vectors() -> dict[str, np.ndarray]:
    """The file's vectors by text hash, if it holds this model's."""
    if not SAMPLE_EMBEDDINGS.exists():
        return {}
    data = np.load(SAMPLE_EMBEDDINGS)
    if str(data["model"]) != MODEL_ID:
        return {}
    return dict(zip(data["hashes"].tolist(), data["vectors"], strict=True))


if __name__ == "__main__":
    main()
