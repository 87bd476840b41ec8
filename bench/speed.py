"""Answer latency on the seed corpus and on a synthetic corpus of 100,000 chunks.

    python bench/speed.py [--chunks 100000] [--sources 100] [--questions 300]

Synthetic chunks are stored in a real SQLite file, then indexed the way the bot does it
(Answerer.sync reads the store); build time, per-question p50/p99 and peak RSS are reported.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bench.common import load_questions, load_seeds, median, percentile
from bot.db.models import Chunk, Source
from bot.db.session import make_engine, session_factory, upgrade
from bot.knowledge.analysis import words
from bot.knowledge.service import Answerer


def timed_questions(answerer: Answerer, questions: list[str], repeat: int) -> list[float]:
    times = []
    for q in questions:
        for _ in range(repeat):
            t0 = time.perf_counter()
            answerer.index.search(q, limit=3)
            times.append((time.perf_counter() - t0) * 1000)
    return times


def seed_corpus(tmp: str, repeat: int) -> None:
    engine = make_engine(f"sqlite:///{tmp}/seed.db")
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        load_seeds(s)
    answerer = Answerer()
    with sessions() as s:
        answerer.sync(s)
    questions = [q["q"] for q in load_questions()]
    times = timed_questions(answerer, questions, repeat)
    print(
        f"seed corpus: {len(answerer.index)} chunks, {len(questions)} questions x {repeat}: "
        f"p50 {median(times):.2f} ms, p99 {percentile(times, 99):.2f} ms"
    )


def synthetic_vocabulary(rng: random.Random, size: int) -> list[str]:
    seed_words = sorted(
        {
            w
            for w in words(
                (Path(__file__).parent.parent / "bot/sample_data/devops-notes.md").read_text()
            )
            if w.isalpha()
        }
    )
    letters = "abcdefghijklmnopqrstuvwxyz"
    extra = {"".join(rng.choices(letters, k=rng.randint(4, 11))) for _ in range(size)}
    return seed_words + sorted(extra - set(seed_words))[: max(size - len(seed_words), 0)]


def synthetic_corpus(tmp: str, n_chunks: int, n_sources: int, n_questions: int) -> None:
    rng = random.Random(42)
    vocab = synthetic_vocabulary(rng, 60_000)
    # Zipf-like word frequencies, as in real text: a few words everywhere, most words rare.
    weights = list(accumulate(1.0 / (rank + 1) ** 1.07 for rank in range(len(vocab))))
    engine = make_engine(f"sqlite:///{tmp}/synthetic.db")
    upgrade(engine)
    sessions = session_factory(engine)
    t0 = time.perf_counter()
    per_source = n_chunks // n_sources
    with sessions.begin() as s:
        for sid in range(n_sources):
            source = Source(kind="notes", key=f"synthetic-{sid}.md", title=f"synthetic-{sid}.md")
            s.add(source)
            s.flush()
            rows = []
            for pos in range(per_source):
                body = rng.choices(vocab, cum_weights=weights, k=rng.randint(15, 70))
                rows.append(
                    {
                        "source_id": source.id,
                        "kind": "note",
                        "title": " ".join(body[:2]),
                        "section": f"Section {pos % 37} › Topic {pos % 11}",
                        "text": " ".join(body),
                        "position": pos,
                        "line_start": pos + 1,
                        "line_end": pos + 1,
                    }
                )
            s.execute(insert(Chunk), rows)
    store_s = time.perf_counter() - t0

    answerer = Answerer()
    t0 = time.perf_counter()
    with sessions() as s:
        answerer.sync(s)
    build_s = time.perf_counter() - t0

    questions = []
    for i in range(n_questions):
        picked = rng.choices(vocab, cum_weights=weights, k=rng.randint(2, 5))
        if i % 5 == 0:  # some questions carry a typo, exercising the fuzzy path
            w = picked[-1]
            if len(w) > 4:
                picked[-1] = w[:2] + w[3] + w[2] + w[4:]
        questions.append("how do I " + " ".join(picked))
    times = timed_questions(answerer, questions, 1)
    t0 = time.perf_counter()
    with sessions() as s:
        answerer.sync(s)  # nothing changed: the per-question freshness check alone
    check_ms = (time.perf_counter() - t0) * 1000
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"synthetic corpus: {len(answerer.index)} chunks in {n_sources} sources; "
        f"store insert {store_s:.1f} s; index build (sync from store) {build_s:.1f} s"
    )
    print(
        f"  {len(questions)} questions: p50 {median(times):.2f} ms, "
        f"p99 {percentile(times, 99):.2f} ms, max {max(times):.2f} ms; "
        f"freshness check {check_ms:.2f} ms; peak RSS {rss_mb:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per seed question")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seed_corpus(tmp, args.repeat)
        synthetic_corpus(tmp, args.chunks, args.sources, args.questions)


if __name__ == "__main__":
    main()
