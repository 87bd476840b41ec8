"""Check the labels of bench/calibration-questions.jsonl against the real chunks.

    python bench/check_calibration.py [--verbose] [--questions PATH] [--also-avoid PATH ...]

Builds the store the bot builds (public pages + seed notes and feeds, `build_store`), then for
every calibration question:

1. a `note` / `article` question has at least one right chunk (its labels match something);
2. it has at most MAX_RIGHT right answers (more: the labels are too vague to mean one answer);
   an answer is a chunk for notes and an article for articles (the bot splits an article into
   several chunks and `is_right` accepts them all, so they count once);
3. none of its right chunks is right for a question of the dev sets
   (shared/eval/dev-questions.jsonl, shared/eval/public-dev-questions.jsonl,
   bench/extra-questions.jsonl) or of a set given with `--also-avoid` (repeatable): the
   calibrator must not be fit on what they measure, and a fine-tuning set
   (bench/finetune-questions.jsonl, checked with `--also-avoid bench/calibration-questions.jsonl`)
   must not train on what the dev sets or the calibrator see;
4. no two questions have the same `q` (case and spacing ignored), and none has the `q` of a
   question in the dev sets or an `--also-avoid` set;
5. a `none` question has no `any` / `title` labels (its key terms are checked by grep when
   written, see calibration-questions.md);
6. no public-corpus page is the target of more than MAX_PER_PAGE questions.

A chunk that holds two or more other chunks of its note whole (a short section or a checklist,
indexed next to its bullets) counts for checks 2 and 3 only when a question has no other right
chunk: it holds several answers, so two questions matching it need not share an answer.

Also checks each question's shape (a `q`, a known `kind`, a non-empty label list of strings).
Prints one line per failure and a summary; exits 1 if anything failed. The dev questions are only
used to mark chunks as taken; their wording is never printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    CALIBRATION,
    EVAL,
    EXTRA,
    PUBLIC_EVAL,
    SEEDS,
    build_store,
    is_right,
    load_questions,
)

MAX_RIGHT = 5
MAX_PER_PAGE = 2
SHOW_CLASHES = 5  # per question, then a count
DEV_SETS = (EVAL, PUBLIC_EVAL, EXTRA)
KINDS = {"note": "any", "article": "title", "none": None}


def right_chunks(question: dict, chunks: list) -> list[int]:
    """Indexes of the chunks `is_right` accepts for this question."""
    if question.get("kind") not in ("note", "article"):
        return []
    return [
        i for i, c in enumerate(chunks) if is_right(question, c.kind, c.title, c.section, c.text)
    ]


def shape_problems(question: dict) -> list[str]:
    """What is wrong with a question's fields, before any matching."""
    kind = question.get("kind")
    if not isinstance(question.get("q"), str) or not question["q"].strip():
        return ["no question text"]
    if kind not in KINDS:
        return [f"unknown kind {kind!r}"]
    field = KINDS[kind]
    if field is None:
        extra = [k for k in ("any", "title") if k in question]
        return [f"a none question has labels: {', '.join(extra)}"] if extra else []
    labels = question.get(field)
    wrong = [k for k in ("any", "title") if k != field and k in question]
    if not isinstance(labels, list) or not labels:
        return [f"a {kind} question needs a non-empty `{field}` list"]
    if not all(isinstance(s, str) and s.strip() for s in labels):
        return [f"`{field}` holds an empty or non-string label"]
    return [f"a {kind} question has `{k}` labels" for k in wrong]


def containers(chunks: list) -> set[int]:
    """Indexes of the note chunks whose lines hold two or more other chunks of the same note."""
    by_source: dict[int, list[int]] = {}
    for i, c in enumerate(chunks):
        if c.kind == "note" and c.line_start is not None:
            by_source.setdefault(c.source_id, []).append(i)
    out: set[int] = set()
    for members in by_source.values():
        spans = [
            (chunks[i].line_start, chunks[i].line_end or chunks[i].line_start) for i in members
        ]
        for i, (start, end) in zip(members, spans, strict=True):
            inner = sum(1 for s, e in spans if start <= s and e <= end and (s, e) != (start, end))
            if inner >= 2:
                out.add(i)
    return out


def leaves(indexes: list[int], held: set[int]) -> list[int]:
    """The right chunks that are not containers, unless containers are all there is."""
    own = [i for i in indexes if i not in held]
    return own or indexes


def answers(indexes: list[int], chunks: list) -> set:
    """The distinct answers among these chunks: a note chunk, or a whole article."""
    return {
        ("article", chunks[i].article_id or chunks[i].title)
        if chunks[i].kind == "article"
        else ("chunk", i)
        for i in indexes
    }


