"""Dense retrieval alone, model against model, over the public bench store's chunks.

    python bench/dense_eval.py [MODEL.onnx ...] [--sets seed,extra,public,calibration,FILE.jsonl]

For the shipped model and each given ONNX file (same tokenizer and pooling as the bot), ranks
every chunk by cosine to the question and prints, per question set, how often a right chunk is
first and in the top three. This isolates what fine-tuning changes in the model; the full
engine is measured by bench/quality.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.common import CALIBRATION, EVAL, EXTRA, PUBLIC_EVAL, is_right, load_questions
from bench.finetune import QUESTIONS, corpus_chunks
from bot.knowledge.embed import Encoder, embedding_text

SETS = {
    "seed": EVAL,
    "extra": EXTRA,
    "public": PUBLIC_EVAL,
    "calibration": CALIBRATION,
    "finetune": QUESTIONS,
}


def ranks(
    encoder: Encoder, chunks: list, matrix: np.ndarray, questions: list[dict]
) -> list[int | None]:
    """Rank (0-based) of the first right chunk for each answerable question."""
    vectors = encoder.encode([q["q"] for q in questions])
    out = []
    for q, v in zip(questions, vectors, strict=True):
        order = np.argsort(-(matrix @ v))
        right = [r for r, i in enumerate(order[:50]) if is_right(q, *chunks[i][1:])]
        out.append(right[0] if right else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--sets", default="seed,extra,public,calibration")
    args = parser.parse_args()
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    # A name of SETS, or the path of any question file (e.g. a held-out part of a set).
    sets = {
        n: [q for q in load_questions(SETS.get(n) or Path(n)) if q["kind"] != "none"] for n in names
    }
    with tempfile.TemporaryDirectory() as tmp:
        chunks = corpus_chunks(tmp)
    print(f"{len(chunks)} chunks")
    shown = [n if n in SETS else Path(n).stem for n in names]
    print(f"{'model':40}" + "".join(f"{n + ' first/hit@3':>26}" for n in shown))
    for model in [None, *args.models]:
        encoder = Encoder(path=model)
        # The chunks once per model, not once per question set: encoding them is the slow part.
        matrix = encoder.encode([embedding_text(t, s, x) for _, _, t, s, x in chunks])
        cells = []
        for n in names:
            found = ranks(encoder, chunks, matrix, sets[n])
            first = sum(r == 0 for r in found) / len(found)
            top3 = sum(r is not None and r < 3 for r in found) / len(found)
            cells.append(f"{first:.2f} / {top3:.2f} ({len(found)})")
        label = str(model) if model else "shipped"
        print(f"{label[-40:]:40}" + "".join(f"{c:>26}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
