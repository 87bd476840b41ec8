"""Closing the loop: when someone replies in a thread where the bot said "I don't know", the
asker and the replier are offered (ephemerally, once per thread) to save that reply as a note.

Every message in the bot's channels reaches `on_reply`, so it filters in memory first and then
asks the store with one conditional UPDATE: across replicas and Slack's retries, one offer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.db.models import UnansweredThread, utcnow
from bot.runtime import Runtime
from bot.slack.human_messages import human_author
from bot.slack.text import truncate
from bot.slack.thread_offer_blocks import save_offer_message

log = logging.getLogger(__name__)

# Channel messages only: a DM or group DM has no "team" to save an answer for.
_CHANNEL_TYPES = frozenset({"channel", "group"})
_QUESTION_KEPT = 2000


@dataclass(frozen=True)
class ThreadReply:
    """A person's reply in a channel thread."""

    channel_id: str
    thread_ts: str
    user_id: str


def thread_reply(event: dict[str, Any], bot_user_id: str | None) -> ThreadReply | None:
    """The human reply in a channel thread this message event is, or None.

    Not a reply: top-level messages, thread parents, DMs, bot posts (ours included), edits and
    other subtypes, and messages that mention the bot (those are questions to it).
    """
    if event.get("channel_type") not in _CHANNEL_TYPES:
        return None
    user = human_author(event, bot_user_id)
    channel, thread_ts, ts = event.get("channel"), event.get("thread_ts"), event.get("ts")
    if user is None or not (channel and thread_ts) or thread_ts == ts:
        return None
    text = event.get("text") or ""
    if bot_user_id and (f"<@{bot_user_id}>" in text or f"<@{bot_user_id}|" in text):
        return None
    return ThreadReply(str(channel), str(thread_ts), user)


class ThreadOffers:
    """Remembers the threads the bot could not answer and makes the one offer per thread."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def remember(self, channel_id: str, thread_ts: str, asker_id: str, question: str) -> None:
        """The bot said "I don't know" to `asker_id` in this thread; the first asker is kept.

        A failure is only logged, without the statement: its parameters name the asker.
        """
        try:
            with self.runtime.sessions.begin() as session:
                session.add(
                    UnansweredThread(
                        channel_id=channel_id,
                        thread_ts=thread_ts,
                        asker_id=asker_id,
                        question=truncate(question, _QUESTION_KEPT),
                    )
                )
        except IntegrityError:
            pass  # another unanswered mention (or a replica) already holds this thread
        except Exception as exc:
            log.error("could not remember an unanswered thread (%s)", type(exc).__name__)

    def forget(self, channel_id: str, thread_ts: str) -> None:
        """The bot answered in this thread after all: a reply now is no answer it lacked."""
        try:
            with self.runtime.sessions.begin() as session:
                session.execute(
                    delete(UnansweredThread).where(
                        UnansweredThread.channel_id == channel_id,
                        UnansweredThread.thread_ts == thread_ts,
                        UnansweredThread.offered_at.is_(None),
                    )
                )
        except Exception as exc:
            log.error("could not forget an answered thread (%s)", type(exc).__name__)

    def claim_offer(self, reply: ThreadReply) -> UnansweredThread | None:
        """The unanswered thread this reply is the first human reply in, claimed for the one
        offer; None when the thread is not one the bot could not answer, or was offered."""
        try:
            return self._claim(reply)
        except Exception as exc:
            # Without the statement: its parameters name the replier.
            log.error("could not claim a thread's save offer (%s)", type(exc).__name__)
            return None

    def _claim(self, reply: ThreadReply) -> UnansweredThread | None:
        with self.runtime.sessions.begin() as session:
            claimed = session.execute(
                update(UnansweredThread)
                .where(
                    UnansweredThread.channel_id == reply.channel_id,
                    UnansweredThread.thread_ts == reply.thread_ts,
                    UnansweredThread.offered_at.is_(None),
                )
                .values(offered_at=utcnow(), replier_id=reply.user_id)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                return None
            thread = session.scalars(
                select(UnansweredThread).where(
                    UnansweredThread.channel_id == reply.channel_id,
                    UnansweredThread.thread_ts == reply.thread_ts,
                )
            ).one()
            session.expunge(thread)
            return thread

    def on_reply(
        self, event: dict[str, Any], *, bot_user_id: str | None, client: WebClient
    ) -> None:
        """Offer the asker and the replier to save the answer, if this is the first human reply
        in a thread the bot could not answer."""
        reply = thread_reply(event, bot_user_id)
        if reply is None:
            return
        thread = self.claim_offer(reply)
        if thread is None:
            return
        for user in dict.fromkeys((thread.asker_id, reply.user_id)):
            message = save_offer_message(
                thread.question,
                recipient=user,
                asker=thread.asker_id,
                replier=reply.user_id,
                channel_id=reply.channel_id,
                thread_ts=reply.thread_ts,
            )
            try:
                client.chat_postEphemeral(
                    channel=reply.channel_id,
                    user=user,
                    thread_ts=reply.thread_ts,
                    **message.as_kwargs(),
                )
            except SlackApiError as exc:
                # e.g. the asker left the channel; the other person still gets theirs.
                log.info("could not offer to save a thread answer (%s)", exc.response.get("error"))
