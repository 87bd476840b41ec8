"""Fit the answer calibrator (bot/knowledge/calibration.json) on bench/calibration-questions.jsonl.

    python bench/calibrate.py [--target-precision 0.95 | --cost 4] [--splits 3] [--dry-run]

For every labelled question the real index (public pages + seed notes and feeds, embedded)
proposes its fused candidate pool; each candidate is a row of signals labelled 1 when it is a
right answer. An L2-regularised logistic regression over those rows gives P(right), which ranks
candidates and decides "answered". The threshold is the lowest probability at which the
top answers of the calibration questions reach the target precision (0.95: "an answered question
is right at least 95% of the time") in 5-fold cross-validation, so it is not chosen on the same
rows the weights were fit on. The precision must hold in each corpus on its own (questions about
the public command pages, and about the team's notes and feeds), since a pooled figure lets the
easy corpus hide the hard one; and over several random fold splits, since one split moves the
threshold by ±0.05. `--cost C` instead picks the best utility when a wrong stated answer costs C
right ones.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.common import CALIBRATION, PUBLIC_CORPUS, build_store, is_right, load_questions
from bot.knowledge.calibration import ANSWER_FEATURES, FEATURES, Calibration, answer_features
from bot.knowledge.embed import MODEL_ID
from bot.knowledge.index import distinct, evidence

OUT = Path(__file__).resolve().parent.parent / "bot" / "knowledge" / "calibration.json"
L2 = 1.0


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """Newton's method on the L2-penalised log loss (the bias is not penalised)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


def question_rows(
    answerer, questions: list[dict]
) -> list[tuple[np.ndarray, np.ndarray, list, dict, dict]]:
    """Per question: its candidates' feature rows, their labels, (signals, chunk) pairs, the
    question, the candidates' embeddings by chunk id."""
    out = []
    for q in questions:
        vector = answerer.query_vector(q["q"])
        found, vectors = answerer.index.candidates(q["q"], vector)
        x = np.array([sig.vector() for sig, _ in found]).reshape(len(found), len(FEATURES))
        y = np.array(
            [
                float(q["kind"] != "none" and is_right(q, c.kind, c.title, c.section, c.text))
                for _, c in found
            ]
        )
        out.append((x, y, found, q, vectors))
    return out


def answer_rows(rows, weights: np.ndarray, bias: float) -> tuple[np.ndarray, np.ndarray]:
    """Question-level features of the ranker's best distinct candidates, as the index computes
    them when it answers, and whether the best is right."""
    xs, ys = [], []
    for x, y, found, _, vectors in rows:
        if not len(x):
            xs.append(np.zeros(len(ANSWER_FEATURES)))
            ys.append(0.0)
            continue
        p = 1 / (1 + np.exp(-np.clip(x @ weights + bias, -30, 30)))
        label = {id(chunk): y[i] for i, (_, chunk) in enumerate(found)}
        order = sorted(range(len(found)), key=lambda i: (-p[i], found[i][1].id))
        ranked = [(float(p[i]), found[i][0], found[i][1]) for i in order]
        chosen = distinct(ranked, 2)
        p_top, top, top_chunk = chosen[0]
        p_second, second, _ = chosen[1] if len(chosen) > 1 else (0.0, top, None)
        xs.append(answer_features(p_top, p_second, top, second, evidence(ranked, chosen, vectors)))
        ys.append(float(label[id(top_chunk)]))
    return np.array(xs), np.array(ys)


def fit(rows) -> Calibration:
    """Both models on these questions (threshold left at 0.5; chosen by cross-validation)."""
    usable = [r for r in rows if len(r[0])]
    weights, bias = fit_logistic(
        np.vstack([r[0] for r in usable]), np.concatenate([r[1] for r in usable])
    )
    ax, ay = answer_rows(rows, weights, bias)
    aw, ab = fit_logistic(ax, ay)
    return Calibration(tuple(map(float, weights)), bias, 0.5, tuple(map(float, aw)), ab)


def top_outcomes(rows, cal: Calibration) -> list[tuple[float, bool]]:
    """(answer probability, whether the top candidate is right) per question."""
    ax, ay = answer_rows(rows, np.asarray(cal.weights), cal.bias)
    z = ax @ np.asarray(cal.answer_weights) + cal.answer_bias
    return [(float(p), bool(r)) for p, r in zip(1 / (1 + np.exp(-z)), ay, strict=True)]


# A corpus needs this many stated answers (summed over the splits) before its precision counts:
# one lucky or unlucky answer says nothing.
MIN_STATED = 10


def stated(
    outcomes: list[tuple[float, bool]], groups: list[str], t: float, group: str | None = None
) -> list[bool]:
    """Whether each answer stated at threshold `t` is right, within `group` (None: all)."""
    return [
        right
        for (p, right), g in zip(outcomes, groups, strict=True)
        if p >= t and group in (None, g)
    ]


def threshold_for(
    outcomes: list[tuple[float, bool]], target: float, groups: list[str] | None = None
) -> float:
    """Lowest threshold at which the answered questions are right at least `target` of the time,
    overall and within every group (a corpus) with enough stated answers."""
    groups = groups or ["all"] * len(outcomes)
    names = sorted(set(groups) - {"none", "unreachable"})
    for t in np.arange(0.05, 0.99, 0.01):
        answered = stated(outcomes, groups, t)
        if not answered or sum(answered) / len(answered) < target:
            continue
        within = [stated(outcomes, groups, t, name) for name in names]
        if all(len(a) < MIN_STATED or sum(a) / len(a) >= target for a in within):
            return float(round(t, 2))
    return 0.99


