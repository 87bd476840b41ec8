"""SQLAlchemy 2.0 models: knowledge sources, feeds, articles and the chunks we answer from."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.db import tables
from bot.db.tables import utcnow


class Base(DeclarativeBase):
    # One metadata with bot.db.tables, whose Core tables some classes below are mapped onto.
    metadata = tables.metadata
    type_annotation_map: ClassVar[dict[type, object]] = {datetime: DateTime(timezone=True)}


class Source(Base):
    """Where chunks come from: a Markdown notes file or a feed. `revision` bumps on any change."""

    __table__ = tables.sources

    id: Mapped[int]
    kind: Mapped[str]
    key: Mapped[str]
    title: Mapped[str]
    revision: Mapped[int]
    content_hash: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    feed: Mapped[Feed | None] = relationship(back_populates="source", cascade="all, delete-orphan")
    slack_note: Mapped[SlackNote | None] = relationship(
        back_populates="source", cascade="all, delete-orphan", passive_deletes=True
    )
    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="source", cascade="all, delete-orphan", passive_deletes=True
    )


class Feed(Base):
    """Polling state of a feed we fetch over HTTP (sample feeds have none)."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), unique=True
    )
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    site_url: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(String(512), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|paused|gone
    status_reason: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    interval_seconds: Mapped[int] = mapped_column(Integer, default=900)
    next_check_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column()
    last_checked_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    first_failure_at: Mapped[datetime | None] = mapped_column()
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    source: Mapped[Source] = relationship(back_populates="feed")


class Article(Base):
    """One feed entry, stored once per (source, entry_key) however often it is polled.

    `entry_key` is the entry's identity in canonical form (bot.feeds.identity); `link_key` the
    canonical form of its link, which finds the entry again when a feed rewrites its guids.
    """

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source_id", "entry_key"),
        Index("ix_articles_source_id_link_key", "source_id", "link_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(String(2048))
    link_key: Mapped[str | None] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(String(1024), default="")
    author: Mapped[str | None] = mapped_column(String(512))
    published_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()
    summary: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Chunk(Base):
    """The unit we rank: one note bullet/code block/paragraph, or one article section."""

    __table__ = tables.chunks

    id: Mapped[int]
    source_id: Mapped[int]
    article_id: Mapped[int | None]
    kind: Mapped[str]
    title: Mapped[str]
    section: Mapped[str]
    text: Mapped[str]
    url: Mapped[str | None]
    position: Mapped[int]
    line_start: Mapped[int | None]
    line_end: Mapped[int | None]
    text_hash: Mapped[str | None]

    source: Mapped[Source] = relationship(back_populates="chunks")


class IndexCache(Base):
    """The answer index as last built from the store (bot.db.tables.index_cache)."""

    __table__ = tables.index_cache

    name: Mapped[str]
    fingerprint: Mapped[str]
    data: Mapped[bytes]
    created_at: Mapped[datetime]


class ChunkEmbedding(Base):
    """A chunk text's sentence embedding, computed once per (model, text) and shared."""

    __table__ = tables.chunk_embeddings

    model: Mapped[str]
    text_hash: Mapped[str]
    vector: Mapped[bytes]
    created_at: Mapped[datetime]


# -- Subscriptions and announcements (issue 3) -------------------------------------------------


class Subscription(Base):
    """A feed announced into one Slack channel; channel_id None means "index only"."""

    __tablename__ = "subscriptions"
    # NULLs are distinct in a unique constraint, so the service keeps one index-only row per feed.
    __table_args__ = (UniqueConstraint("feed_id", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|paused|broken
    status_reason: Mapped[str | None] = mapped_column(Text)
    backfill: Mapped[int] = mapped_column(Integer, default=0)
    include_filters: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of strings
    exclude_filters: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of strings
    unfurl: Mapped[bool] = mapped_column(Boolean, default=False)
    # How posts go out (bot.schedules, canonical and naming their zone): a digest schedule
    # (`daily@09:00 UTC`) collects entries into one message; a thread mode (`daily UTC`) posts
    # them as replies under one parent per day. Neither: one message per entry.
    digest: Mapped[str | None] = mapped_column(String(96))
    thread: Mapped[str | None] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))

    feed: Mapped[Feed] = relationship()


class _OutboxItem:
    """Posting state shared by everything owed to a channel: claimed, then posted, once."""

    state: Mapped[str] = mapped_column(String(16), default="pending")
    sort_at: Mapped[datetime] = mapped_column(default=utcnow)  # posting order: oldest first
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    posted_at: Mapped[datetime | None] = mapped_column()
    # Tries Slack answered with something other than a rate limit (or never answered).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Times Slack refused the message itself (invalid_blocks, …): only these lead to giving up.
    refusals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The last try may have been posted (a timeout, a lost connection, a claim left by a dead
    # process): the channel's history is checked before posting again.
    unsure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Wall-clock time of the first claim (Slack's clock, not the delivery run's): where the
    # history check starts looking.
    first_claimed_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)  # kept after a later success
    # rate_limited | slack_error | timeout | network | refused | channel | token (bot.db.outbox)
    last_error_kind: Mapped[str | None] = mapped_column(String(16))
    message_ts: Mapped[str | None] = mapped_column(String(32))


class Delivery(_OutboxItem, Base):
    """One article owed to one subscription; the unique key is what makes a post happen once.

    state: pending → claimed → posted, or filtered (dropped by the subscription's filters).
    A digest subscription's entries are `digest` (collected) until a digest takes them
    (`digested`, with digest_post_id), and `posted` with that digest message.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "article_id"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        # A subscription's last post, for feeds list and App Home (bot.delivery_log).
        Index("ix_deliveries_subscription_id_posted_at", "subscription_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    # The digest message that lists it, or the day thread it is a reply in (bot.digests).
    digest_post_id: Mapped[int | None] = mapped_column(
        ForeignKey("digest_posts.id", ondelete="SET NULL"), index=True
    )
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("thread_posts.id", ondelete="SET NULL"), index=True
    )


class DigestPost(_OutboxItem, Base):
    """One message of a scheduled digest: the entries a subscription collected up to `slot`.

    Unique per (subscription, slot, part): the replica that inserts part 1 is the one that
    collects the entries, so a digest is made once and an entry is in exactly one digest.
    """

    __tablename__ = "digest_posts"
    __table_args__ = (
        UniqueConstraint("subscription_id", "slot", "part"),
        Index("ix_digest_posts_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    slot: Mapped[datetime] = mapped_column()  # the scheduled moment this digest is for (UTC)
    part: Mapped[int] = mapped_column(Integer, default=1)
    parts: Mapped[int] = mapped_column(Integer, default=1)
    entries: Mapped[int] = mapped_column(Integer, default=0)  # in the whole digest


class ThreadPost(_OutboxItem, Base):
    """The parent message of a subscription's thread for one day; its replies wait for it."""

    __tablename__ = "thread_posts"
    __table_args__ = (
        UniqueConstraint("subscription_id", "day"),
        Index("ix_thread_posts_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in the thread mode's zone


class Notice(_OutboxItem, Base):
    """A message about a feed (paused, gone) owed to one subscription, posted once per `key`."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("subscription_id", "key"),
        Index("ix_notices_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))  # e.g. "paused:<feed id>:<first failure>"
    kind: Mapped[str] = mapped_column(String(16))  # "paused" | "gone"
    text: Mapped[str] = mapped_column(Text)  # mrkdwn, already escaped


# -- Slack app: answer feedback, questions asked, events already handled ---------------------


class AnswerFeedback(Base):
    """A 👍/👎 on an answer; one vote per (user, chunk, question), a second click changes it."""

    __table__ = tables.answer_feedback

    id: Mapped[int]
    question: Mapped[str]
    question_key: Mapped[str]
    chunk_id: Mapped[int]
    chunk_title: Mapped[str]
    user_id: Mapped[str]
    value: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AskedQuestion(Base):
    """Every question put to the bot (slash command, DM or mention), for App Home's top list.

    A "Share in channel" adds a row with surface "share": it makes the question public.
    """

    __tablename__ = "asked_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(String(255), index=True)  # normalized text
    user_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    surface: Mapped[str] = mapped_column(String(16))  # "command" | "dm" | "mention" | "share"
    answered: Mapped[bool] = mapped_column(default=False)
    top_chunk_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UnansweredThread(Base):
    """A channel thread where the bot answered a mention with "I don't know". The first human
    reply there offers the asker and the replier to save that reply (once: `offered_at`)."""

    __tablename__ = "unanswered_threads"
    __table_args__ = (UniqueConstraint("channel_id", "thread_ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    asker_id: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replier_id: Mapped[str | None] = mapped_column(String(32))
    offered_at: Mapped[datetime | None] = mapped_column()


class HandledEvent(Base):
    """An Events API event_id some replica already took on; the key makes retries no-ops."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ChannelLease(Base):
    """Which replica posts to a channel now, and when the channel last got a post: one owner at
    a time keeps a channel's posts in order and paced across every replica."""

    __tablename__ = "channel_leases"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(default=utcnow)
    last_post_at: Mapped[datetime | None] = mapped_column()


# -- Notes saved from Slack (issue 10) -------------------------------------------------------


class SlackNote(Base):
    """A note someone saved from a Slack message, thread or `/devops remember`: the text as
    saved and where it came from. Its chunks belong to its Source (kind "slack")."""

    __tablename__ = "slack_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), unique=True
    )
    title: Mapped[str] = mapped_column(String(512))
    section: Mapped[str] = mapped_column(String(512), default="")
    body: Mapped[str] = mapped_column(Text)  # Slack mrkdwn as the saver submitted it
    author_id: Mapped[str | None] = mapped_column(String(32))  # who wrote the message
    saver_id: Mapped[str] = mapped_column(String(32), index=True)  # who saved it
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    channel_name: Mapped[str] = mapped_column(String(255), default="")
    message_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(2048))
    # Saved from a private channel or a DM: the saver confirmed anyone may now see it.
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    source: Mapped[Source] = relationship(back_populates="slack_note")
