"""Answer quality and latency on the dev question set, next to a SQLite FTS5 BM25 baseline.

python bench/quality.py [--questions FILE] [--repeat N] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench.common import EVAL, is_right, load_questions, load_seeds, median, percentile
from bot.db.models import Chunk
from bot.db.session import make_engine, session_factory, upgrade
from bot.knowledge.analysis import STOP_WORDS, words
from bot.knowledge.service import Answerer


def score(
    questions: list[dict], ranked: list[list[tuple[str, str, str, str]]], answered: list[bool]
):
    hit1 = hit3 = 0
    rr = 0.0
    answerable = none_ok = none_total = 0
    misses = []
    for q, hits, ans in zip(questions, ranked, answered, strict=True):
        if q["kind"] == "none":
            none_total += 1
            none_ok += not ans
            continue
        answerable += 1
        ranks = [i for i, h in enumerate(hits) if is_right(q, *h)]
        if ranks:
            rr += 1 / (ranks[0] + 1)
            hit1 += ranks[0] == 0
            hit3 += ranks[0] < 3
        if not ranks or ranks[0] != 0:
            misses.append(q["q"])
    return {
        "hit@1": round(hit1 / answerable, 3),
        "hit@3": round(hit3 / answerable, 3),
        "mrr": round(rr / answerable, 3),
        "off_topic_unanswered": f"{none_ok}/{none_total}",
        "answered_when_answerable": None,
        "misses": misses,
    }


def fts5_baseline(chunks: list[Chunk], questions: list[dict], repeat: int):
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE fts USING fts5("
        "cid UNINDEXED, title, section, text, tokenize='porter')"
    )
    db.executemany(
        "INSERT INTO fts VALUES (?, ?, ?, ?)", [(c.id, c.title, c.section, c.text) for c in chunks]
    )
    by_id = {c.id: c for c in chunks}
    ranked, answered, times = [], [], []
    for q in questions:
        toks = [w for w in words(q["q"]) if w not in STOP_WORDS and w.isalnum()]
        match = " OR ".join(f'"{t}"' for t in toks)
        rows: list = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows = (
                db.execute(
                    "SELECT cid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT 3", (match,)
                ).fetchall()
                if match
                else []
            )
            times.append((time.perf_counter() - t0) * 1000)
        hits = [by_id[r[0]] for r in rows]
        ranked.append([(c.kind, c.title, c.section, c.text) for c in hits])
        answered.append(bool(hits))
    return ranked, answered, times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--questions", type=Path, default=EVAL)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per question")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    questions = load_questions(args.questions)

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            load_seeds(session)
        answerer = Answerer()
        with sessions() as session:
            t0 = time.perf_counter()
            answerer.sync(session)
            build_ms = (time.perf_counter() - t0) * 1000
            chunks = list(session.scalars(select(Chunk)))
        ranked, answered, times = [], [], []
        for q in questions:
            result = None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                result = answerer.index.search(q["q"], limit=3)
                times.append((time.perf_counter() - t0) * 1000)
            assert result is not None
            ranked.append(
                [(h.chunk.kind, h.chunk.title, h.chunk.section, h.chunk.text) for h in result.hits]
            )
            answered.append(result.answered)
            if args.verbose:
                print(f"{'ans' if result.answered else '---'} {q['q']!r}")
                for h in result.hits:
                    c = h.chunk
                    print(f"     {h.score:.3f} {c.kind:7} {c.title[:50]!r} | {c.text[:60]!r}")
        ours = score(questions, ranked, answered)
        ours.update(p50_ms=round(median(times), 3), p99_ms=round(percentile(times, 99), 3))
        answerable = [a for q, a in zip(questions, answered, strict=True) if q["kind"] != "none"]
        ours["answered_when_answerable"] = f"{sum(answerable)}/{len(answerable)}"

        f_ranked, f_answered, f_times = fts5_baseline(chunks, questions, args.repeat)
        base = score(questions, f_ranked, f_answered)
        base.update(p50_ms=round(median(f_times), 3), p99_ms=round(percentile(f_times, 99), 3))
        f_ans = [a for q, a in zip(questions, f_answered, strict=True) if q["kind"] != "none"]
        base["answered_when_answerable"] = f"{sum(f_ans)}/{len(f_ans)}"

    print(
        f"corpus: {len(chunks)} chunks, index build {build_ms:.0f} ms; {len(questions)} questions"
    )
    print(f"{'metric':28} {'devopsbot':>12} {'FTS5 bm25':>12}")
    for key in (
        "hit@1",
        "hit@3",
        "mrr",
        "off_topic_unanswered",
        "answered_when_answerable",
        "p50_ms",
        "p99_ms",
    ):
        print(f"{key:28} {ours[key]!s:>12} {base[key]!s:>12}")
    print(f"{'p50 ratio (ours/fts5)':28} {ours['p50_ms'] / base['p50_ms']:>12.2f}")
    print("misses (devopsbot):", ours["misses"] or "none")
    print("misses (fts5):", base["misses"] or "none")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "quality.json").write_text(json.dumps({"devopsbot": ours, "fts5": base}, indent=2))


if __name__ == "__main__":
    main()
