"""Digests and day threads end to end: a loopback feed, the fake Slack, a real store (SQLite and
PostgreSQL), restarts (a new runtime on the same database) and two replicas at one instant."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from feedkit import Bot, posted_title, rss, rss_item
from sqlalchemy import func, select

from bot.db.models import Delivery, DigestPost, ThreadPost, utcnow
from bot.scheduler import poll_once
from bot.subscriptions import SubscriptionError, change_subscription, list_subscriptions

_LINE = re.compile(r"^• <[^|>]+\|(.*)>$")
OLD = rss_item("Old", link="https://ops.example/old", guid="old")


def items(prefix: str, n: int) -> list[str]:
    """`n` entries, newest first as feeds list them."""
    return [
        rss_item(f"{prefix} {i}", link=f"https://ops.example/{prefix}/{i}", guid=f"{prefix}-{i}")
        for i in reversed(range(n))
    ]


def listed(post: dict) -> list[str]:
    """The titles a digest message lists, in order."""
    titles = []
    for block in post["blocks"][2:]:
        if block["type"] != "section":
            continue
        for line in block["text"]["text"].splitlines():
            match = _LINE.match(line)
            assert match, line
            titles.append(match.group(1))
    return titles


def digests(fake_slack) -> list[dict]:
    return [p for p in fake_slack.posted() if "new posts in" in p["text"]]


def day_after_tomorrow() -> date:
    """A day whose times are all in the future: the feeds' real next-check times have passed."""
    return (utcnow() + timedelta(days=2)).date()


def at(day: date, hour: int, minute: int = 0, tz: str = "UTC") -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(tz)).astimezone(UTC)


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


def _digest_sub(bot, feed_server) -> str:
    url = feed_server.serve("/ops.xml", rss([OLD]))
    sub = bot.subscribe(url, "C0OPS", digest="daily@09:00").subscription
    assert sub.digest == "daily@09:00 UTC"  # stored with the zone it is read in
    return url