def normalised(text: object) -> str:
    """A question's text for the duplicate check: case and spacing ignored."""
    return " ".join(str(text).lower().split())


def short(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--questions", type=Path, default=CALIBRATION)
    parser.add_argument(
        "--also-avoid",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="another question set whose right chunks (and texts) are taken like the dev sets'",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print every question's right-chunk count"
    )
    args = parser.parse_args()
    questions = load_questions(args.questions)
    for path in args.also_avoid:
        if not path.exists():
            parser.error(f"--also-avoid {path}: no such file")
        if path.resolve() == args.questions.resolve():
            parser.error(f"--also-avoid {path} is the set being checked")
    with tempfile.TemporaryDirectory() as tmp:
        _, answerer, _ = build_store(tmp, "public")
    chunks = answerer.index._snap.chunks
    held = containers(chunks)

    taken: dict[int, str] = {}  # chunk index → which avoided set counts it as right
    avoided_q: dict[str, str] = {}  # normalised `q` → which avoided set has it
    for path in (*DEV_SETS, *args.also_avoid):
        if not path.exists():
            print(f"warning: dev set {path} not found, not checked against", file=sys.stderr)
            continue
        for dev in load_questions(path):
            avoided_q.setdefault(normalised(dev.get("q", "")), path.name)
            for i in leaves(right_chunks(dev, chunks), held):
                taken.setdefault(i, path.name)

    seed_names = {md.name for md in SEEDS.glob("*.md")}
    per_page: dict[str, list[int]] = {}
    failures: list[str] = []
    counts: Counter[str] = Counter()
    seen: dict[str, int] = {}
    sizes: list[int] = []
    for line, q in enumerate(questions, 1):
        where = f"line {line}: {short(str(q.get('q', '')), 60)!r}"
        problems = shape_problems(q)
        malformed = bool(problems)
        key = normalised(q.get("q", ""))
        if key in seen:
            problems.append(f"duplicate of line {seen[key]}")
        else:
            seen[key] = line
        if key in avoided_q:
            problems.append(f"same question text as a question of {avoided_q[key]}")
        kind = q.get("kind")
        counts[str(kind)] += 1
        if kind in ("note", "article") and not malformed:
            right = leaves(right_chunks(q, chunks), held)
            n = len(answers(right, chunks))
            sizes.append(n)
            if args.verbose:
                print(f"  {n:3d} right ({len(right)} chunks)  {where}")
            if not right:
                problems.append("no right chunk (a label matches nothing)")
            elif n > MAX_RIGHT:
                sample = "; ".join(short(chunks[i].text, 40) for i in right[:3])
                problems.append(f"{n} right answers (> {MAX_RIGHT}, too vague): {sample}")
            for page in {chunks[i].source_name for i in right if chunks[i].kind == "note"}:
                if page not in seed_names:
                    per_page.setdefault(page, []).append(line)
            clash = [i for i in right if i in taken]
            for i in clash[:SHOW_CLASHES]:
                c = chunks[i]
                problems.append(
                    f"right chunk also right for {taken[i]}: [{c.title} / {short(c.section, 30)}] "
                    f"{short(c.text, 50)!r}"
                )
            if len(clash) > SHOW_CLASHES:
                problems.append(f"... and {len(clash) - SHOW_CLASHES} more right for a dev set")
        failures.extend(f"{where}: {p}" for p in problems)

    for page, lines in sorted(per_page.items()):
        if len(lines) > MAX_PER_PAGE:
            failures.append(
                f"public page {page} is the target of {len(lines)} questions "
                f"(> {MAX_PER_PAGE}): lines {', '.join(map(str, lines))}"
            )
    avoided_names = "a dev set" + "".join(f" or {p.name}" for p in args.also_avoid)
    print(
        f"{len(questions)} questions ({', '.join(f'{k} {n}' for k, n in sorted(counts.items()))}) "
        f"over {len(chunks)} chunks; {len(taken)} chunks are right for a question of "
        f"{avoided_names}; "
        f"{len(per_page)} public pages targeted"
    )
    if sizes:
        spread = Counter(min(n, MAX_RIGHT + 1) for n in sizes)
        print(
            "right answers (note chunks / articles) per labelled question: "
            + ", ".join(
                f"{'>' + str(MAX_RIGHT) if n > MAX_RIGHT else n}: {spread[n]}"
                for n in sorted(spread)
            )
        )
    if failures:
        print(f"FAILED: {len(failures)} problem(s)")
        for f in failures:
            print(f"  {f}")
        return 1
    print(
        f"OK: every labelled question has 1..{MAX_RIGHT} right answers, none of them right for a "
        f"question of {avoided_names}; at most {MAX_PER_PAGE} questions per public page; "
        "no duplicates"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
