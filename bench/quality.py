"""Answer quality and latency on every question set, side by side with three baselines over the
same chunks: SQLite FTS5 (porter, bm25), bm25s, and the embedding model alone.

    pip install -e '.[bench]'
    python bench/quality.py [--sets seed,extra,public,calibration] [--repeat N] [--verbose]
                            [--saved-notes N] [--notes PATH ... --questions FILE]

Sets: `seed` (../shared/eval/dev-questions.jsonl over the seed notes and feeds), `extra`
(bench/extra-questions.jsonl, same corpus), `public` (../shared/eval/public-dev-questions.jsonl
over the 689 public pages loaded with the seeds), `calibration` (bench/calibration-questions.jsonl,
the set the answer calibrator is fit on: a training-fit figure, not a held-out one).
`--saved-notes 200` adds 200 notes saved from Slack about the team's own services
(bench/team_notes.py) to every store: they must not push the right answers down.

Your own notes: `--notes PATH [--notes PATH ...] --questions FILE` adds a set `notes` over a
store holding only those Markdown files and folders (questions in the eval README's format).
`bench/other-notes.md` uses it for notes nobody tuned the engine on.
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

import numpy as np

from bench.common import (
    CALIBRATION,
    EVAL,
    EXTRA,
    PUBLIC_EVAL,
    build_store,
    is_right,
    load_questions,
    median,
    percentile,
)
from bot.knowledge.analysis import STOP_WORDS, words
from bot.knowledge.index import IndexedChunk
from bot.knowledge.service import Answerer

SETS = {
    "seed": (EVAL, "seed"),
    "extra": (EXTRA, "seed"),
    "public": (PUBLIC_EVAL, "public"),
    "calibration": (CALIBRATION, "public"),
}
# The embedding model alone answers when the best cosine reaches this (a fixed, untuned cut).
DENSE_ANSWER_COSINE = 0.5
SYSTEMS = ("devopsbot", "fts5", "bm25s", "minilm")
Ranked = list[IndexedChunk]


def score(questions: list[dict], ranked: list[Ranked], answered: list[bool]) -> dict:
    hit1 = first = hit3 = 0
    rr = 0.0
    answerable = none_ok = none_total = answered_n = answered_right = 0
    misses = []
    for q, hits, ans in zip(questions, ranked, answered, strict=True):
        right = [is_right(q, c.kind, c.title, c.section, c.text) for c in hits]
        if ans:
            answered_n += 1
            answered_right += bool(right and right[0])
        if q["kind"] == "none":
            none_total += 1
            none_ok += not ans
            if ans:
                misses.append(f"(answered off-topic) {q['q']}")
            continue
        answerable += 1
        ranks = [i for i, ok in enumerate(right) if ok]
        if ranks:
            rr += 1 / (ranks[0] + 1)
            first += ranks[0] == 0
            hit3 += ranks[0] < 3
        # The eval README's hit@1: the right answer first *and* answered.
        hit1 += bool(ranks) and ranks[0] == 0 and ans
        if not ranks or ranks[0] != 0:
            misses.append(q["q"])
        elif not ans:
            misses.append(f"(right first, not answered) {q['q']}")
    return {
        "hit@1": round(hit1 / max(answerable, 1), 3),
        "first": round(first / max(answerable, 1), 3),
        "hit@3": round(hit3 / max(answerable, 1), 3),
        "mrr": round(rr / max(answerable, 1), 3),
        "off_topic_unanswered": f"{none_ok}/{none_total}",
        "answered_precision": round(answered_right / answered_n, 3) if answered_n else None,
        "answered": f"{answered_n}/{len(questions)}",
        "misses": misses,
    }


def run_devopsbot(answerer: Answerer, questions: list[dict], repeat: int, verbose: bool):
    ranked, answered, times = [], [], []
    for q in questions:
        result = None
        for i in range(repeat):
            if i:
                answerer.forget_questions()  # time the encoding too, not the question cache
            t0 = time.perf_counter()
            vector = answerer.query_vector(q["q"])
            result = answerer.index.search(q["q"], limit=3, query_vector=vector)
            times.append((time.perf_counter() - t0) * 1000)
        assert result is not None
        ranked.append([h.chunk for h in result.hits])
        answered.append(result.answered)
        if verbose:
            ok = bool(result.hits) and is_right(q, *_fields(result.hits[0].chunk))
            mark = "ok " if ok or (q["kind"] == "none" and not result.answered) else "XX "
            print(f"{mark}{'ans' if result.answered else '---'} {q['q']!r}")
            for h in result.hits:
                c = h.chunk
                print(f"       {h.score:.3f} {c.title[:40]!r} | {c.text[:70]!r}")
    return ranked, answered, times


def _fields(c: IndexedChunk) -> tuple[str, str, str, str]:
    return c.kind, c.title, c.section, c.text


def _tokens(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP_WORDS and w.isalnum()]


def run_fts5(chunks: list[IndexedChunk], questions: list[dict], repeat: int):
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE fts USING fts5("
        "cid UNINDEXED, title, section, text, tokenize='porter')"
    )
    db.executemany(
        "INSERT INTO fts VALUES (?, ?, ?, ?)",
        [(i, c.title, c.section, c.text) for i, c in enumerate(chunks)],
    )
    ranked, answered, times = [], [], []
    for q in questions:
        match = " OR ".join(f'"{t}"' for t in _tokens(q["q"]))
        rows: list = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            sql = "SELECT cid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT 3"
            rows = db.execute(sql, (match,)).fetchall() if match else []
            times.append((time.perf_counter() - t0) * 1000)
        ranked.append([chunks[r[0]] for r in rows])
        answered.append(bool(rows))
    return ranked, answered, times


def run_bm25s(chunks: list[IndexedChunk], questions: list[dict], repeat: int):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    corpus = [f"{c.title}\n{c.section}\n{c.text}" for c in chunks]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    ranked, answered, times = [], [], []
    for q in questions:
        docs: list[int] = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            tokens = bm25s.tokenize([q["q"]], stopwords="en", stemmer=stemmer, show_progress=False)
            docs = []
            if tokens.vocab:
                res, scores = retriever.retrieve(tokens, k=3, show_progress=False)
                docs = [int(d) for d, s in zip(res[0], scores[0], strict=True) if s > 0]
            times.append((time.perf_counter() - t0) * 1000)
        ranked.append([chunks[d] for d in docs])
        answered.append(bool(docs))
    return ranked, answered, times


def run_minilm(
    answerer: Answerer,
    chunks: list[IndexedChunk],
    matrix: np.ndarray,
    questions: list[dict],
    repeat: int,
):
    ranked, answered, times = [], [], []
    for q in questions:
        top = np.zeros(0, dtype=np.int64)
        sims = np.zeros(0)
        for _ in range(repeat):
            answerer.forget_questions()
            t0 = time.perf_counter()
            vector = answerer.question_vector(q["q"])
            sims = matrix @ vector
            top = np.argsort(-sims)[:3]
            times.append((time.perf_counter() - t0) * 1000)
        ranked.append([chunks[i] for i in top])
        answered.append(bool(len(top)) and float(sims[top[0]]) >= DENSE_ANSWER_COSINE)
    return ranked, answered, times


def evaluate(
    name: str, answerer: Answerer, questions: list[dict], repeat: int, verbose: bool
) -> dict:
    chunks, matrix = answerer.index.snapshot_vectors()
    results = {}
    runs = {
        "devopsbot": lambda: run_devopsbot(answerer, questions, repeat, verbose),
        "fts5": lambda: run_fts5(chunks, questions, repeat),
        "bm25s": lambda: run_bm25s(chunks, questions, repeat),
        "minilm": lambda: run_minilm(answerer, chunks, matrix, questions, repeat),
    }
    for system, run in runs.items():
        ranked, answered, times = run()
        res = score(questions, ranked, answered)
        res.update(p50_ms=round(median(times), 3), p99_ms=round(percentile(times, 99), 3))
        results[system] = res
    answerable = sum(q["kind"] != "none" for q in questions)
    print(
        f"\n## {name}: {len(questions)} questions ({answerable} answerable), {len(chunks)} chunks"
    )
    print(f"{'metric':22}" + "".join(f"{s:>12}" for s in SYSTEMS))
    for key in (
        "hit@1",
        "first",
        "hit@3",
        "mrr",
        "off_topic_unanswered",
        "answered_precision",
        "answered",
        "p50_ms",
        "p99_ms",
    ):
        print(f"{key:22}" + "".join(f"{results[s][key]!s:>12}" for s in SYSTEMS))
    print("misses (devopsbot):", results["devopsbot"]["misses"] or "none")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sets", help="default: seed,extra,public,calibration; notes with --notes")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per question")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--saved-notes",
        type=int,
        default=0,
        metavar="N",
        help="add N notes saved from Slack (bench/team_notes.py) to every store",
    )
    parser.add_argument(
        "--notes",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a Markdown file or folder for the `notes` set (repeatable)",
    )
    parser.add_argument("--questions", type=Path, help="the questions of the `notes` set")
    args = parser.parse_args()
    if bool(args.notes) != bool(args.questions):
        parser.error("--notes and --questions go together")
    sets = dict(SETS)
    if args.notes:
        sets["notes"] = (args.questions, "notes")
    args.sets = args.sets or ("notes" if args.notes else ",".join(SETS))
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [n for n in names if n not in sets]
    if unknown:
        parser.error(f"unknown set {', '.join(unknown)}; known: {', '.join(sets)}")
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[str, Answerer] = {}
        for name in names:
            path, corpus = sets[name]
            if corpus not in stores:
                _, answerer, built = build_store(tmp, corpus, args.saved_notes, args.notes)
                print(f"{corpus} store: {len(answerer.index)} chunks, index built in {built:.1f} s")
                stores[corpus] = answerer
            out[name] = evaluate(
                name, stores[corpus], load_questions(path), args.repeat, args.verbose
            )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    name = f"quality-saved{args.saved_notes}.json" if args.saved_notes else "quality.json"
    if args.notes:
        name = f"quality-{args.questions.stem}.json"
    (results / name).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