def test_a_daily_digest_of_50_entries_is_one_message_at_its_time_across_a_restart(
    db_url, bot, feed_server, fake_slack
):
    day = day_after_tomorrow()
    _digest_sub(bot, feed_server)
    feed_server.serve("/ops.xml", rss([*items("Post", 50), OLD]))
    report = bot.poll_at(at(day, 8, 0))
    assert report.new == 50 and fake_slack.posted() == []  # collected, not posted
    assert report.owed == 0  # nothing is owed before the digest's time
    with bot.sessions() as session:
        (view,) = list_subscriptions(session)
    assert view.collected == 50 and view.digest == "daily@09:00 UTC"
    assert view.next_digest_at.hour == 9 and utcnow() < view.next_digest_at <= at(day, 9)
    assert bot.poll_at(at(day, 8, 59)).digests == 0 and fake_slack.posted() == []
    bot.close()

    # The bot was down at 09:00: the next runtime on the same store posts it at its first tick.
    later = Bot.open(db_url, fake_slack.api_url)
    report = later.poll_at(at(day, 9, 40))
    assert report.digests == 1 and report.delivery.posted == 1
    (post,) = digests(fake_slack)
    assert post["channel"] == "C0OPS" and "thread_ts" not in post
    assert post["text"] == "50 new posts in Ops Blog"
    assert listed(post) == [f"Post {i}" for i in range(50)]  # each once, oldest first
    assert len(post["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in post["blocks"] if b["type"] == "section")
    # Another restart posts nothing again.
    later.close()
    again = Bot.open(db_url, fake_slack.api_url)
    assert again.poll_at(at(day, 9, 50)).delivery.posted == 0
    assert len(fake_slack.posted()) == 1
    with again.sessions() as session:
        states = Counter(session.scalars(select(Delivery.state)))
    assert states == {"posted": 50}
    again.close()


def test_a_digest_made_without_a_token_is_posted_once_after_a_restart(
    db_url, bot, feed_server, fake_slack
):
    day = day_after_tomorrow()
    _digest_sub(bot, feed_server)
    feed_server.serve("/ops.xml", rss([*items("Post", 5), OLD]))
    bot.poll_at(at(day, 8))
    no_token = Bot.open(db_url, None)
    report = no_token.poll_at(at(day, 9, 1))
    assert report.digests == 1 and report.owed == 1 and fake_slack.posted() == []
    no_token.close()
    assert bot.poll_at(at(day, 9, 2)).delivery.posted == 1
    assert bot.poll_at(at(day, 9, 3)).delivery.posted == 0
    (post,) = fake_slack.posted()
    assert listed(post) == [f"Post {i}" for i in range(5)]


def test_two_replicas_at_the_same_instant_post_the_digest_once(db_url, fake_slack, feed_server):
    bots = [Bot.open(db_url, fake_slack.api_url) for _ in range(2)]
    day = day_after_tomorrow()
    url = feed_server.serve("/ops.xml", rss([OLD]))
    for channel in ("C0ONE", "C0TWO"):
        bots[0].subscribe(url, channel, digest="daily@09:00")
    feed_server.serve("/ops.xml", rss([*items("Post", 50), OLD]))
    bots[0].poll_at(at(day, 8))
    when = at(day, 9)
    barrier = threading.Barrier(2)
    reports: list = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        reports[i] = poll_once(bots[i].runtime, bots[i].client, now=when, pacer=bots[i].pacer)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.digests for r in reports) == 2  # one per subscription, whoever made it
    assert sum(r.delivery.posted for r in reports) == 2
    posts = digests(fake_slack)
    assert sorted(p["channel"] for p in posts) == ["C0ONE", "C0TWO"]
    for post in posts:
        assert Counter(listed(post)) == Counter(f"Post {i}" for i in range(50))
    with bots[0].sessions() as session:
        assert session.scalar(select(func.count()).select_from(DigestPost)) == 2
    for b in bots:
        b.close()


def test_entries_after_a_digest_go_to_the_next_one(bot, feed_server, fake_slack):
    day = day_after_tomorrow()
    _digest_sub(bot, feed_server)
    feed_server.serve("/ops.xml", rss([*items("A", 3), OLD]))
    bot.poll_at(at(day, 8))
    assert bot.poll_at(at(day, 9, 0)).delivery.posted == 1
    feed_server.serve("/ops.xml", rss([*items("B", 2), *items("A", 3), OLD]))
    report = bot.poll_at(at(day, 10))
    assert report.new == 2 and report.delivery.posted == 0
    assert bot.poll_at(at(day + timedelta(days=1), 8, 59)).delivery.posted == 0
    assert bot.poll_at(at(day + timedelta(days=1), 9, 0)).delivery.posted == 1
    first, second = digests(fake_slack)
    assert listed(first) == ["A 0", "A 1", "A 2"] and listed(second) == ["B 0", "B 1"]
    assert second["text"] == "2 new posts in Ops Blog"


def test_a_day_without_entries_posts_no_digest(bot, feed_server, fake_slack):
    day = day_after_tomorrow()
    _digest_sub(bot, feed_server)
    bot.poll_at(at(day, 8))
    assert bot.poll_at(at(day, 9, 5)).digests == 0
    assert fake_slack.posted() == []


def test_a_weekly_digest_in_a_time_zone_waits_for_its_local_time(bot, feed_server, fake_slack):
    day = day_after_tomorrow()
    monday = day + timedelta(days=(7 - day.weekday()) % 7 or 7)  # the next Monday after `day`
    url = feed_server.serve("/ops.xml", rss([OLD]))
    sub = bot.subscribe(url, "C0OPS", digest="weekly@mon 09:00 Europe/Berlin").subscription
    assert sub.digest == "weekly@mon 09:00 Europe/Berlin"
    feed_server.serve("/ops.xml", rss([*items("W", 4), OLD]))
    bot.poll_at(at(day, 8))
    local_nine = at(monday, 9, tz="Europe/Berlin")
    assert bot.poll_at(at(monday - timedelta(days=1), 12)).digests == 0  # Sunday: not yet
    assert bot.poll_at(local_nine - timedelta(minutes=1)).digests == 0
    assert bot.poll_at(local_nine + timedelta(minutes=1)).digests == 1
    (post,) = fake_slack.posted()
    assert listed(post) == ["W 0", "W 1", "W 2", "W 3"]
    assert "every Mon at 09:00 (Europe/Berlin)" in post["blocks"][1]["elements"][0]["text"]


def test_turning_a_digest_off_posts_what_it_collected_as_one_last_digest(
    bot, feed_server, fake_slack
):
    day = day_after_tomorrow()
    url = _digest_sub(bot, feed_server)
    feed_server.serve("/ops.xml", rss([*items("C", 3), OLD]))
    bot.poll_at(at(day, 7))
    with bot.sessions.begin() as session:
        (view,) = change_subscription(session, url, "C0OPS", digest="off")
    assert view.digest is None
    assert bot.poll_at(at(day, 7, 5)).delivery.posted == 1
    (post,) = fake_slack.posted()
    assert listed(post) == ["C 0", "C 1", "C 2"]
    feed_server.serve("/ops.xml", rss([*items("D", 1), *items("C", 3), OLD]))
    bot.poll_at(at(day, 8))
    assert posted_title(fake_slack.posted()[-1]) == "D 0"  # one message per entry again


@pytest.mark.parametrize(
    "schedule",
    ["hourly", "daily@25:00", "weekly@someday 09:00", "daily@09:00 Mars/Olympus", "daily"],
)
def test_an_invalid_schedule_names_the_accepted_forms_and_stores_nothing(
    bot, feed_server, schedule
):
    url = feed_server.serve("/ops.xml", rss([OLD]))
    with pytest.raises(SubscriptionError) as raised:
        bot.subscribe(url, "C0OPS", digest=schedule)
    message = str(raised.value)
    assert "daily@HH:MM or weekly@DAY HH:MM" in message or "IANA" in message
    assert feed_server.requests == []  # refused before fetching anything
    with bot.sessions() as session:
        assert list_subscriptions(session) == []
    bot.subscribe(url, "C0OPS")
    with bot.sessions.begin() as session, pytest.raises(SubscriptionError):
        change_subscription(session, url, "C0OPS", digest=schedule)
    with bot.sessions() as session:
        (view,) = list_subscriptions(session)
    assert view.digest is None


# -- day threads -------------------------------------------------------------------------------


def test_a_thread_per_day_one_parent_and_replies_in_order(bot, feed_server, fake_slack):
    day = day_after_tomorrow()
    url = feed_server.serve("/ops.xml", rss([OLD]))
    sub = bot.subscribe(url, "C0OPS", thread="daily").subscription
    assert sub.thread == "daily UTC"
    feed_server.serve("/ops.xml", rss([*items("M", 3), OLD]))
    bot.poll_at(at(day, 9))
    feed_server.serve("/ops.xml", rss([*items("N", 2), *items("M", 3), OLD]))
    bot.poll_at(at(day, 15))
    feed_server.serve("/ops.xml", rss([*items("T", 1), *items("N", 2), *items("M", 3), OLD]))
    bot.poll_at(at(day + timedelta(days=1), 9))
    posts = fake_slack.posted()
    parents = [p for p in posts if "thread_ts" not in p]
    assert [p["text"] for p in parents] == [
        f"New in Ops Blog — {d:%A}, {d.day} {d:%B %Y}" for d in (day, day + timedelta(days=1))
    ]
    # The parents' ts as Slack gave them: what their replies must name as thread_ts.
    shown = [m for m in fake_slack.messages("C0OPS") if "thread_ts" not in m]
    first_ts, second_ts = (m["ts"] for m in shown)
    replies = [(p["thread_ts"], posted_title(p)) for p in posts if "thread_ts" in p]
    assert replies == [
        (first_ts, "M 0"),
        (first_ts, "M 1"),
        (first_ts, "M 2"),
        (first_ts, "N 0"),
        (first_ts, "N 1"),
        (second_ts, "T 0"),
    ]


def test_two_replicas_make_one_parent_and_post_each_reply_once(db_url, fake_slack, feed_server):
    bots = [Bot.open(db_url, fake_slack.api_url) for _ in range(2)]
    day = day_after_tomorrow()
    url = feed_server.serve("/ops.xml", rss([OLD]))
    bots[0].subscribe(url, "C0OPS", thread="daily Europe/Berlin")
    feed_server.serve("/ops.xml", rss([*items("R", 6), OLD]))
    barrier = threading.Barrier(2)
    when = at(day, 10)

    def run(i: int) -> None:
        barrier.wait()
        poll_once(bots[i].runtime, bots[i].client, now=when, pacer=bots[i].pacer)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for b in bots:  # whatever one replica left (the other owned the channel) goes out now
        poll_once(b.runtime, b.client, now=when + timedelta(seconds=30), pacer=b.pacer)
    posts = fake_slack.posted()
    (parent,) = [p for p in posts if "thread_ts" not in p]
    replies = [p for p in posts if "thread_ts" in p]
    assert [posted_title(p) for p in replies] == [f"R {i}" for i in range(6)]
    assert posts.index(parent) == 0
    with bots[0].sessions() as session:
        assert session.scalar(select(func.count()).select_from(ThreadPost)) == 1
    for b in bots:
        b.close()


def test_a_reply_waits_while_its_parent_is_retried(bot, feed_server, fake_slack):
    day = day_after_tomorrow()
    url = feed_server.serve("/ops.xml", rss([OLD]))
    bot.subscribe(url, "C0OPS", thread="daily")
    feed_server.serve("/ops.xml", rss([*items("Q", 2), OLD]))
    fake_slack.queue("chat.postMessage", {"ok": False, "error": "internal_error"})
    report = bot.poll_at(at(day, 10))
    assert report.delivery.posted == 0 and report.owed == 3
    assert len(fake_slack.posted()) == 1  # only the parent was tried
    report = bot.poll_at(at(day, 10, 5))
    assert report.delivery.posted == 3
    parent, *replies = fake_slack.posted()[1:]
    assert "thread_ts" not in parent and all("thread_ts" in r for r in replies)
    assert [posted_title(r) for r in replies] == ["Q 0", "Q 1"]


def test_the_delivery_status_explains_collected_entries_and_a_retried_digest(
    bot, feed_server, fake_slack
):
    from bot.delivery_log import IN_DIGEST, RETRYING, delivery_log

    day = day_after_tomorrow()
    _digest_sub(bot, feed_server)
    feed_server.serve("/ops.xml", rss([*items("L", 2), OLD]))
    bot.poll_at(at(day, 8))
    with bot.sessions() as session:
        log = delivery_log(session, at(day, 8))
    assert {(e.title, e.state, e.waiting.reason) for e in log} == {
        ("L 0", "waiting", IN_DIGEST),
        ("L 1", "waiting", IN_DIGEST),
    }
    fake_slack.queue("chat.postMessage", {"ok": False, "error": "internal_error"})
    assert bot.poll_at(at(day, 9)).delivery.retrying == 1
    with bot.sessions() as session:
        (view,) = list_subscriptions(session)
    assert view.delivery.waiting == 1 and view.delivery.first.reason == RETRYING
    assert bot.poll_at(at(day, 9, 10)).delivery.posted == 1
    with bot.sessions() as session:
        log = delivery_log(session, at(day, 9, 10))
    assert {(e.title, e.state) for e in log} == {("L 0", "posted"), ("L 1", "posted")}
    assert len({e.slack_ts for e in log}) == 1  # both went out in the one digest message
