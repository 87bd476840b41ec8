"""The feed pipeline against a loopback server: conditional GET, redirects, failures, claims."""

from __future__ import annotations

from datetime import timedelta

import pytest
from feedkit import Bot, aware, days, posts_to, rss, rss_item, seed, with_new_item
from sqlalchemy import select, update

from bot.db.models import Feed, Notice
from bot.feeds.refresh import MAX_BACKOFF, backoff, claim_due_feeds
from bot.subscriptions import list_subscriptions, resume


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


def test_the_second_poll_of_an_unchanged_feed_is_a_conditional_request_answered_304(
    bot, feed_server, monkeypatch
):
    url = feed_server.serve(
        "/e13.xml", seed(), etag='"v1"', headers={"Last-Modified": "Thu, 14 Nov 2024 00:00:00 GMT"}
    )
    bot.subscribe(url, "C0OPS")
    parsed: list[str] = []
    import bot.feeds.refresh as refresh

    real_parse = refresh.parse_feed
    monkeypatch.setattr(refresh, "parse_feed", lambda *a: parsed.append(a[1]) or real_parse(*a))
    report = bot.poll()
    (outcome,) = report.outcomes
    assert outcome.status == "not_modified" and parsed == []  # a 304 costs no parsing
    headers = feed_server.hits("/e13.xml")[-1]
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Thu, 14 Nov 2024 00:00:00 GMT"
    feed = bot.feed(url)
    assert feed.consecutive_failures == 0 and aware(feed.last_success_at) == bot.now
    # The next check is the feed's interval (15 min by default) plus at most 10% jitter.
    wait = aware(feed.next_check_at) - bot.now
    assert timedelta(minutes=15) <= wait <= timedelta(minutes=16.5)


def test_ttl_and_cache_control_stretch_the_interval_within_bounds(bot, feed_server):
    url = feed_server.serve("/ttl.xml", seed())
    bot.subscribe(url, None)
    ttl = seed().replace(b"<item>", b"<ttl>120</ttl><item>", 1)  # minutes
    feed_server.serve("/ttl.xml", ttl, headers={"Cache-Control": "max-age=60"})
    bot.poll()
    wait = aware(bot.feed(url).next_check_at) - bot.now
    assert timedelta(hours=2) <= wait <= timedelta(hours=2.2)
    # A silly TTL is capped at a day.
    feed_server.serve("/ttl.xml", seed().replace(b"<item>", b"<ttl>99999</ttl><item>", 1))
    bot.poll(timedelta(hours=3))
    wait = aware(bot.feed(url).next_check_at) - bot.now
    assert timedelta(hours=24) <= wait <= timedelta(hours=26.4)


@pytest.mark.parametrize(
    ("seconds", "ttl", "low", "high"),
    [
        (60, b"", timedelta(seconds=60), timedelta(seconds=66)),
        (3 * 86400, b"<ttl>60</ttl>", days(3), days(3.3)),  # a one-hour <ttl> never shortens it
    ],
)
def test_the_configured_interval_is_the_one_used_at_both_ends_of_its_range(
    db_url, fake_slack, feed_server, seconds, ttl, low, high
):
    bot = Bot.open(db_url, fake_slack.api_url, devopsbot_poll_interval=seconds)
    url = feed_server.serve("/e13.xml", seed().replace(b"<item>", ttl + b"<item>", 1))
    bot.subscribe(url, None)
    bot.poll(timedelta(days=4))
    wait = aware(bot.feed(url).next_check_at) - bot.now
    bot.close()
    assert low <= wait <= high


def test_301_moves_the_stored_url_and_302_does_not(bot, feed_server, fake_slack):
    old = feed_server.serve("/old.xml", seed())
    bot.subscribe(old, "C0OPS")
    new = feed_server.serve("/new.xml", with_new_item(seed(), rss_item("Moved", guid="m1")))
    feed_server.serve("/old.xml", b"", status=301, headers={"Location": "/new.xml"})
    report = bot.poll()
    (outcome,) = report.outcomes
    assert outcome.moved_from == old and outcome.url == new and outcome.status == "updated"
    assert bot.feed(new).url == new
    assert len(posts_to(fake_slack, "C0OPS")) == 1  # the move lost nothing and duplicated nothing

    temp = feed_server.serve("/temp.xml", seed())
    feed_server.serve("/new.xml", b"", status=302, headers={"Location": "/temp.xml"})
    bot.poll()
    assert bot.feed(new).url == new  # a temporary redirect keeps the URL
    assert feed_server.hits("/temp.xml") and temp != new


