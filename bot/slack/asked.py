"""Asked questions: recorded for App Home's "most asked" and "questions nobody could answer",
shown only under their privacy rules."""

from __future__ import annotations

import logging

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from bot.db.models import AskedQuestion
from bot.knowledge.analysis import question_key
from bot.runtime import Runtime
from bot.slack.answer_blocks import Answer
from bot.slack.text import truncate

log = logging.getLogger(__name__)

# App Home's "most asked" is shown to everyone, so a question asked privately (an ephemeral
# /devops answer, a DM) is listed only once this many different people asked it...
MOST_ASKED_MIN_ASKERS = 3
# ...or once someone made it public: an @mention or a "Share in channel" in a channel.
SURFACE_SHARE = "share"  # an asked_questions row recording a share, not another ask
_PUBLIC_SURFACES = ("mention", SURFACE_SHARE)
# Conversation ids: C… channels; D… DMs and G… group DMs (or legacy private groups) hold only a
# few people, so a mention or share there does not make a question public.
_CHANNEL_PREFIX = "C"
# "Questions nobody could answer" names questions the bot failed on, so being asked in public
# is not enough: only this many different people asking one puts it on the list.
UNANSWERED_MIN_ASKERS = 3


class AskedQuestions:
    """Records questions and answers "what do people ask most" without saying who asked."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def record(
        self, answer: Answer, *, user_id: str | None, channel_id: str | None, surface: str
    ) -> None:
        """Remember a question (or, with SURFACE_SHARE, its sharing) for App Home's "most asked".

        A failure here is only logged, and without the statement: its parameters name the asker.
        """
        try:
            with self.runtime.sessions.begin() as session:
                session.add(
                    AskedQuestion(
                        question=truncate(answer.question, 2000),
                        question_key=question_key(answer.question),
                        user_id=user_id,
                        channel_id=channel_id,
                        surface=surface,
                        answered=answer.answered,
                        top_chunk_id=answer.hits[0].chunk.id if answer.hits else None,
                    )
                )
        except Exception as exc:
            log.error("could not record a question (%s)", type(exc).__name__)

    def top(self, limit: int = 10) -> list[tuple[str, int]]:
        """The most asked questions Home may show everyone, with their counts, most asked first.

        A question (by normalized key) is listed once MOST_ASKED_MIN_ASKERS different people
        asked it or it was made public in a channel; only its text and count leave the store.
        """
        is_ask = AskedQuestion.surface != SURFACE_SHARE
        is_public = _public_row()
        asks = func.sum(case((is_ask, 1), else_=0))
        askers = func.count(case((is_ask, AskedQuestion.user_id)).distinct())
        public = func.sum(case((is_public, 1), else_=0))
        # Show the words as said in public when there are any: a long private question can
        # share a (truncated) key with a public one.
        text = func.coalesce(
            func.max(case((is_public, AskedQuestion.question))), func.max(AskedQuestion.question)
        )
        stmt = (
            select(text, asks)
            .group_by(AskedQuestion.question_key)
            .having((askers >= MOST_ASKED_MIN_ASKERS) | (public > 0))
            .order_by(asks.desc(), func.max(AskedQuestion.created_at).desc())
            .limit(limit)
        )
        with self.runtime.sessions() as session:
            # A share whose ask was not recorded (truncated button value) still counts once.
            return [(q, max(int(n or 0), 1)) for q, n in session.execute(stmt)]

    def unanswered(self, limit: int = 10) -> list[tuple[str, int]]:
        """Questions the bot could not answer that Home may show everyone, with how many
        different people asked them since, most askers first.

        A question (by normalized key) is listed once UNANSWERED_MIN_ASKERS different people
        asked it without an answer since the bot last answered it, if ever: answered once (a
        note was added), it drops off, and should it fail again it counts from zero. Only its
        text and the number of askers leave the store.
        """
        is_ask = AskedQuestion.surface != SURFACE_SHARE
        last_answered = (
            select(
                AskedQuestion.question_key.label("key"), func.max(AskedQuestion.id).label("last")
            )
            .where(is_ask, AskedQuestion.answered)
            .group_by(AskedQuestion.question_key)
            .subquery()
        )
        askers = func.count(AskedQuestion.user_id.distinct())
        text = func.coalesce(
            func.max(case((_public_row(), AskedQuestion.question))),
            func.max(AskedQuestion.question),
        )
        stmt = (
            select(text, askers)
            .select_from(AskedQuestion)
            .outerjoin(last_answered, last_answered.c.key == AskedQuestion.question_key)
            .where(
                is_ask,
                ~AskedQuestion.answered,
                or_(last_answered.c.last.is_(None), AskedQuestion.id > last_answered.c.last),
            )
            .group_by(AskedQuestion.question_key)
            .having(askers >= UNANSWERED_MIN_ASKERS)
            .order_by(askers.desc(), func.max(AskedQuestion.id).desc())
            .limit(limit)
        )
        with self.runtime.sessions() as session:
            return [(q, int(n)) for q, n in session.execute(stmt)]


def _public_row() -> ColumnElement[bool]:
    """An asked_questions row that made its question public: a mention or share in a channel."""
    return and_(
        AskedQuestion.surface.in_(_PUBLIC_SURFACES),
        AskedQuestion.channel_id.startswith(_CHANNEL_PREFIX, autoescape=True),
    )
