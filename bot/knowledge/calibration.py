"""Calibrated confidence: a small logistic model over lexical and semantic signals.

It turns what the index measured about a (question, chunk) pair into the probability that the
chunk answers the question. The same probability ranks the fused candidates and decides
"answered" (probability ≥ threshold). Its weights are fit by `bench/calibrate.py` on the
labelled questions in `bench/calibration-questions.jsonl` and stored in `calibration.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

# Below the answer threshold but at least this likely, the best hit is still shown in full, as
# "the closest match" rather than as the answer: a product choice, not a fitted value.
CLOSEST_MATCH_FLOOR = 0.5


def shown_in_full(answered: bool, best_score: float | None) -> bool:
    """Whether the best hit is shown in full: as the answer, or as the closest match."""
    return answered or (best_score is not None and best_score >= CLOSEST_MATCH_FLOOR)


FEATURES = (
    "dense",  # cosine between question and chunk embeddings
    "dense_margin",  # cosine minus the best cosine of any chunk (≤ 0)
    "dense_rr",  # 1 / (1 + rank among the dense results)
    "lexical",  # BM25F × coverage relative to the best lexical candidate
    "lexical_rr",  # 1 / (1 + rank among the lexical results)
    "coverage",  # share of the question's IDF mass the chunk contains
    "unknown",  # share of the question's IDF mass the whole index lacks
    "agree",  # both rankings put it in their top 3
    "no_vector",  # no embedding for question or chunk: dense signals are missing
    "short",  # one-word question: little for either ranking to go on
    "own_words",  # share of the question's words in the chunk's own title and text, not only
    # in the heading path it inherits (a child bullet matching only through its parent's name)
)


@dataclass(frozen=True)
class Signals:
    """What the index measured about one candidate chunk for one question."""

    dense: float
    dense_best: float
    dense_rank: int
    lexical: float
    lexical_rank: int
    coverage: float
    unknown: float
    words: int
    has_vector: bool
    own_words: float = 1.0  # share of the question's words in the chunk's own title and text

    def vector(self) -> list[float]:
        """The feature values, in FEATURES order."""
        agree = self.dense_rank < 3 and self.lexical_rank < 3
        return [
            self.dense if self.has_vector else 0.0,
            (self.dense - self.dense_best) if self.has_vector else 0.0,
            1.0 / (1 + self.dense_rank) if self.has_vector else 0.0,
            self.lexical,
            1.0 / (1 + self.lexical_rank),
            self.coverage,
            self.unknown,
            1.0 if agree else 0.0,
            0.0 if self.has_vector else 1.0,
            1.0 if self.words <= 1 else 0.0,
            self.own_words,
        ]


ANSWER_FEATURES = (
    "p_top",  # the ranker's probability for the best candidate
    "p_gap",  # how far it is ahead of the runner-up
    "dense_top",  # its cosine
    "dense_gap",  # its cosine lead over the runner-up
    "coverage_top",  # its word coverage
    "unknown",  # share of the question the index has never seen
    "log_words",  # log(1 + content words in the question)
    "both_first",  # the lexical and the dense ranking both put it first
    "lexical_top",  # its lexical score relative to the best lexical candidate
    # Siblings: the runner-up comes from the same note or feed, and the share of the five best
    # candidates that do. A page of near-identical examples (`kubectl logs` with and without
    # --follow) makes the choice between them unsure even when the page is surely right.
    "same_source",
    "source_share",
    "own_words_top",  # share of the question's words in the best chunk's own text
    # Cosine between the best chunk and the runner-up themselves: two near-identical candidates
    # (one command with and without a flag) make the choice between them unsure.
    "pair_cosine",
)


@dataclass(frozen=True)
class Evidence:
    """What the answer model reads about the best candidate beyond its signals."""

    same_source: bool = False  # the runner-up comes from the same source
    source_share: float = 0.0  # share of the five best candidates from the best one's source
    pair_cosine: float = 0.0  # cosine between the best and the runner-up (0: no vector for one)


def answer_features(
    p_top: float, p_second: float, top: Signals, second: Signals, evidence: Evidence = Evidence()
) -> list[float]:
    """The question-level features the answer model reads, in ANSWER_FEATURES order."""
    return [
        p_top,
        p_top - p_second,
        top.dense,
        top.dense - second.dense,
        top.coverage,
        top.unknown,
        math.log1p(top.words),
        1.0 if top.dense_rank == 0 and top.lexical_rank == 0 else 0.0,
        top.lexical,
        1.0 if evidence.same_source else 0.0,
        evidence.source_share,
        top.own_words,
        evidence.pair_cosine,
    ]


@dataclass(frozen=True)
class Calibration:
    """Two logistic models: one ranks candidates (P(this chunk is right)), one decides whether
    the best is likely right (P(answer right)); answered means that reaches `threshold`."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    answer_weights: tuple[float, ...] = (0.0,) * len(ANSWER_FEATURES)
    answer_bias: float = 0.0

    def answer_probability(
        self,
        p_top: float,
        p_second: float,
        top: Signals,
        second: Signals,
        evidence: Evidence = Evidence(),
    ) -> float:
        """P(the best candidate answers the question)."""
        x = answer_features(p_top, p_second, top, second, evidence)
        z = sum(w * v for w, v in zip(self.answer_weights, x, strict=True)) + self.answer_bias
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def probabilities(self, signals: Sequence[Signals]) -> np.ndarray:
        """P(right answer) for each candidate."""
        if not signals:
            return np.zeros(0)
        x = np.array([s.vector() for s in signals], dtype=np.float64)
        z = x @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def probability(self, signals: Signals) -> float:
        """P(right answer) for one candidate."""
        z = sum(w * v for w, v in zip(self.weights, signals.vector(), strict=True)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self, **extra: object) -> str:
        """The stored form, with whatever the fitting script wants to record."""
        data = {
            "features": list(FEATURES),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "answer_features": list(ANSWER_FEATURES),
            "answer_weights": [round(w, 6) for w in self.answer_weights],
            "answer_bias": round(self.answer_bias, 6),
            "threshold": round(self.threshold, 4),
            **extra,
        }
        return json.dumps(data, indent=2) + "\n"


def from_json(text: str) -> Calibration:
    """Read a stored calibration; features must match this code's FEATURES."""
    data = json.loads(text)
    if tuple(data["features"]) != FEATURES or tuple(data["answer_features"]) != ANSWER_FEATURES:
        raise ValueError("calibration.json was fit on other features; run bench/calibrate.py")
    return Calibration(
        tuple(data["weights"]),
        float(data["bias"]),
        float(data["threshold"]),
        tuple(data["answer_weights"]),
        float(data["answer_bias"]),
    )


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    """The calibration shipped with the package."""
    text = (resources.files("bot.knowledge") / "calibration.json").read_text("utf-8")
    return from_json(text)
