"""`devopsbot feeds log` and the delivery lines of `feeds list`, after real polls that post to
the fake Slack Web API, which refuses some channels (429 with Retry-After, HTTP 500, a slow
answer, an archived channel). Each store test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from feedkit import BOT_TOKEN, Bot, rss_item, seed, with_new_item
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import update

from bot.cli import cli
from bot.db.models import Delivery, utcnow
from bot.db.outbox import CLAIM_LEASE, MAX_REFUSALS
from bot.delivery_log import Owed, explain
from bot.subscriptions import pause

LOG_FIELDS = {
    "subscription_id",
    "feed_url",
    "feed_title",
    "channel_id",
    "item",
    "title",
    "url",
    "state",
    "reason",
    "detail",
    "at",
    "queued_at",
    "posted_at",
    "slack_ts",
    "retry_at",
    "attempts",
    "error",
    "error_kind",
}
DELIVERY_FIELDS = {
    "waiting",
    "reason",
    "retry_at",
    "error",
    "attempts",
    "last_posted_at",
    "given_up",
    "summary",
    "problem",
}
FIRST = rss_item(
    "First <news>", link="/blog/first", guid="first", published=datetime(2024, 12, 1, tzinfo=UTC)
)
SECOND = rss_item(
    "Second", link="/blog/second", guid="second", published=datetime(2024, 12, 2, tzinfo=UTC)
)


def moment(value: datetime) -> str:
    """How the CLI prints a time."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    # Slack's Retry-After is honoured by the outbox, not by sleeping inside the call.
    handlers = b.client.retry_handlers
    handlers[:] = [h for h in handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    handlers.append(RateLimitErrorRetryHandler(max_retry_count=0))
    yield b
    b.close()


@pytest.fixture
def run(db_url, fake_slack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env file
    env = {
        "DEVOPSBOT_DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": fake_slack.api_url,
        "HOME": str(tmp_path),
    }

    def invoke(*args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(cli, list(args), env=env)
        if not ok:
            assert result.exit_code == 1 and "Traceback" not in result.stderr
            return result.stderr
        assert result.exit_code == 0, result.output + result.stderr
        return result.output

    return invoke


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def entry(lines: list[dict], channel: str, title: str) -> dict:
    (found,) = [e for e in lines if e["channel_id"] == channel and e["title"] == title]
    return found


def test_log_and_list_say_what_was_posted_and_why_the_rest_waits(bot, feed_server, fake_slack, run):
    url = feed_server.serve("/e13.xml", seed(), etag='"v1"')
    for channel in ("C0POSTED", "C0LIMITED", "C0FAILING"):
        bot.subscribe(url, channel)
    feed_server.serve("/e13.xml", with_new_item(with_new_item(seed(), FIRST), SECOND), etag='"v2"')
    fake_slack.queue(
        "chat.postMessage",
        {"ok": False, "error": "ratelimited"},
        429,
        {"Retry-After": "600"},
        channel="C0LIMITED",
    )
    fake_slack.queue(
        "chat.postMessage",
        {"ok": False, "error": "internal_error"},
        500,
        times=2,
        channel="C0FAILING",
    )
    report = bot.poll()
    limited_until = bot.now + timedelta(seconds=600)
    assert report.delivery.posted == 2 and report.delivery.retrying == 2
    # The first 500 is retried 30 s later and fails again: attempt 2, next try 60 s on.
    assert bot.poll(timedelta(minutes=1)).delivery.retrying == 1
    failing_retry = bot.now + timedelta(seconds=60)

    out = run("feeds", "log")
    posted = [p for p in fake_slack.posted() if p["channel"] == "C0POSTED"]
    assert len(posted) == 2
    first_ts = fake_slack.messages("C0POSTED")[0]["ts"]
    assert "posted    C0POSTED      First <news> (E13 Capital & Technology Blog)" in out
    assert f"posted, Slack ts {first_ts}" in out
    assert f"waiting: rate limited by Slack until {moment(limited_until)}" in out
    assert (
        "waiting: behind an earlier post to this channel, rate limited by Slack until "
        f"{moment(limited_until)}"
    ) in out
    assert (
        f"waiting: delayed, retrying at {moment(failing_retry)} after Slack answered HTTP 500 "
        "(internal_error) (2 failed tries; retried until Slack takes it)"
    ) in out

    lines = jsonl(run("feeds", "log", "--json"))
    assert len(lines) == 6 and all(set(line) == LOG_FIELDS for line in lines)
    times = [datetime.fromisoformat(line["at"]) for line in lines]
    assert times == sorted(times, reverse=True)  # newest first
    first_posted = entry(lines, "C0POSTED", "First <news>")
    assert first_posted["state"] == "posted" and first_posted["reason"] is None
    assert first_posted["slack_ts"] == first_ts
    assert first_posted["url"] == "https://e13.dev/blog/first"
    limited = entry(lines, "C0LIMITED", "First <news>")
    assert (limited["state"], limited["reason"], limited["error_kind"]) == (
        "waiting",
        "rate_limited",
        "rate_limited",
    )
    assert datetime.fromisoformat(limited["retry_at"]) == limited_until
    assert "Retry-After 600s" in limited["error"]
    assert entry(lines, "C0LIMITED", "Second")["reason"] == "behind"
    failing = entry(lines, "C0FAILING", "First <news>")
    assert (failing["reason"], failing["attempts"], failing["error_kind"]) == (
        "retrying",
        2,
        "slack_error",
    )
    assert failing["error"] == "Slack answered HTTP 500 (internal_error)"

    # One feed's subscription in one channel; --limit keeps the newest.
    only = jsonl(run("feeds", "log", url, "--channel", "C0LIMITED", "--json", "--limit", "1"))
    assert [(e["channel_id"], e["state"]) for e in only] == [("C0LIMITED", "waiting")]

    listed = run("feeds", "list")
    assert "delivery: last posted" in listed
    assert (
        f"delivery: 2 posts are waiting: rate limited by Slack until {moment(limited_until)}"
        in listed
    )
    assert (
        f"delivery: 2 posts are waiting: delayed, retrying at {moment(failing_retry)} after "
        "Slack answered HTTP 500 (internal_error) (2 failed tries; retried until Slack takes it)"
        in listed
    )
    rows = {r["channel_id"]: r["delivery"] for r in jsonl(run("feeds", "list", "--json"))}
    assert all(set(d) == DELIVERY_FIELDS for d in rows.values())
    assert (rows["C0LIMITED"]["waiting"], rows["C0LIMITED"]["reason"]) == (2, "rate_limited")
    assert datetime.fromisoformat(rows["C0LIMITED"]["retry_at"]) == limited_until
    assert (rows["C0FAILING"]["reason"], rows["C0FAILING"]["attempts"]) == ("retrying", 2)
    assert rows["C0POSTED"]["waiting"] == 0 and rows["C0POSTED"]["last_posted_at"]

    # Once Slack takes them, the log says they were posted late, and why.
    assert bot.poll(timedelta(minutes=15)).delivery.posted == 4
    lines = jsonl(run("feeds", "log", "--json"))
    assert {e["state"] for e in lines} == {"posted"}
    late = entry(lines, "C0FAILING", "First <news>")
    assert late["attempts"] == 3
    assert late["detail"].endswith(
        "on attempt 3 (earlier: Slack answered HTTP 500 (internal_error))"
    )
    assert "2 posts are waiting" not in run("feeds", "list")


def test_a_post_slack_keeps_refusing_is_given_up_and_listed_as_a_problem(
    bot, feed_server, fake_slack, run
):
    url = feed_server.serve("/e13.xml", seed(), etag='"v1"')
    bot.subscribe(url, "C0BAD")
    feed_server.serve("/e13.xml", with_new_item(seed(), FIRST), etag='"v2"')
    # Slack's own trouble first: it does not bring the post nearer to being given up.
    unavailable = {"ok": False, "error": "service_unavailable"}
    fake_slack.queue("chat.postMessage", unavailable, 503, times=3)
    fake_slack.queue(
        "chat.postMessage", {"ok": False, "error": "invalid_blocks"}, times=MAX_REFUSALS
    )
    for _ in range(3 + MAX_REFUSALS - 1):
        bot.poll(timedelta(hours=2))  # past the longest back-off
    (line,) = jsonl(run("feeds", "log", "--json"))
    assert (line["state"], line["reason"], line["error_kind"]) == ("waiting", "retrying", "refused")
    assert (
        f"after Slack answered invalid_blocks (refused {MAX_REFUSALS - 1} of {MAX_REFUSALS} "
        "times before it is given up)"
    ) in line["detail"]
    bot.poll(timedelta(hours=2))
    assert len(fake_slack.posted()) == 3 + MAX_REFUSALS

    (line,) = jsonl(run("feeds", "log", "--json"))
    assert (line["state"], line["attempts"], line["error"], line["error_kind"]) == (
        "given_up",
        3 + MAX_REFUSALS,
        "Slack answered invalid_blocks",
        "refused",
    )
    given_up = (
        f"given up after Slack refused it {MAX_REFUSALS} times: Slack answered invalid_blocks"
    )
    assert given_up in run("feeds", "log")
    listed = run("feeds", "list")
    assert "delivery: last posted" not in listed and "delivery: nothing posted yet" in listed
    assert (
        "problems: 1 post given up in the last 7 days; latest "
        f"{moment(datetime.fromisoformat(line['at']))}: “First <news>”: "
        "Slack answered invalid_blocks"
    ) in listed
    # A week later it is no longer a recent problem, but the log still has it.
    with bot.sessions.begin() as session:
        session.execute(update(Delivery).values(claimed_at=utcnow() - timedelta(days=8)))
    assert "problems:" not in run("feeds", "list")
    assert given_up in run("feeds", "log", url)
    assert "No feed with the address" in run("feeds", "log", "https://nowhere.example/x", ok=False)


def test_paused_broken_and_filtered_posts_say_why(bot, feed_server, fake_slack, run):
    url = feed_server.serve("/e13.xml", seed(), etag='"v1"')
    paused = bot.subscribe(url, "C0PAUSED").subscription
    bot.subscribe(url, "C0ARCHIVED")
    bot.subscribe(url, "C0FILTER", include=["kubernetes"])
    feed_server.serve("/e13.xml", with_new_item(seed(), FIRST), etag='"v2"')
    client, bot.client = bot.client, None  # this tick owes the posts but cannot post them
    bot.poll()
    with bot.sessions.begin() as session:
        pause(session, str(paused.id))
    bot.client = client
    fake_slack.queue(
        "chat.postMessage", {"ok": False, "error": "is_archived"}, channel="C0ARCHIVED"
    )
    bot.poll(timedelta(minutes=1))

    lines = {e["channel_id"]: e for e in jsonl(run("feeds", "log", "--json"))}
    assert (lines["C0PAUSED"]["state"], lines["C0PAUSED"]["reason"]) == ("waiting", "paused")
    assert lines["C0ARCHIVED"]["reason"] == "broken"
    assert lines["C0ARCHIVED"]["error_kind"] == "channel"
    assert lines["C0FILTER"]["state"] == "filtered"
    out = run("feeds", "log")
    assert "waiting: the subscription is paused" in out
    assert "waiting: the subscription is broken: the channel is archived (is_archived)" in out
    assert "not posted: the subscription's filters leave it out" in out
    listed = run("feeds", "list")
    assert "delivery: 1 post is waiting: the subscription is paused" in listed


def test_a_slack_timeout_is_logged_and_found_in_the_channel_on_retry(
    db_url, fake_slack, feed_server, run
):
    bot = Bot.open(db_url, fake_slack.api_url, devopsbot_http_timeout=1.0)
    try:
        url = feed_server.serve("/e13.xml", seed(), etag='"v1"')
        bot.subscribe(url, "C0SLOW")
        feed_server.serve("/e13.xml", with_new_item(seed(), FIRST), etag='"v2"')
        fake_slack.answer_late("chat.postMessage", 1.5)  # taken at once, answered too late
        assert bot.poll().delivery.retrying == 1
        (line,) = jsonl(run("feeds", "log", "--json"))
        assert (line["reason"], line["error_kind"]) == ("retrying", "timeout")
        assert "Slack did not answer within 1s (timeout)" in line["detail"]
        assert "(1 failed try; retried until Slack takes it)" in line["detail"]
        time.sleep(0.6)  # the late answer is sent (and dropped) before the retry
        report = bot.poll(timedelta(minutes=1)).delivery
        assert (report.posted, report.found) == (0, 1)
        (message,) = fake_slack.messages("C0SLOW")
        (line,) = jsonl(run("feeds", "log", "--json"))
        assert (line["state"], line["slack_ts"]) == ("posted", message["ts"])
        assert "it had gone through (found in the channel's history" in line["detail"]
    finally:
        bot.close()


# -- why a post waits, without a database ------------------------------------------------------

NOW = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


def owed(n: int, channel: str = "C0A", **changes) -> Owed:
    values = {
        "kind": "article",
        "id": n,
        "subscription_id": 1,
        "channel_id": channel,
        "sub_status": "active",
        "sub_reason": None,
        "sort_at": NOW - timedelta(hours=1) + timedelta(seconds=n),
        "next_attempt_at": NOW - timedelta(hours=1),
        "state": "pending",
        "claimed_at": None,
        "attempts": 0,
        "error": None,
        "error_kind": None,
    }
    return Owed(**{**values, **changes})


def reasons(*rows: Owed) -> list[str]:
    found = explain(rows, NOW)
    return [found[(r.kind, r.id)].reason for r in rows]


def test_a_post_waiting_for_its_retry_holds_the_later_posts_of_its_channel_only():
    failing = owed(1, error="Slack answered HTTP 500", next_attempt_at=NOW + timedelta(minutes=1))
    later = owed(2, subscription_id=2)  # another feed, same channel
    elsewhere = owed(3, channel="C0B")
    assert reasons(later, failing, elsewhere) == ["behind", "retrying", "queued"]
    assert explain([failing, later], NOW)[("article", 2)].behind.error == failing.error


def test_a_rate_limit_that_has_passed_is_queued_and_a_fresh_claim_is_being_posted():
    passed = owed(1, error="Slack rate limit", error_kind="rate_limited")
    claimed = owed(2, channel="C0B", state="claimed", claimed_at=NOW - timedelta(seconds=5))
    stale = owed(3, channel="C0C", state="claimed", claimed_at=NOW - CLAIM_LEASE * 2)
    assert reasons(passed, claimed, stale) == ["queued", "posting", "queued"]


def test_paused_and_broken_subscriptions_hold_nothing_of_other_feeds():
    paused = owed(1, sub_status="paused", sub_reason="paused on request")
    broken = owed(2, subscription_id=3, sub_status="broken", sub_reason="archived")
    other = owed(3, subscription_id=2)
    assert reasons(paused, broken, other) == ["paused", "broken", "queued"]


def test_a_notice_reads_in_the_log_as_it_does_in_slack():
    """Notices are stored as plain facts; the log words them, not their JSON."""
    from bot.db.outbox import notice_payload
    from bot.delivery_log import notice_plain

    stored = notice_payload("gone", feed="Ops Blog", url="https://ops.example/feed.xml")
    line = notice_plain(stored)
    assert "Ops Blog is gone: https://ops.example/feed.xml answered HTTP 410" in line
    assert "{" not in line and '"kind"' not in line
    # Rows stored before notices were facts hold finished mrkdwn: still one plain line.
    assert notice_plain(":no_entry: *Old* is <https://x.example/|gone>") == ":no_entry: Old is gone"
