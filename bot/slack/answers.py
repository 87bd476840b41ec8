"""Answering in Slack: /devops questions, DMs, mentions, and the buttons under an answer.

Sessions are opened here (the edge) and passed down; rendering is left to the pure builders in
answer_blocks. Nothing here raises into bolt for an expected problem.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import Article, Chunk
from bot.db.slack_notes import notes_of_sources
from bot.knowledge.index import SearchResult
from bot.knowledge.stored import as_indexed
from bot.runtime import Runtime
from bot.slack.answer_blocks import (
    Answer,
    AnswerHit,
    Message,
    SavedFrom,
    Style,
    answer_message,
    more_results_message,
    notice,
    parse_button_value,
)
from bot.slack.asked import SURFACE_SHARE, AskedQuestions
from bot.slack.command_blocks import help_message
from bot.slack.events_seen import EventClaims
from bot.slack.human_messages import human_author
from bot.slack.saved_notes import may_change_note
from bot.slack.subcommands import question_text
from bot.slack.thread_offers import ThreadOffers

log = logging.getLogger(__name__)

Send = Callable[[Message], Any]

MORE_RESULTS = 5
# Answering is CPU work under the GIL: as many at once as there are cores. A burst of questions
# then waits here, asleep, instead of taking the GIL from the threads that only have to ack
# other requests within Slack's 3 seconds (Slack calls, which only wait, stay outside).
_ANSWERING = threading.BoundedSemaphore(os.cpu_count() or 1)


def conversation_question(event: dict[str, Any], bot_user_id: str | None) -> str | None:
    """The question in a DM or mention event, or None when the bot must not answer it.

    Bots (ourselves included), edits, deletions and other non-human subtypes are ignored.
    """
    if human_author(event, bot_user_id) is None:
        return None
    return question_text(event.get("text") or "")


class Answers:
    """Answers questions wherever they are asked, and serves the buttons under an answer."""

    def __init__(
        self,
        runtime: Runtime,
        asked: AskedQuestions,
        events: EventClaims,
        offers: ThreadOffers,
    ) -> None:
        self.runtime = runtime
        self.asked = asked
        self.events = events
        self.offers = offers

    def answer(self, question: str, limit: int = 3) -> Answer:
        """Search the store and attach what the message shows (articles' dates); callers hold
        _ANSWERING."""
        with self.runtime.sessions() as session:
            # Given the session factory, a store that moved on is re-indexed in the background
            # and this question is answered from the current index without waiting.
            result = self.runtime.answerer.ask(
                session, question, limit=limit, sessions=self.runtime.sessions
            )
            return _to_answer(session, result)

    def answer_and_send(
        self,
        question: str,
        *,
        user_id: str | None,
        channel_id: str | None,
        surface: str,
        style: Style,
        send: Send,
    ) -> Answer:
        """Answer, deliver through `send`, then record the question (after, so it never delays)."""
        with _ANSWERING:  # the message is built under it too: CPU work; sending only waits
            answer = self.answer(question)
            saved = answer.hits[0].saved if answer.hits else None
            editable = saved is not None and may_change_note(
                self.runtime.settings, user_id, saved.saver_id
            )
            message = answer_message(answer, style, editable=editable)
        send(message)
        self.asked.record(answer, user_id=user_id, channel_id=channel_id, surface=surface)
        return answer

    def shown_answer(self, value: str | None) -> Answer | None:
        """The answer a button belongs to: the chunks the user saw, or a fresh search."""
        question, ids = parse_button_value(value)
        if not question:
            return None
        with self.runtime.sessions() as session:
            hits = _hits_by_ids(session, ids)
        if ids and len(hits) == len(ids):
            return Answer(question, True, tuple(hits))
        # The notes were reloaded since (chunk ids change): answer again.
        with _ANSWERING:
            return self.answer(question)

    def share(
        self,
        value: str | None,
        *,
        user_id: str | None,
        channel_id: str | None,
        client: WebClient,
        respond: Callable[..., Any],
    ) -> None:
        """Post the answer visibly in the channel with attribution, then drop the private copy."""
        answer = self.shown_answer(value)
        if answer is None:
            respond(text="That answer has expired; ask again.", replace_original=False)
            return
        message = answer_message(answer, "shared", asked_by=user_id)
        try:
            if not channel_id:
                raise SlackApiError("no channel", {"ok": False, "error": "channel_not_found"})
            client.chat_postMessage(
                channel=channel_id, unfurl_links=False, unfurl_media=False, **message.as_kwargs()
            )
        except SlackApiError as exc:
            # Not a member of a private channel or a DM: the response URL can still post there.
            log.info(
                "share via chat.postMessage failed (%s); using the response URL",
                exc.response.get("error"),
            )
            respond(response_type="in_channel", replace_original=False, **message.as_kwargs())
        respond(delete_original=True)
        # Recorded only once posted: a shared question may appear in App Home's "most asked".
        self.asked.record(answer, user_id=user_id, channel_id=channel_id, surface=SURFACE_SHARE)

    def more_results(self, value: str | None) -> Message:
        """The next results after the ones already shown."""
        question, ids = parse_button_value(value)
        if not question:
            return notice("That answer has expired; ask again.")
        with _ANSWERING:
            answer = self.answer(question, limit=len(ids) + MORE_RESULTS)
        rest = [h for h in answer.hits if h.chunk.id not in set(ids)][:MORE_RESULTS]
        return more_results_message(question, rest)

    def answer_conversation(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None,
        bot_user_id: str | None,
        client: WebClient,
        surface: str,
    ) -> None:
        """Answer a DM (in the DM) or a mention (in its thread), once per event."""
        question = conversation_question(event, bot_user_id)
        if question is None or not self.events.claim(event_id):
            return
        channel = event.get("channel")
        if not channel:
            return
        thread_ts = event.get("thread_ts")
        if surface == "mention":
            thread_ts = thread_ts or event.get("ts")

        def send(message: Message) -> None:
            client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                **message.as_kwargs(),
            )

        if not question:
            send(help_message(bool(self.runtime.settings.admins)))
            return
        user = event.get("user")
        answer = self.answer_and_send(
            question,
            user_id=user,
            channel_id=channel,
            surface=surface,
            style="conversation",
            send=send,
        )
        if surface != "mention" or not thread_ts:
            return
        # Posted. A thread where the bot said "I don't know" (no answer, not even a tentative
        # closest match) waits for a person's answer; one where it answered does not.
        if not answer.shows_best and user:
            self.offers.remember(channel, thread_ts, user, answer.question)
        elif event.get("thread_ts"):
            self.offers.forget(channel, thread_ts)


# -- store reads for rendering ---------------------------------------------------------------


def _published(session: Session, article_ids: Sequence[int]) -> dict[int, Any]:
    if not article_ids:
        return {}
    rows = session.execute(
        select(Article.id, func.coalesce(Article.published_at, Article.updated_at)).where(
            Article.id.in_(article_ids)
        )
    )
    return {aid: when for aid, when in rows}


def _saved_from(session: Session, source_ids: set[int]) -> dict[int, SavedFrom]:
    """Source id → where the note came from, for the sources that are notes saved from Slack."""
    return {
        sid: SavedFrom(n.id, n.channel_name, n.saver_id, n.permalink)
        for sid, n in notes_of_sources(session, source_ids).items()
    }


def _to_answer(session: Session, result: SearchResult) -> Answer:
    dates = _published(session, [h.chunk.article_id for h in result.hits if h.chunk.article_id])
    saved = _saved_from(session, {h.chunk.source_id for h in result.hits if h.chunk.kind == "note"})
    hits = tuple(
        AnswerHit(
            h.chunk,
            h.score,
            dates.get(h.chunk.article_id or -1),
            saved.get(h.chunk.source_id),
        )
        for h in result.hits
    )
    return Answer(result.question, result.answered, hits)


def _hits_by_ids(session: Session, ids: Sequence[int]) -> list[AnswerHit]:
    """Chunks by id, in the order given, shaped like search hits (score 1: they were shown)."""
    if not ids:
        return []
    rows = {c.id: c for c in session.scalars(select(Chunk).where(Chunk.id.in_(ids)))}
    dates = _published(session, [c.article_id for c in rows.values() if c.article_id])
    saved = _saved_from(session, {c.source_id for c in rows.values() if c.kind == "note"})
    hits = []
    for cid in ids:
        c = rows.get(cid)
        if c is None:
            continue
        chunk = as_indexed(c, c.source.title or c.source.key)
        hits.append(AnswerHit(chunk, 1.0, dates.get(c.article_id or -1), saved.get(c.source_id)))
    return hits
