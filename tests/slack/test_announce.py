"""Announcements end to end: seed feeds on a loopback server, posts to a fake Slack Web API.

Each test runs on SQLite and on PostgreSQL. The pacer's clock is fake (posts are paced but
instant) except in the one test that shows pacing in real time.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from feedkit import Bot, posted_title, posts_to, rss, rss_item, seed, with_new_item
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import select, update

from bot.db.models import Article, Delivery
from bot.scheduler import poll_once
from bot.slack.announce import ChannelPacer, deliver_pending
from bot.subscriptions import list_subscriptions, resume

NEW_ITEM = rss_item(
    "<!channel> win & more",
    link="/blog/new-post",
    guid="new-post-1",
    description="<p>Rolling out <b>Kubernetes</b> 1.31 & friends</p>",
    published=datetime(2024, 12, 1, tzinfo=UTC),
    author="ops@e13.dev (Jane <Ops>)",
)


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


@pytest.fixture
def e13(feed_server):
    """The e13.dev seed feed, served with an ETag."""
    return feed_server.serve("/e13.xml", seed(), etag='"v1"')


def test_subscribing_posts_nothing_and_a_new_item_is_posted_once_per_channel(
    bot, feed_server, fake_slack, e13
):
    first = bot.subscribe(e13, "C0ALERTS")
    bot.subscribe(e13, "C0DEVOPS")
    assert first.created and first.articles_indexed == 10 and first.backfilled == 0
    assert bot.poll().outcomes[0].status == "not_modified"
    assert fake_slack.posted() == []  # subscribing never floods the channel

    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    report = bot.poll()
    assert report.new == 1 and report.delivery.posted == 2

    for channel in ("C0ALERTS", "C0DEVOPS"):
        (post,) = posts_to(fake_slack, channel)
        # The relative link came out absolute, and nothing from the feed can ping or link.
        link = "<https://e13.dev/blog/new-post|&lt;!channel&gt; win &amp; more>"
        assert post["blocks"][0]["text"]["text"] == f"*{link}*"
        assert link in post["text"] and "<!channel>" not in str(post)
        # Feed name, author and excerpt are plain_text: Slack shows them as written.
        meta, date = post["blocks"][1]["elements"]
        assert meta["type"] == "plain_text"
        assert meta["text"] == "E13 Capital & Technology Blog · ops@e13.dev (Jane <Ops>)"
        assert "<!date^1733011200^" in date["text"]
        assert post["blocks"][2]["text"] == {
            "type": "plain_text",
            "text": "Rolling out Kubernetes 1.31 & friends",
            "emoji": False,
        }
        assert post["unfurl_links"] is False

    # A second poll of the same document posts nothing.
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v3"')
    report = bot.poll()
    assert report.new == 0 and report.delivery.posted == 0
    assert len(fake_slack.posted()) == 2


def test_an_edited_item_is_not_reposted_but_its_new_text_is_indexed(
    bot, feed_server, fake_slack, e13
):
    bot.subscribe(e13, "C0ALERTS")
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    bot.poll()
    assert len(fake_slack.posted()) == 1
    edited = rss_item(
        "Rolling out Kubernetes 1.31 (updated)",
        link="/blog/new-post",
        guid="new-post-1",
        description="<p>Now with a rollback plan for etcd upgrades.</p>",
        published=datetime(2024, 12, 2, tzinfo=UTC),
    )
    feed_server.serve("/e13.xml", with_new_item(seed(), edited), etag='"v3"')
    report = bot.poll()
    assert report.new == 0 and report.outcomes[0].edited == 1
    assert len(fake_slack.posted()) == 1  # the edit is not news
    with bot.sessions() as session:
        result = bot.runtime.answerer.ask(session, "etcd rollback plan")
    assert result.hits[0].chunk.title == "Rolling out Kubernetes 1.31 (updated)"


def test_new_posts_go_out_oldest_first(bot, feed_server, fake_slack):
    day = datetime(2025, 1, 1, tzinfo=UTC)
    old = [rss_item("Old", link="https://ops.example/old", guid="old", published=day)]
    url = feed_server.serve("/ops.xml", rss(old))
    bot.subscribe(url, "C0OPS")
    newest_first = [
        rss_item(
            f"Post {n}",
            link=f"https://ops.example/{n}",
            guid=f"p{n}",
            published=day + timedelta(days=n),
        )
        for n in (3, 2, 1)
    ]
    feed_server.serve("/ops.xml", rss(newest_first + old))
    bot.poll()
    titles = [p["blocks"][0]["text"]["text"] for p in fake_slack.posted()]
    assert [t.split("|")[1].rstrip(">*") for t in titles] == ["Post 1", "Post 2", "Post 3"]


def test_entries_without_guid_or_link_are_posted_once(bot, feed_server, fake_slack):
    url = feed_server.serve("/bare.xml", rss([rss_item("Existing", description="old news")]))
    bot.subscribe(url, "C0OPS")
    items = [
        rss_item("Bare entry", description="no guid, no link"),
        rss_item("Existing", description="old news"),
    ]
    feed_server.serve("/bare.xml", rss(items))
    bot.poll()
    bot.poll()
    (post,) = fake_slack.posted()
    assert "Bare entry" in post["text"]


def test_a_guid_repeated_in_one_document_is_two_entries_posted_once_each(
    bot, feed_server, fake_slack
):
    url = feed_server.serve("/dup.xml", rss([rss_item("Old", guid="old")]))
    bot.subscribe(url, "C0OPS")
    twins = [
        rss_item("Twin A", link="https://ops.example/a", guid="same"),
        rss_item("Twin B", link="https://ops.example/b", guid="same"),
    ]
    feed_server.serve("/dup.xml", rss([*twins, rss_item("Old", guid="old")]))
    bot.poll()
    bot.poll()
    assert sorted(posted_title(p) for p in fake_slack.posted()) == ["Twin A", "Twin B"]


# Real time passes here (Slack's Retry-After, real pacing): once, on SQLite, is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_slack_429_with_retry_after_delays_the_post_and_loses_nothing(
    bot, feed_server, fake_slack, e13
):
    # slack_sdk's retry handler is on: it waits Retry-After (1 s here) and retries once.
    bot.subscribe(e13, "C0ALERTS")
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    fake_slack.queue(
        "chat.postMessage", {"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "1"}
    )
    started = time.monotonic()
    report = bot.poll()
    assert time.monotonic() - started >= 1.0
    assert report.delivery.posted == 1
    attempts = fake_slack.posted()
    assert len(attempts) == 2 and attempts[0] == attempts[1]


def test_a_429_that_outlasts_the_retry_handler_is_posted_later(bot, feed_server, fake_slack, e13):
    # No in-call retry: the post goes back to the queue until Retry-After has passed.
    handlers = bot.client.retry_handlers
    handlers[:] = [h for h in handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    handlers.append(RateLimitErrorRetryHandler(max_retry_count=0))
    bot.subscribe(e13, "C0ALERTS")
    second = rss_item(
        "Second", link="/blog/second", guid="second", published=datetime(2024, 12, 5, tzinfo=UTC)
    )
    feed_server.serve(
        "/e13.xml", with_new_item(with_new_item(seed(), NEW_ITEM), second), etag='"v2"'
    )
    fake_slack.queue(
        "chat.postMessage", {"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "30"}
    )
    report = bot.poll()
    assert report.delivery.posted == 0 and report.delivery.retrying == 1 and report.owed == 2
    assert bot.poll(timedelta(seconds=10)).delivery.posted == 0  # still inside Retry-After
    assert bot.poll(timedelta(seconds=25)).delivery.posted == 2
    posts = fake_slack.posted()
    assert len(posts) == 3  # the refused one, then (the early re-check sent nothing) both
    assert "win" in posts[1]["text"] and "Second" in posts[2]["text"]  # order kept
    assert bot.poll(timedelta(minutes=5)).delivery.posted == 0


def test_a_transient_slack_error_is_retried_without_loss(bot, feed_server, fake_slack, e13):
    bot.subscribe(e13, "C0ALERTS")
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    fake_slack.queue("chat.postMessage", {"ok": False, "error": "internal_error"}, 500)
    report = bot.poll()
    assert report.delivery.retrying == 1 and report.owed == 1
    assert bot.poll(timedelta(minutes=1)).delivery.posted == 1
    assert bot.poll(timedelta(minutes=1)).delivery.posted == 0


def test_an_archived_channel_marks_its_subscription_broken(bot, feed_server, fake_slack, e13):
    archived = bot.subscribe(e13, "C0ARCHIVED").subscription
    bot.subscribe(e13, "C0LIVE")
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    fake_slack.handlers["chat.postMessage"] = lambda args: (
        {"ok": False, "error": "is_archived"}
        if args["channel"] == "C0ARCHIVED"
        else {"ok": True, "channel": args["channel"], "ts": "1.0"}
    )
    report = bot.poll()
    assert report.delivery.posted == 1
    assert any("archived" in reason for reason in report.delivery.broken)
    with bot.sessions() as session:
        views = {v.channel_id: v for v in list_subscriptions(session)}
    assert views["C0ARCHIVED"].status == "broken"
    assert "archived" in views["C0ARCHIVED"].status_reason
    assert "resume" in views["C0ARCHIVED"].status_reason
    assert views["C0LIVE"].status == "active"

    # Not retried forever: later polls leave the broken channel alone...
    calls = len(fake_slack.posted())
    bot.poll()
    assert len(fake_slack.posted()) == calls
    # ...and once the channel is back, resuming delivers what it missed.
    del fake_slack.handlers["chat.postMessage"]
    with bot.sessions.begin() as session:
        resume(session, str(archived.id))
    assert bot.poll(timedelta(minutes=1)).delivery.posted == 1
    assert len(posts_to(fake_slack, "C0ARCHIVED")) == 2


def test_a_bad_token_breaks_channel_subscriptions_and_stops_posting(
    bot, feed_server, fake_slack, e13
):
    bot.subscribe(e13, "C0ONE")
    bot.subscribe(e13, "C0TWO")
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    fake_slack.queue("chat.postMessage", {"ok": False, "error": "invalid_auth"})
    report = bot.poll()
    assert report.delivery.posted == 0 and "SLACK_BOT_TOKEN" in report.delivery.stopped
    assert len(fake_slack.posted()) == 1  # stopped after the first refusal
    with bot.sessions() as session:
        assert {v.status for v in list_subscriptions(session)} == {"broken"}


def test_a_crash_between_claim_and_post_is_recovered_without_duplicates(
    bot, feed_server, fake_slack, e13
):
    bot.subscribe(e13, "C0ALERTS")
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    bot.client = None  # this tick stores and owes the post but cannot post it
    bot.poll()
    with bot.sessions.begin() as session:
        # A worker claimed the post, then died before posting.
        session.execute(
            update(Delivery).values(state="claimed", claimed_at=bot.now, claimed_by="dead:1")
        )
    from bot.slack.announce import make_client

    bot.client = make_client(bot.settings)
    assert bot.poll(timedelta(minutes=1)).delivery.posted == 0  # the claim is still fresh
    assert bot.poll(timedelta(minutes=15)).delivery.posted == 1  # the lease ran out
    assert bot.poll(timedelta(minutes=15)).delivery.posted == 0
    assert len(fake_slack.posted()) == 1


def test_pacing_spaces_posts_to_the_same_channel(bot, feed_server, fake_slack):
    url = feed_server.serve("/ops.xml", rss([rss_item("Old", guid="old")]))
    bot.subscribe(url, "C0SAME")
    bot.subscribe(url, "C0OTHER")
    items = [rss_item(f"Post {n}", guid=f"p{n}") for n in range(3)]
    feed_server.serve("/ops.xml", rss([*items, rss_item("Old", guid="old")]))
    stamps: list[tuple[str, float]] = []

    def record(args):
        stamps.append((args["channel"], time.monotonic()))
        return {"ok": True, "channel": args["channel"], "ts": "1.0"}

    fake_slack.handlers["chat.postMessage"] = record
    bot.pacer = ChannelPacer(0.25)  # the real clock: one post per 0.25 s per channel
    bot.poll()
    same = [t for c, t in stamps if c == "C0SAME"]
    assert len(same) == 3 and len(stamps) == 6
    gaps = [b - a for a, b in itertools.pairwise(same)]
    assert min(gaps) >= 0.24
    # Channels do not wait for each other: the other channel's first post is not 0.25 s late.
    other_first = next(t for c, t in stamps if c == "C0OTHER")
    assert other_first - same[0] < 0.2


def test_the_default_pacing_is_about_one_post_per_second_per_channel(bot, feed_server):
    url = feed_server.serve("/ops.xml", rss([rss_item("Old", guid="old")]))
    bot.subscribe(url, "C0SAME")
    feed_server.serve("/ops.xml", rss([rss_item(f"P{n}", guid=f"p{n}") for n in range(4)]))
    bot.poll()
    assert bot.clock.sleeps == pytest.approx([1.0, 1.0, 1.0])


def test_posting_stops_at_the_time_budget_and_resumes_next_tick(bot, feed_server, fake_slack):
    url = feed_server.serve("/ops.xml", rss([rss_item("Old", guid="old")]))
    bot.subscribe(url, "C0SAME")
    feed_server.serve("/ops.xml", rss([rss_item(f"P{n}", guid=f"p{n}") for n in range(5)]))
    report = bot.poll(budget_seconds=2.5)
    assert report.delivery.posted == 3 and report.owed == 2
    assert bot.poll(budget_seconds=60).delivery.posted == 2
    with bot.sessions() as session:
        states = session.scalars(select(Delivery.state)).all()
    assert states == ["posted"] * 5


def test_unfurl_option_reaches_slack(bot, feed_server, fake_slack, e13):
    bot.subscribe(e13, "C0ALERTS", unfurl=True)
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    bot.poll()
    (post,) = fake_slack.posted()
    assert post["unfurl_links"] is True and post["unfurl_media"] is True


def test_index_only_subscriptions_store_but_never_post(bot, feed_server, fake_slack, e13):
    bot.subscribe(e13, None)
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')
    report = bot.poll()
    assert report.new == 1 and fake_slack.posted() == []
    with bot.sessions() as session:
        assert session.scalar(select(Article.url).where(Article.entry_key == "new-post-1")) == (
            "https://e13.dev/blog/new-post"
        )


def test_two_replicas_share_a_channels_pacing_and_order(db_url, fake_slack, feed_server):
    """Two replicas (own engines, own pacers) deliver one channel's posts at the same instant:
    one owns the channel at a time, so the posts keep their order and their spacing."""
    bots = [Bot.open(db_url, fake_slack.api_url) for _ in range(2)]
    url = feed_server.serve("/ops.xml", rss([rss_item("Old", guid="old")]))
    bots[0].subscribe(url, "C0SAME")
    published = [datetime(2024, 12, 1, n, tzinfo=UTC) for n in range(5)]
    items = [rss_item(f"Post {n}", guid=f"p{n}", published=published[n]) for n in range(5)]
    feed_server.serve("/ops.xml", rss([*reversed(items), rss_item("Old", guid="old")]))
    when = bots[0].now + timedelta(hours=1)
    poll_once(bots[0].runtime, None, now=when)  # stored and owed, nobody posts yet
    stamps: list[tuple[str, float]] = []

    def record(args):
        stamps.append((posted_title(args), time.monotonic()))
        return {"ok": True, "channel": args["channel"], "ts": f"{time.time():.6f}"}

    fake_slack.handlers["chat.postMessage"] = record
    barrier = threading.Barrier(2)

    def deliver(bot: Bot) -> None:
        barrier.wait()
        deliver_pending(bot.sessions, bot.client, bot.settings, now=when, pacer=ChannelPacer(0.3))

    threads = [threading.Thread(target=deliver, args=(b,)) for b in bots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for b in bots:
        b.close()
    assert [title for title, _ in stamps] == [f"Post {n}" for n in range(5)]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.27, gaps
