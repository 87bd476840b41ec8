"""Helpers for the subscription/announcement tests: feed bodies, a fake clock, a bot harness.

Plain functions and classes (no fixtures), imported by the test modules that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select

from bot.config import Settings, load_settings
from bot.db.models import Feed, Subscription, utcnow
from bot.runtime import Runtime, open_runtime
from bot.scheduler import PollReport, poll_once
from bot.slack.announce import ChannelPacer, make_client
from bot.subscriptions import SubscribeResult, subscribe

SEEDS = Path(__file__).resolve().parent.parent / "bot" / "sample_data" / "feeds"
BOT_TOKEN = "xoxb-test-token"


def seed(name: str = "e13-dev.rss.xml") -> bytes:
    """A bundled seed feed's bytes."""
    return (SEEDS / name).read_bytes()


def rss_item(
    title: str,
    link: str | None = None,
    guid: str | None = None,
    description: str = "",
    published: datetime | None = None,
    tags: tuple[str, ...] = (),
    author: str | None = None,
) -> str:
    """One RSS 2.0 <item>; every text is XML-escaped (so HTML in it arrives as feed HTML)."""
    parts = [f"<title>{escape(title)}</title>"]
    if link:
        parts.append(f"<link>{escape(link)}</link>")
    if guid:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if published:
        parts.append(f"<pubDate>{format_datetime(published)}</pubDate>")
    if author:
        parts.append(f"<author>{escape(author)}</author>")
    parts.extend(f"<category>{escape(t)}</category>" for t in tags)
    if description:
        parts.append(f"<description>{escape(description)}</description>")
    return "<item>" + "".join(parts) + "</item>"


def rss(items: list[str], title: str = "Ops Blog", link: str = "https://ops.example/") -> bytes:
    """An RSS 2.0 document with these items (newest first, as feeds list them)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>test feed</description>{''.join(items)}</channel></rss>"
    ).encode()


def with_new_item(body: bytes, item: str) -> bytes:
    """The feed with `item` added on top, where feeds put their newest entry."""
    head, sep, tail = body.partition(b"<item>")
    assert sep, "feed has no <item>"
    return head + item.encode() + sep + tail


class FakeClock:
    """A monotonic clock whose sleep() only advances time (and records the sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bot_settings(db_url: str, api_url: str | None, **overrides: Any) -> Settings:
    """Settings for a test bot: loopback feeds allowed, Slack at the fake (when given)."""
    values: dict[str, Any] = {
        "devopsbot_database_url": db_url,
        "devopsbot_allow_private_urls": True,
        "devopsbot_http_timeout": 2.0,
        "devopsbot_poll_workers": 4,
    }
    if api_url is not None:
        values.update(slack_bot_token=BOT_TOKEN, slack_api_url=api_url)
    values.update(overrides)
    return load_settings(env_file=None, **values)


@dataclass
class Bot:
    """A runtime plus a Slack client, a paced-but-instant pacer and a clock we move by hand."""

    runtime: Runtime
    clock: FakeClock = field(default_factory=FakeClock)
    now: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        self.client = make_client(self.runtime.settings)
        self.pacer = ChannelPacer(
            self.runtime.settings.devopsbot_post_interval, clock=self.clock, sleep=self.clock.sleep
        )

    @classmethod
    def open(cls, db_url: str, api_url: str | None, **overrides: Any) -> Bot:
        """A migrated bot on `db_url`."""
        return cls(open_runtime(bot_settings(db_url, api_url, **overrides)))

    @property
    def sessions(self):
        return self.runtime.sessions

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def subscribe(self, url: str, channel: str | None, **kwargs: Any) -> SubscribeResult:
        """Subscribe in one transaction, as the CLI and Slack commands do."""
        with self.sessions.begin() as session:
            return subscribe(session, url, channel, self.settings, **kwargs)

    def poll(self, advance: timedelta = timedelta(hours=1), **kwargs: Any) -> PollReport:
        """Move the clock on (so checks fall due) and run one tick."""
        self.now += advance
        return poll_once(self.runtime, self.client, now=self.now, pacer=self.pacer, **kwargs)

    def poll_at(self, when: datetime, **kwargs: Any) -> PollReport:
        """Run one tick at `when` (must not go back in time)."""
        self.now = max(self.now, when)
        return poll_once(self.runtime, self.client, now=self.now, pacer=self.pacer, **kwargs)

    def feed(self, url_or_id: str | int) -> Feed:
        """The feed row as stored now."""
        with self.sessions() as session:
            if isinstance(url_or_id, int):
                feed = session.get(Feed, url_or_id)
            else:
                feed = session.scalar(select(Feed).where(Feed.url == url_or_id))
            assert feed is not None
            return feed

    def subscription(self, sub_id: int) -> Subscription:
        with self.sessions() as session:
            sub = session.get(Subscription, sub_id)
            assert sub is not None
            return sub

    def close(self) -> None:
        self.runtime.engine.dispose()


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def posts_to(fake_slack: Any, channel: str) -> list[dict[str, Any]]:
    """chat.postMessage arguments sent to one channel, in order."""
    return [a for a in fake_slack.posted() if a.get("channel") == channel]


def posted_title(post: dict[str, Any]) -> str:
    """The (escaped) title of an announcement, with or without a link."""
    head = post["blocks"][0]["text"]["text"].strip("*")
    return head.split("|", 1)[1].rstrip(">") if head.startswith("<") else head


def days(n: float) -> timedelta:
    return timedelta(days=n)