def corpus_of(row) -> str:
    """Which corpus a labelled question is about: "public" (the command pages), "team" (the
    notes and feeds), "none" (off-topic) or "unreachable" (no right chunk among its candidates:
    always a wrong answer, counted only in the overall precision)."""
    _, y, found, q, _ = row
    if q["kind"] == "none":
        return "none"
    for (_, chunk), right in zip(found, y, strict=True):
        if right:
            return "public" if chunk.source_name in _public_pages() else "team"
    return "unreachable"


@cache
def _public_pages() -> frozenset[str]:
    return frozenset(p.name for p in PUBLIC_CORPUS.rglob("*.md"))


def threshold_by_cost(outcomes: list[tuple[float, bool]], cost: float) -> float:
    """The threshold that maximises right answers minus `cost` × wrong ones.

    Every question gets its nearest matches either way; "answered" only decides whether the
    bot states one as the answer. A wrong stated answer costs `cost` times what a right one
    gains (a confident wrong answer is what makes people stop trusting the bot).
    """
    best_t, best_u = 0.99, 0.0
    for t in np.arange(0.05, 0.99, 0.01):
        answered = [right for p, right in outcomes if p >= t]
        utility = sum(answered) - cost * (len(answered) - sum(answered))
        if utility > best_u:
            best_t, best_u = float(round(t, 2)), utility
    return best_t


def print_curve(outcomes: list[tuple[float, bool]], groups: list[str], splits: int) -> None:
    """Cross-validated precision and stated answers (per split) at a few thresholds, overall
    and per corpus."""
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        line = f"  t={t:.2f}:"
        for name in ("all", "public", "team"):
            answered = stated(outcomes, groups, t, None if name == "all" else name)
            precision = sum(answered) / len(answered) if answered else float("nan")
            line += f"  {name} {len(answered) / splits:5.1f} stated, precision {precision:.3f};"
        off = len(stated(outcomes, groups, t, "none"))
        print(f"{line}  off-topic {off / splits:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    rule = parser.add_mutually_exclusive_group()
    rule.add_argument(
        "--target-precision",
        type=float,
        default=0.95,
        help="the lowest threshold whose cross-validated precision reaches this (default 0.95)",
    )
    rule.add_argument(
        "--cost",
        type=float,
        default=None,
        help="instead: how many right answers one wrong stated answer costs (best utility)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--splits", type=int, default=3, help="random fold splits the outcomes are pooled over"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print, do not write calibration.json"
    )
    args = parser.parse_args()
    questions = load_questions(CALIBRATION)
    with tempfile.TemporaryDirectory() as tmp:
        _, answerer, _ = build_store(tmp, "public")
        rows = question_rows(answerer, questions)

    # Cross-validated outcomes choose the threshold; the final weights use every question.
    corpora = [corpus_of(r) for r in rows]
    held_out: list[tuple[float, bool]] = []
    held_groups: list[str] = []
    for split in range(args.splits):
        fold = np.random.default_rng(7 + split).permutation(len(rows)) % args.folds
        for k in range(args.folds):
            train = [r for r, f in zip(rows, fold, strict=True) if f != k]
            test = [r for r, f in zip(rows, fold, strict=True) if f == k]
            held_out.extend(top_outcomes(test, fit(train)))
            held_groups.extend(g for g, f in zip(corpora, fold, strict=True) if f == k)
    if args.cost is not None:
        threshold = threshold_by_cost(held_out, args.cost)
        rule = f"best cross-validated utility, a wrong answer costing {args.cost} right ones"
    else:
        threshold = threshold_for(held_out, args.target_precision, held_groups)
        rule = (
            f"lowest threshold with cross-validated precision >= {args.target_precision} "
            f"overall and on each corpus ({args.splits} splits of {args.folds} folds)"
        )
    print_curve(held_out, held_groups, args.splits)
    final = fit(rows)
    calibration = Calibration(
        final.weights, final.bias, threshold, final.answer_weights, final.answer_bias
    )
    weights, bias = np.asarray(final.weights), final.bias

    answerable = [o for o, g in zip(held_out, held_groups, strict=True) if g != "none"]
    off_topic = len(stated(held_out, held_groups, threshold, "none")) // args.splits
    answered = stated(held_out, held_groups, threshold)
    print(f"{len(rows)} questions, {sum(len(r[0]) for r in rows)} candidate rows")
    print(f"cross-validated: top-1 right {np.mean([r for _, r in answerable]):.3f} of answerable")
    print(
        f"  threshold {threshold:.2f}: answered {len(answered) / args.splits:.1f}/{len(rows)}, "
        f"precision {(sum(answered) / max(len(answered), 1)):.3f}, "
        f"off-topic answered {off_topic}/{held_groups.count('none') // args.splits}"
    )
    by_corpus = {}
    for name in ("public", "team"):
        right = stated(held_out, held_groups, threshold, name)
        by_corpus[name] = round(sum(right) / max(len(right), 1), 3)
        print(f"  {name}: {len(right) / args.splits:.1f} stated, precision {by_corpus[name]:.3f}")
    for name, w in zip(FEATURES, weights, strict=True):
        print(f"  {name:14} {w:+.3f}")
    print(f"  {'bias':14} {bias:+.3f}")
    for name, w in zip(ANSWER_FEATURES, final.answer_weights, strict=True):
        print(f"  answer.{name:14} {w:+.3f}")
    print(f"  answer.bias           {final.answer_bias:+.3f}")
    if args.dry_run:
        return
    OUT.write_text(
        calibration.to_json(
            model=MODEL_ID,
            fitted_on=f"bench/calibration-questions.jsonl ({len(rows)} questions)",
            threshold_rule=rule,
            cross_validated_precision=round(sum(answered) / max(len(answered), 1), 3),
            cross_validated_precision_by_corpus=by_corpus,
        )
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
