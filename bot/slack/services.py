"""What the Slack listeners call: answer questions, run subcommands, record votes and questions.

Sessions are opened here (the edge) and passed down; rendering is left to the pure builders in
answer_blocks / command_blocks / home. Nothing here raises into bolt for an expected problem:
users get a readable message, the logs get the details.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import ColumnElement, and_, case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import AnswerFeedback, Article, AskedQuestion, Chunk, HandledEvent, utcnow
from bot.db.store import as_indexed
from bot.knowledge.analysis import question_key
from bot.knowledge.index import SearchResult
from bot.runtime import Runtime
from bot.slack.answer_blocks import (
    Answer,
    AnswerHit,
    Message,
    Style,
    answer_message,
    mention,
    more_results_message,
    notice,
    parse_button_value,
)
from bot.slack.command_blocks import (
    changed_message,
    channel_changed_message,
    error_message,
    feeds_message,
    help_message,
    settings_message,
    subscribed_message,
)
from bot.slack.home import home_view
from bot.slack.subcommands import ALL, Command, question_text
from bot.slack.text import escape, truncate
from bot.subscriptions import (
    SubscriptionError,
    change_channel,
    change_subscription,
    list_subscriptions,
    pause,
    resume,
    subscribe,
    unsubscribe,
)

log = logging.getLogger(__name__)

Send = Callable[[Message], Any]

MORE_RESULTS = 5
EVENT_MEMORY = timedelta(days=1)  # Slack retries for minutes; a day is more than enough
_PRUNE_EVERY = 200
_CHANNELS_TTL = 60.0  # conversations.list is Tier 2 (20/min): don't call it per home view
# Messages that carry a person's words; edits, deletions, joins and bot posts do not.
_ANSWERABLE_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})

# App Home's "most asked" is shown to everyone, so a question asked privately (an ephemeral
# /devops answer, a DM) is listed only once this many different people asked it...
MOST_ASKED_MIN_ASKERS = 3
# ...or once someone made it public: an @mention or a "Share in channel" in a channel.
SURFACE_SHARE = "share"  # an asked_questions row recording a share, not another ask
_PUBLIC_SURFACES = ("mention", SURFACE_SHARE)
# Conversation ids: C… channels; D… DMs and G… group DMs (or legacy private groups) hold only a
# few people, so a mention or share there does not make a question public.
_CHANNEL_PREFIX = "C"


def conversation_question(event: dict[str, Any], bot_user_id: str | None) -> str | None:
    """The question in a DM or mention event, or None when the bot must not answer it.

    Bots (ourselves included), edits, deletions and other non-human subtypes are ignored.
    """
    if event.get("bot_id") or event.get("bot_profile"):
        return None
    if event.get("subtype") not in _ANSWERABLE_SUBTYPES:
        return None
    user = event.get("user")
    if not user or user == bot_user_id:
        return None
    return question_text(event.get("text") or "")


class SlackServices:
    """The Slack-facing operations, built once per app from the runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._claims = 0
        self._lock = threading.Lock()
        self._channels: tuple[float, frozenset[str]] | None = None

    # -- answering ----------------------------------------------------------------------------

    def answer(self, question: str, limit: int = 3) -> Answer:
        """Search the store and attach what the message shows (articles' dates)."""
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
    ) -> None:
        """Answer, deliver through `send`, then record the question (after, so it never delays)."""
        answer = self.answer(question)
        send(answer_message(answer, style))
        self.record_question(answer, user_id=user_id, channel_id=channel_id, surface=surface)

    def record_question(
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

    def top_questions(self, limit: int = 10) -> list[tuple[str, int]]:
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

    # -- slash command ------------------------------------------------------------------------

    def is_admin(self, user_id: str | None) -> bool:
        """Everyone manages feeds when DEVOPSBOT_ADMINS is empty; else only those listed."""
        admins = self.settings.admins
        return not admins or (user_id is not None and user_id in admins)

    def acknowledgement(self, command: Command, user_id: str | None) -> str:
        """What the 3-second ack says: nothing for questions, a heads-up for slow feed work."""
        if command.name == "subscribe" and not command.error and self.is_admin(user_id):
            return f"Fetching {escape(command.ref or '')} … this can take a few seconds."
        return ""

    def run_command(
        self, command: Command, *, user_id: str | None, channel_id: str | None, send: Send
    ) -> None:
        """Answer a question or run a subcommand; every outcome reaches the user via `send`."""
        try:
            reply = self._dispatch(command, user_id=user_id, channel_id=channel_id, send=send)
        except SubscriptionError as exc:
            reply = error_message(str(exc))
        except Exception:
            log.exception("/devops %s failed", command.name)
            reply = error_message(
                "Something went wrong on my side; the bot's logs have the details."
            )
        if reply is not None:
            send(reply)

    def _dispatch(
        self, command: Command, *, user_id: str | None, channel_id: str | None, send: Send
    ) -> Message | None:
        if command.error:
            return error_message(command.error)
        if command.name == "ask":
            self.answer_and_send(
                command.question,
                user_id=user_id,
                channel_id=channel_id,
                surface="command",
                style="private",
                send=send,
            )
            return None
        if command.name == "help":
            return help_message(bool(self.settings.admins))
        if command.name == "feeds":
            with self.runtime.sessions() as session:
                subs = list_subscriptions(session, channel_id=command.channel_id)
            return feeds_message(subs, command.channel_id)
        if command.manages_feeds and not self.is_admin(user_id):
            return self._refusal()
        target = command.channel_id or channel_id
        ref = command.ref or ""
        with self.runtime.sessions.begin() as session:
            if command.name == "subscribe":
                result = subscribe(session, ref, target, self.settings, created_by=user_id)
                return subscribed_message(
                    result.subscription,
                    result.created,
                    result.articles_indexed,
                    result.backfilled,
                    result.discovered_from,
                )
            if command.name == "set":
                views = change_subscription(
                    session,
                    ref,
                    target,
                    include=command.include,
                    exclude=command.exclude,
                    unfurl=command.unfurl,
                )
                return settings_message(views)
            actions = {
                "unsubscribe": (unsubscribe, "Unsubscribed"),
                "pause": (pause, "Paused"),
                "resume": (resume, "Resumed"),
            }
            action, verb = actions[command.name]
            if ref == ALL:
                if target is None:
                    return error_message("Run it in a channel, or name one: `pause all #channel`.")
                views = change_channel(session, command.name, target)
                return channel_changed_message(verb, views, target)
            view = action(session, ref, channel_id=target)
            return changed_message(verb, view)

    def _refusal(self) -> Message:
        admins = sorted(self.settings.admins)
        who = ", ".join(mention(a) for a in admins[:5])
        text = (
            "Only the feed admins can subscribe, unsubscribe, pause or resume feeds"
            f" (DEVOPSBOT_ADMINS). Ask {who}."
        )
        return notice(text, ":no_entry:")

    # -- buttons ------------------------------------------------------------------------------

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
        self.record_question(answer, user_id=user_id, channel_id=channel_id, surface=SURFACE_SHARE)

    def more_results(self, value: str | None) -> Message:
        """The next results after the ones already shown."""
        question, ids = parse_button_value(value)
        if not question:
            return notice("That answer has expired; ask again.")
        answer = self.answer(question, limit=len(ids) + MORE_RESULTS)
        rest = [h for h in answer.hits if h.chunk.id not in set(ids)][:MORE_RESULTS]
        return more_results_message(question, rest)

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

    # -- events -------------------------------------------------------------------------------

    def claim_event(self, event_id: str | None) -> bool:
        """True the first time any replica sees this event_id; False for a retry already taken."""
        if not event_id:
            return True
        try:
            with self.runtime.sessions.begin() as session:
                session.add(HandledEvent(event_id=event_id[:64]))
        except IntegrityError:
            log.info("event %s already handled; ignoring the retry", event_id)
            return False
        with self._lock:
            self._claims += 1
            prune = self._claims % _PRUNE_EVERY == 1
        if prune:
            self._forget_old_events()
        return True

    def _forget_old_events(self) -> None:
        try:
            with self.runtime.sessions.begin() as session:
                cutoff = utcnow() - EVENT_MEMORY
                session.execute(delete(HandledEvent).where(HandledEvent.received_at < cutoff))
        except Exception:
            log.exception("could not prune handled events")

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
        if question is None or not self.claim_event(event_id):
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
            send(help_message(bool(self.settings.admins)))
            return
        self.answer_and_send(
            question,
            user_id=event.get("user"),
            channel_id=channel,
            surface=surface,
            style="conversation",
            send=send,
        )

    # -- App Home -----------------------------------------------------------------------------

    def publish_home(self, user_id: str, client: WebClient) -> None:
        """Build and publish the user's Home tab."""
        with self.runtime.sessions() as session:
            subs = list_subscriptions(session)
        channels = self._member_channels(client)
        scoped = channels is not None
        if channels is not None:
            subs = [s for s in subs if s.channel_id in channels]
        view = home_view(subs, self.top_questions(), scoped=scoped)
        client.views_publish(user_id=user_id, view=view)

    def _member_channels(self, client: WebClient) -> frozenset[str] | None:
        """Channels the bot is in (cached a minute), or None when Slack won't tell us."""
        now = time.monotonic()
        with self._lock:
            if self._channels and now - self._channels[0] < _CHANNELS_TTL:
                return self._channels[1]
        found: set[str] = set()
        cursor = None
        try:
            for _ in range(20):  # 20 pages of 200 channels is a big workspace already
                page = client.conversations_list(
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=200,
                    cursor=cursor,
                )
                channels = page.get("channels")
                if channels is None:
                    return None
                found.update(c["id"] for c in channels if c.get("is_member"))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            log.info(
                "conversations.list failed (%s): showing all subscriptions",
                exc.response.get("error"),
            )
            return None
        members = frozenset(found)
        with self._lock:
            self._channels = (now, members)
        return members


# -- store reads for rendering ---------------------------------------------------------------------


def _public_row() -> ColumnElement[bool]:
    """An asked_questions row that made its question public: a mention or share in a channel."""
    return and_(
        AskedQuestion.surface.in_(_PUBLIC_SURFACES),
        AskedQuestion.channel_id.startswith(_CHANNEL_PREFIX, autoescape=True),
    )


def _published(session: Session, article_ids: Sequence[int]) -> dict[int, Any]:
    if not article_ids:
        return {}
    rows = session.execute(
        select(Article.id, func.coalesce(Article.published_at, Article.updated_at)).where(
            Article.id.in_(article_ids)
        )
    )
    return {aid: when for aid, when in rows}


def _to_answer(session: Session, result: SearchResult) -> Answer:
    dates = _published(session, [h.chunk.article_id for h in result.hits if h.chunk.article_id])
    hits = tuple(
        AnswerHit(h.chunk, h.score, dates.get(h.chunk.article_id or -1)) for h in result.hits
    )
    return Answer(result.question, result.answered, hits)


def _hits_by_ids(session: Session, ids: Sequence[int]) -> list[AnswerHit]:
    """Chunks by id, in the order given, shaped like search hits (score 1: they were shown)."""
    if not ids:
        return []
    rows = {c.id: c for c in session.scalars(select(Chunk).where(Chunk.id.in_(ids)))}
    dates = _published(session, [c.article_id for c in rows.values() if c.article_id])
    hits = []
    for cid in ids:
        c = rows.get(cid)
        if c is None:
            continue
        chunk = as_indexed(c, c.source.title or c.source.key)
        hits.append(AnswerHit(chunk, 1.0, dates.get(c.article_id or -1)))
    return hits
