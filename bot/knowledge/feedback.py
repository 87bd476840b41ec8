"""👍/👎 votes as a bounded rank factor for the same and similar questions. Pure.

Each person counts once per chunk (their vote on the most similar question they voted on),
weighted by how similar that question is to the one being asked. The net is squashed into
[MIN_FACTOR, MAX_FACTOR]: one person moves a chunk by at most 2^(1/PEOPLE_FOR_FULL_EFFECT),
and no crowd moves it beyond the bound (Onyx uses the same 0.5×–2× range).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MIN_FACTOR = 0.5
MAX_FACTOR = 2.0
PEOPLE_FOR_FULL_EFFECT = 3
# Below this question similarity a vote says nothing about the question being asked.
MIN_SIMILARITY = 0.75


@dataclass(frozen=True)
class Vote:
    """One person's vote on one chunk for one question, with that question's similarity."""

    chunk_id: int
    user_id: str
    value: int  # +1 or -1
    similarity: float  # 1.0 for the same question


def rank_factors(votes: Iterable[Vote]) -> dict[int, float]:
    """Chunk id → multiplicative factor in [MIN_FACTOR, MAX_FACTOR]."""
    strongest: dict[tuple[int, str], Vote] = {}
    for vote in votes:
        if vote.similarity < MIN_SIMILARITY or vote.value == 0:
            continue
        key = (vote.chunk_id, vote.user_id)
        if key not in strongest or vote.similarity > strongest[key].similarity:
            strongest[key] = vote
    net: dict[int, float] = {}
    for (chunk_id, _), vote in strongest.items():
        weight = (vote.similarity - MIN_SIMILARITY) / (1.0 - MIN_SIMILARITY)
        net[chunk_id] = net.get(chunk_id, 0.0) + (1 if vote.value > 0 else -1) * weight
    factors: dict[int, float] = {}
    for chunk_id, total in net.items():
        exponent = max(-1.0, min(1.0, total / PEOPLE_FOR_FULL_EFFECT))
        factors[chunk_id] = max(MIN_FACTOR, min(MAX_FACTOR, 2.0**exponent))
    return factors