def test_410_stops_polling_and_tells_each_channel_once(bot, feed_server, fake_slack):
    url = feed_server.serve("/gone.xml", seed())
    bot.subscribe(url, "C0ONE")
    bot.subscribe(url, "C0TWO")
    feed_server.serve("/gone.xml", b"gone", status=410)
    report = bot.poll()
    assert report.outcomes[0].status == "gone"
    for channel in ("C0ONE", "C0TWO"):
        (post,) = posts_to(fake_slack, channel)
        assert "410" in post["text"] and url in post["text"] and "unsubscribe" in post["text"]
    hits = len(feed_server.hits("/gone.xml"))
    for _ in range(3):
        assert bot.poll(days(2)).outcomes == []
    assert len(feed_server.hits("/gone.xml")) == hits  # never fetched again
    assert len(fake_slack.posted()) == 2
    with bot.sessions() as session:
        views = list_subscriptions(session)
    assert {v.status for v in views} == {"gone"} and "410" in views[0].status_reason
    assert views[0].next_check_at is None


def test_500s_back_off_exponentially_and_end_in_one_pause_message(bot, feed_server, fake_slack):
    url = feed_server.serve("/flaky.xml", seed())
    bot.subscribe(url, "C0OPS")
    feed_server.serve("/flaky.xml", b"boom", status=500)
    waits = []
    for _ in range(30):
        feed = bot.feed(url)
        if feed.status != "active":
            break
        report = bot.poll_at(aware(feed.next_check_at))
        assert report.outcomes[0].error and "500" in report.outcomes[0].error
        waits.append(aware(bot.feed(url).next_check_at) - bot.now)
    feed = bot.feed(url)
    assert feed.status == "paused"
    # 15 min, 30 min, 1 h, 2 h, 4 h, then capped at 6 h: about a day of failures.
    assert waits[:6] == [timedelta(minutes=15 * 2**n) for n in range(5)] + [MAX_BACKOFF]
    assert 8 <= len(waits) <= 11
    (message,) = fake_slack.posted()
    assert message["channel"] == "C0OPS"
    text = message["text"]
    assert "HTTP 500" in text and f"/devops resume {url}" in text
    assert f"devopsbot feeds resume {url}" in text

    # Paused means paused: no more fetches, no more messages.
    hits = len(feed_server.hits("/flaky.xml"))
    assert bot.poll(days(3)).outcomes == []
    assert len(feed_server.hits("/flaky.xml")) == hits and len(fake_slack.posted()) == 1

    # Resuming reactivates the feed and checks it at once.
    feed_server.serve("/flaky.xml", seed())
    with bot.sessions.begin() as session:
        view = resume(session, url)
    assert view.status == "active"
    report = bot.poll(timedelta(seconds=1))
    assert report.outcomes[0].status == "updated" and bot.feed(url).consecutive_failures == 0


def test_a_second_failure_run_gets_its_own_single_message(bot, feed_server, fake_slack):
    url = feed_server.serve("/flaky.xml", seed())
    bot.subscribe(url, "C0OPS")
    for round_ in range(2):
        feed_server.serve("/flaky.xml", b"boom", status=503)
        while bot.feed(url).status == "active":
            bot.poll_at(aware(bot.feed(url).next_check_at))
        assert len(fake_slack.posted()) == round_ + 1
        with bot.sessions.begin() as session:
            resume(session, url)
        feed_server.serve("/flaky.xml", seed())
        bot.poll(timedelta(seconds=1))
    with bot.sessions() as session:
        assert len(session.scalars(select(Notice)).all()) == 2


def test_429_and_503_honour_retry_after(bot, feed_server):
    url = feed_server.serve("/busy.xml", seed())
    bot.subscribe(url, None)
    feed_server.serve("/busy.xml", b"slow down", status=429, headers={"Retry-After": "7200"})
    report = bot.poll()
    assert "rate limiting" in report.outcomes[0].error
    assert aware(bot.feed(url).next_check_at) - bot.now == timedelta(hours=2)
    feed_server.serve("/busy.xml", b"", status=503, headers={"Retry-After": "999999"})
    bot.poll(timedelta(hours=3))
    # Retry-After is honoured within sane bounds (a day at most).
    assert aware(bot.feed(url).next_check_at) - bot.now == timedelta(hours=24)


