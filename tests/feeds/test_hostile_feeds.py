"""Hostile feed servers through the pipeline: a clear error, nothing stored, polling goes on."""

from __future__ import annotations

import gzip
import zlib

import pytest
from feedkit import Bot, posted_title, posts_to, rss_item, seed, with_new_item
from sqlalchemy import func, select

from bot.db.models import Article, Feed
from bot.subscriptions import SubscriptionError


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


def stacked_bomb(size: int = 100_000_000) -> bytes:
    """`size` zero bytes, gzipped twice: a few hundred bytes on the wire."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    piece = b"\0" * 1_000_000
    inner = b"".join(squeezer.compress(piece) for _ in range(size // len(piece)))
    return gzip.compress(inner + squeezer.flush())


def article_count(bot: Bot) -> int:
    with bot.sessions() as session:
        return session.scalar(select(func.count()).select_from(Article))


def test_adding_a_bomb_is_refused_and_stores_nothing(bot, feed_server):
    url = feed_server.serve("/bomb.xml", stacked_bomb(), headers={"Content-Encoding": "gzip, gzip"})

    with pytest.raises(SubscriptionError, match="larger than 5000000 bytes"):
        bot.subscribe(url, "C0OPS")

    with bot.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Feed)) == 0
    assert article_count(bot) == 0


@pytest.mark.parametrize(
    ("body", "encoding", "error"),
    [
        (stacked_bomb(), "gzip, gzip", "larger than"),
        (b"\x8b\x02\x80<rss/>\x03", "br", "does not decode"),
    ],
    ids=["stacked-gzip-bomb", "brotli"],
)
def test_a_feed_turned_hostile_fails_alone(bot, feed_server, fake_slack, body, encoding, error):
    hostile = feed_server.serve("/hostile.xml", seed())
    other = seed().replace(b"e13.dev", b"e14.dev")
    fine = feed_server.serve("/fine.xml", other)
    bot.subscribe(hostile, "C0OPS")
    bot.subscribe(fine, "C0OPS")
    stored = article_count(bot)

    feed_server.serve("/hostile.xml", body, headers={"Content-Encoding": encoding})
    feed_server.serve("/fine.xml", with_new_item(other, rss_item("Still here", guid="new-1")))
    report = bot.poll()

    by_url = {o.url: o for o in report.outcomes}
    assert by_url[hostile].status == "error" and error in by_url[hostile].error
    assert by_url[fine].status == "updated"  # the other feed was polled as usual
    assert article_count(bot) == stored + 1
    assert bot.feed(hostile).consecutive_failures == 1
    assert error in bot.feed(hostile).last_error
    assert [posted_title(p) for p in posts_to(fake_slack, "C0OPS")] == ["Still here"]
