"""👍 / 👎 under an answer: stored per person, question and chunk (the ranking reads them)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db.models import AnswerFeedback, Chunk
from bot.knowledge.analysis import question_key
from bot.runtime import Runtime
from bot.slack.answer_blocks import Message, notice, parse_button_value
from bot.slack.text import truncate


class Votes:
    """Records votes; a second click by the same person changes theirs."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def vote(self, value: str | None, *, user_id: str | None, vote: int) -> Message:
        """Store 👍 (+1) or 👎 (-1) for the best answer; a second click changes the vote."""
        question, ids = parse_button_value(value)
        if not question or not ids or not user_id:
            return notice("That answer has expired; ask again.")
        key = hashlib.sha256(question_key(question).encode()).hexdigest()
        with self.runtime.sessions() as session:
            title = session.scalar(select(Chunk.title).where(Chunk.id == ids[0])) or ""
        for _ in range(2):  # a concurrent first vote may win the insert; then we update
            try:
                with self.runtime.sessions.begin() as session:
                    row = session.scalar(
                        select(AnswerFeedback).where(
                            AnswerFeedback.user_id == user_id,
                            AnswerFeedback.chunk_id == ids[0],
                            AnswerFeedback.question_key == key,
                        )
                    )
                    if row is None:
                        session.add(
                            AnswerFeedback(
                                question=truncate(question, 2000),
                                question_key=key,
                                chunk_id=ids[0],
                                chunk_title=truncate(title, 1000),
                                user_id=user_id,
                                value=vote,
                            )
                        )
                    else:
                        row.value = vote
                break
            except IntegrityError:
                continue
        thanks = "Thanks! Glad it helped." if vote > 0 else "Thanks, noted: I'll do better."
        return notice(thanks, "👍" if vote > 0 else "👎")