def test_backoff_is_exponential_and_capped():
    base = timedelta(minutes=15)
    assert [backoff(n, base) for n in (1, 2, 3)] == [base, base * 2, base * 4]
    assert backoff(20, base) == MAX_BACKOFF
    assert backoff(1, base, retry_after=3600) == timedelta(hours=1)


def test_malformed_but_readable_xml_is_used_and_unreadable_is_an_error(
    bot, feed_server, fake_slack
):
    good = feed_server.serve("/ok.xml", rss([rss_item("Old", guid="old")]))
    bad = feed_server.serve("/bad.xml", rss([rss_item("Old", guid="old")]))
    bot.subscribe(good, "C0OPS")
    bot.subscribe(bad, "C0OPS")
    # An unescaped ampersand and an unclosed tag: feedparser still reads it (bozo).
    sloppy = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Ops & Co</title>'
        b"<item><title>Fish & chips</title><guid>fc</guid><description>tasty<br></description>"
        b'</item><item><title>Old</title><guid isPermaLink="false">old</guid></item>'
        b"</channel></rss>"
    )
    feed_server.serve("/ok.xml", sloppy)
    feed_server.serve("/bad.xml", b"\x00\x01 this is not xml {")
    report = bot.poll()
    by_url = {o.url: o for o in report.outcomes}
    assert by_url[good].status == "updated" and len(by_url[good].new_articles) == 1
    assert by_url[bad].status == "error" and "not an RSS or Atom feed" in by_url[bad].error
    assert bot.feed(bad).last_error == by_url[bad].error
    assert bot.feed(bad).consecutive_failures == 1
    (post,) = fake_slack.posted()
    assert "Fish &amp; chips" in post["text"]


def test_a_feed_is_claimed_by_one_poller_at_a_time(bot, feed_server):
    urls = [feed_server.serve(f"/f{n}.xml", seed()) for n in range(3)]
    for url in urls:
        bot.subscribe(url, None)
    later = bot.now + timedelta(hours=1)
    with bot.sessions.begin() as session:
        first = claim_due_feeds(session, later, 1)
    with bot.sessions.begin() as session:
        rest = claim_due_feeds(session, later, 10)
    with bot.sessions.begin() as session:
        none = claim_due_feeds(session, later, 10)
    assert len(first) == 1 and len(rest) == 2 and none == []
    assert sorted(s.url for s in first + rest) == sorted(urls)
    # A claim whose holder died runs out and the feed is taken again.
    with bot.sessions.begin() as session:
        again = claim_due_feeds(session, later + timedelta(minutes=6), 10)
    assert len(again) == 3


def test_one_broken_feed_does_not_stop_the_others(bot, feed_server, monkeypatch):
    urls = [feed_server.serve(f"/f{n}.xml", rss([rss_item("Old", guid="old")])) for n in range(3)]
    for url in urls:
        bot.subscribe(url, None)
    for n in range(3):
        feed_server.serve(
            f"/f{n}.xml", rss([rss_item("New", guid="new"), rss_item("Old", guid="old")])
        )
    import bot.feeds.refresh as refresh

    real = refresh.enqueue_articles

    def explode(session, feed_id, articles, now, passes):
        if feed_id == 2:
            raise RuntimeError("database hiccup")
        return real(session, feed_id, articles, now, passes)

    monkeypatch.setattr(refresh, "enqueue_articles", explode)
    report = bot.poll()
    statuses = {o.feed_id: o.status for o in report.outcomes}
    assert statuses == {1: "updated", 2: "error", 3: "updated"}
    failed = next(o for o in report.outcomes if o.feed_id == 2)
    assert "internal error" in failed.error and "Traceback" not in failed.error
    feed = bot.feed(2)
    assert feed.consecutive_failures == 1 and feed.claimed_until is None
    # The failed poll stored nothing, so the entry is still new next time.
    monkeypatch.setattr(refresh, "enqueue_articles", real)
    report = bot.poll()
    assert {o.feed_id: len(o.new_articles) for o in report.outcomes} == {1: 0, 2: 1, 3: 0}


def test_feeds_added_before_subscriptions_existed_are_still_polled(bot, feed_server):
    from bot.db.models import Subscription
    from bot.feeds.refresh import add_feed

    url = feed_server.serve("/legacy.xml", seed())
    with bot.sessions.begin() as session:
        assert add_feed(session, url, bot.settings)[2] is None  # the feed itself, not a page
        assert session.scalars(select(Subscription)).all() == []
        session.execute(update(Feed).values(next_check_at=bot.now))
    assert [o.url for o in bot.poll().outcomes] == [url]
