"""Answer latency, index load time, memory and ingest throughput.

    python bench/speed.py                       # every scenario below, each in its own process
    python bench/speed.py --scenario 100k       # one of: seed, 10k, 100k, ingest, cold

- seed: the seed corpus, full question path (question encoding + fused search), p50/p99.
- 10k / 100k: synthetic chunks (Zipf-distributed words) spread over 1,000 sources, stored in a
  real SQLite file together with their embeddings (random unit vectors: the index does not care
  what they mean, only how many there are), then loaded the way the bot starts: index load time,
  peak RSS, question p50/p99 with real question encoding.
- ingest: on the 10k store, 500 new sources (3,000 new chunk texts) are stored and a background
  refresh encodes and indexes them while questions keep coming: question p99 during the ingest,
  and the ingest's encoding throughput (chunks/s).
- cold: `devopsbot ask` as a fresh process on the sample store, wall time (median of runs).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sqlalchemy import insert

from bench.common import build_store, load_questions, median, percentile
from bot.chunks import chunk_text_hash
from bot.db.models import Chunk, ChunkEmbedding, Source
from bot.db.session import make_engine, session_factory, upgrade
from bot.knowledge.analysis import words
from bot.knowledge.embed import DIM, MODEL_ID, Encoder, to_bytes
from bot.knowledge.service import Answerer

REPO = Path(__file__).resolve().parent.parent


ENCODE_MS: list[float] = []


def ask_times(answerer: Answerer, questions: list[str]) -> list[float]:
    """Milliseconds per question for the whole path: encode the question, then search."""
    times = []
    for q in questions:
        answerer.forget_questions()  # no cache: every question is encoded
        t0 = time.perf_counter()
        vector = answerer.query_vector(q)
        t1 = time.perf_counter()
        answerer.index.search(q, limit=3, query_vector=vector)
        times.append((time.perf_counter() - t0) * 1000)
        ENCODE_MS.append((t1 - t0) * 1000)
    return times


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(label: str, times: list[float], encode: list[float] | None = None) -> None:
    encode = ENCODE_MS[-len(times) :] if encode is None else encode
    print(
        f"  {label}: {len(times)} questions, p50 {median(times):.2f} ms, "
        f"p99 {percentile(times, 99):.2f} ms, max {max(times):.2f} ms "
        f"(of which question encoding p50 {median(encode):.2f} ms)"
    )


def seed_scenario(tmp: str) -> None:
    _, answerer, built = build_store(tmp, "seed")
    questions = [q["q"] for q in load_questions()] * 5
    answerer.question_vector("warm up")
    print(f"seed corpus: {len(answerer.index)} chunks, index built in {built:.2f} s")
    report("questions", ask_times(answerer, questions))


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    notes = (REPO / "bot/sample_data/devops-notes.md").read_text()
    seed_words = sorted({w for w in words(notes) if w.isalpha()})
    letters = "abcdefghijklmnopqrstuvwxyz"
    extra = {"".join(rng.choices(letters, k=rng.randint(4, 11))) for _ in range(size)}
    return seed_words + sorted(extra - set(seed_words))[: max(size - len(seed_words), 0)]


class Synthetic:
    """Random chunk texts with Zipf-like word frequencies, as in real text."""

    def __init__(self, seed: int = 42) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.vocab = _vocabulary(self.rng, 60_000)
        self.weights = list(accumulate(1.0 / (r + 1) ** 1.07 for r in range(len(self.vocab))))

    def text(self, lo: int = 15, hi: int = 70) -> list[str]:
        return self.rng.choices(self.vocab, cum_weights=self.weights, k=self.rng.randint(lo, hi))

    def questions(self, n: int) -> list[str]:
        out = []
        for i in range(n):
            picked = self.text(2, 5)
            if i % 5 == 0 and len(picked[-1]) > 4:  # a typo, exercising the fuzzy path
                w = picked[-1]
                picked[-1] = w[:2] + w[3] + w[2] + w[4:]
            out.append("how do I " + " ".join(picked))
        return out

    def store(self, sessions, n_chunks: int, n_sources: int, prefix: str, vectors: bool) -> None:
        per_source = n_chunks // n_sources
        with sessions.begin() as s:
            for sid in range(n_sources):
                source = Source(kind="notes", key=f"{prefix}-{sid}.md", title=f"{prefix}-{sid}.md")
                s.add(source)
                s.flush()
                rows, vecs = [], []
                for pos in range(per_source):
                    body = self.text()
                    title, section, text = " ".join(body[:2]), f"Section {pos % 37}", " ".join(body)
                    h = chunk_text_hash(title, section, text)
                    rows.append(
                        {
                            "source_id": source.id,
                            "kind": "note",
                            "title": title,
                            "section": section,
                            "text": text,
                            "position": pos,
                            "line_start": pos + 1,
                            "line_end": pos + 1,
                            "text_hash": h,
                        }
                    )
                    if vectors:
                        v = self.np_rng.standard_normal(DIM).astype(np.float32)
                        vecs.append(
                            {
                                "model": MODEL_ID,
                                "text_hash": h,
                                "vector": to_bytes(v / np.linalg.norm(v)),
                            }
                        )
                s.execute(insert(Chunk), rows)
                if vecs:
                    s.execute(insert(ChunkEmbedding), vecs)


def synthetic_scenario(tmp: str, n_chunks: int, n_sources: int, n_questions: int) -> None:
    engine = make_engine(f"sqlite:///{tmp}/synthetic.db")
    upgrade(engine)
    sessions = session_factory(engine)
    synth = Synthetic()
    t0 = time.perf_counter()
    synth.store(sessions, n_chunks, n_sources, "synthetic", vectors=True)
    store_s = time.perf_counter() - t0
    before = rss_mb()
    answerer = Answerer()
    t0 = time.perf_counter()
    with sessions() as s:
        answerer.sync(s)
    load_s = time.perf_counter() - t0
    load_rss = rss_mb()
    answerer.question_vector("warm up")
    times = ask_times(answerer, synth.questions(n_questions))
    t0 = time.perf_counter()
    with sessions() as s:
        stale = answerer.stale(s)
    check_ms = (time.perf_counter() - t0) * 1000
    print(
        f"synthetic: {len(answerer.index)} chunks in {n_sources} sources "
        f"(stored with embeddings in "
        f"{store_s:.1f} s); index load from the store {load_s:.2f} s; peak RSS {load_rss:.0f} MB "
        f"after load ({before:.0f} MB before), {rss_mb():.0f} MB after questions"
    )
    encode = ENCODE_MS[-len(times) :]
    report("questions", times, encode)
    # Synthetic.questions puts a typo in every fifth question: the typo-correction path.
    report("of them with a typo", times[::5], encode[::5])
    print(f"  freshness check {check_ms:.2f} ms (stale: {stale})")
    # A pasted wall of text at Slack's message limit, every word unknown to the index.
    letters = "abcdefghijklmnopqrstuvwxyz"
    wall = " ".join(
        "".join(synth.rng.choices(letters, k=synth.rng.randint(4, 9))) for _ in range(6_000)
    )[:40_000]
    wall_ms = ask_times(answerer, [wall])[0]
    print(f"  a 40,000-character question of unknown words: {wall_ms:.0f} ms")


def ingest_scenario(tmp: str) -> None:
    engine = make_engine(f"sqlite:///{tmp}/ingest.db")
    upgrade(engine)
    sessions = session_factory(engine)
    synth = Synthetic()
    synth.store(sessions, 10_000, 1_000, "synthetic", vectors=True)
    answerer = Answerer()
    with sessions() as s:
        answerer.sync(s)
    answerer.question_vector("warm up")
    # Enough for every question to be new: a repeated one would find its typo corrections
    # already made, which real traffic does not promise.
    questions = synth.questions(30_000)
    quiet = ask_times(answerer, questions[:200])
    texts = [" ".join(synth.text()) for _ in range(300)]
    for label, encoder in (("1 thread", Encoder(threads=1)), ("all cores", Encoder())):
        encoder.encode(["warm up"])
        t0 = time.perf_counter()
        encoder.encode(texts)
        rate = len(texts) / (time.perf_counter() - t0)
        print(f"  encoding throughput alone ({label}): {rate:.0f} chunk texts/s")
    # 500 new sources arrive (as after a cold poll of 500 feeds): 3,000 texts to encode.
    synth.store(sessions, 3_000, 500, "new", vectors=False)
    t0 = time.perf_counter()
    assert answerer.refresh_in_background(sessions)
    during: list[float] = []
    i = 200
    while answerer.refreshing():
        during.extend(ask_times(answerer, [questions[i % len(questions)]]))
        i += 1
    ingest_s = time.perf_counter() - t0
    print("ingest: 10,000 chunks indexed; 500 new sources with 3,000 new chunk texts")
    report("questions before the ingest", quiet)
    report("questions during the ingest", during)
    print(
        f"  ingest (encode + store vectors + swap in the new index): {ingest_s:.1f} s, "
        f"{3000 / ingest_s:.0f} chunks/s; index now {len(answerer.index)} chunks"
    )


def cold_scenario(tmp: str, runs: int = 7) -> None:
    env = dict(os.environ, DEVOPSBOT_DATABASE_URL=f"sqlite:///{tmp}/cold.db")
    cmd = [sys.executable, "-m", "bot", "ask", "how do I tail multiple pods"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # first run loads the sample
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
    assert "stern" in out.stdout, out.stdout
    print(
        f"cold `devopsbot ask` on the sample store: median {median(times):.3f} s wall, "
        f"min {min(times):.3f} s, max {max(times):.3f} s over {runs} runs"
    )


SCENARIOS = {
    "seed": seed_scenario,
    "10k": lambda tmp: synthetic_scenario(tmp, 10_000, 1_000, 300),
    "100k": lambda tmp: synthetic_scenario(tmp, 100_000, 1_000, 300),
    "ingest": ingest_scenario,
    "cold": cold_scenario,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args()
    if args.scenario is None:
        for name in ("seed", "cold", "10k", "100k", "ingest"):
            # A process per scenario, so each peak RSS is its own.
            subprocess.run([sys.executable, __file__, "--scenario", name], check=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        SCENARIOS[args.scenario](tmp)


if __name__ == "__main__":
    main()
