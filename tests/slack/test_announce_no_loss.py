"""No post lost, none posted twice where Slack can tell us: rate limits, Slack's own errors,
answers lost to a timeout and claims left by a killed process, through the real pipeline
against the fake Slack Web API (which serves conversations.history from what it accepted).

Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from feedkit import Bot, aware, rss_item, seed, with_new_item
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import select, update

from bot.db.models import Delivery, Notice
from bot.slack.announce import RETRY_BASE
from bot.slack.app import make_client
from bot.slack.reconcile import PAGE, CannotLook, Found, NotThere, delivery_metadata, find_posted

NEW_ITEM = rss_item(
    "Rolling out Kubernetes 1.31",
    link="/blog/new-post",
    guid="new-post-1",
    published=datetime(2024, 12, 1, tzinfo=UTC),
)
NO_SCOPE = {"ok": False, "error": "missing_scope", "needed": "channels:history"}


def open_bot(db_url: str, api_url: str, **overrides) -> Bot:
    bot = Bot.open(db_url, api_url, **overrides)
    # Retry-After is honoured by the outbox here, not by sleeping inside the call.
    handlers = bot.client.retry_handlers
    handlers[:] = [h for h in handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    handlers.append(RateLimitErrorRetryHandler(max_retry_count=0))
    return bot


@pytest.fixture
def bot(db_url, fake_slack):
    b = open_bot(db_url, fake_slack.api_url)
    yield b
    b.close()


@pytest.fixture
def slow_bot(db_url, fake_slack):
    """A bot whose Slack calls time out after 1 s."""
    b = open_bot(db_url, fake_slack.api_url, devopsbot_http_timeout=1.0)
    yield b
    b.close()


def owe_one_post(bot: Bot, feed_server, channel: str) -> None:
    url = feed_server.serve("/e13.xml", seed(), etag='"v1"')
    bot.subscribe(url, channel)
    feed_server.serve("/e13.xml", with_new_item(seed(), NEW_ITEM), etag='"v2"')


def the_delivery(bot: Bot) -> Delivery:
    with bot.sessions() as session:
        (row,) = session.scalars(select(Delivery).where(Delivery.state != "filtered")).all()
        session.expunge(row)
        return row


def tagged(message: dict, kind: str, row_id: int) -> bool:
    return message.get("metadata") == {
        "event_type": "devopsbot_delivery",
        "event_payload": {"delivery": f"{kind}:{row_id}"},
    }


def test_twenty_429s_then_a_500_are_waited_out_and_the_post_goes_out_once(
    bot, feed_server, fake_slack
):
    owe_one_post(bot, feed_server, "C0BUSY")
    limited = {"ok": False, "error": "ratelimited"}
    fake_slack.queue("chat.postMessage", limited, 429, {"Retry-After": "1"}, times=20)
    fake_slack.queue("chat.postMessage", {"ok": False, "error": "internal_error"}, 500)
    bot.poll()
    for _ in range(19):
        assert bot.poll(timedelta(seconds=2)).delivery.retrying == 1
    row = the_delivery(bot)
    assert (row.state, row.attempts, row.last_error_kind) == ("pending", 0, "rate_limited")

    assert bot.poll(timedelta(seconds=2)).delivery.retrying == 1  # the 500
    row = the_delivery(bot)
    assert (row.state, row.attempts, row.last_error_kind) == ("pending", 1, "slack_error")
    # Twenty rate limits before it did not stretch the back-off of the first real failure.
    assert aware(row.next_attempt_at) == bot.now + RETRY_BASE
    assert bot.poll(timedelta(seconds=10)).delivery.posted == 0  # still backing off

    assert bot.poll(RETRY_BASE).delivery.posted == 1
    (message,) = fake_slack.messages("C0BUSY")
    row = the_delivery(bot)
    assert (row.state, row.message_ts) == ("posted", message["ts"])
    assert len(fake_slack.posted()) == 22


def test_slack_being_down_for_a_day_never_gives_a_post_up(bot, feed_server, fake_slack):
    owe_one_post(bot, feed_server, "C0DOWN")
    down = {"ok": False, "error": "service_unavailable"}
    fake_slack.queue("chat.postMessage", down, 503, times=30)
    for _ in range(30):
        bot.poll(timedelta(hours=1))  # the back-off is capped at an hour
    row = the_delivery(bot)
    assert (row.state, row.attempts, row.refusals) == ("pending", 30, 0)
    assert bot.poll(timedelta(hours=1)).delivery.posted == 1
    assert len(fake_slack.messages("C0DOWN")) == 1


def test_every_announcement_and_notice_is_tagged_with_its_outbox_row(bot, feed_server, fake_slack):
    owe_one_post(bot, feed_server, "C0TAGS")
    assert bot.poll().delivery.posted == 1
    feed_server.serve("/e13.xml", b"gone", status=410)  # the feed is gone: one notice
    assert bot.poll().delivery.posted == 1
    with bot.sessions() as session:
        delivery_id = session.scalar(select(Delivery.id).where(Delivery.state == "posted"))
        notice_id = session.scalar(select(Notice.id))
    article, gone = fake_slack.posted()
    assert tagged(article, "article", delivery_id) and tagged(gone, "notice", notice_id)


@pytest.mark.parametrize("history", ["readable", "no_scope"])
def test_an_answer_lost_to_a_timeout_is_found_in_the_channel_unless_history_is_closed(
    slow_bot, feed_server, fake_slack, history
):
    bot = slow_bot
    owe_one_post(bot, feed_server, "C0SLOW")
    fake_slack.answer_late("chat.postMessage", 1.5)  # Slack takes the post, answers too late
    assert bot.poll().delivery.retrying == 1
    assert len(fake_slack.messages("C0SLOW")) == 1
    time.sleep(0.6)  # the late answer goes out (to nobody) before the retry
    if history == "no_scope":
        fake_slack.queue("conversations.history", NO_SCOPE)
    report = bot.poll(timedelta(minutes=1)).delivery
    (check,) = fake_slack.posted("conversations.history")
    assert check["channel"] == "C0SLOW" and check["include_all_metadata"] in ("1", "true")
    assert float(check["oldest"]) < float(fake_slack.messages("C0SLOW")[0]["ts"])
    messages = fake_slack.messages("C0SLOW")
    row = the_delivery(bot)
    if history == "readable":
        assert (report.found, report.posted) == (1, 0)
        assert len(messages) == 1 and row.message_ts == messages[0]["ts"]
    else:
        # The documented window: without channels:history the bot cannot look, so it posts.
        assert (report.found, report.posted) == (0, 1)
        assert len(messages) == 2 and row.message_ts == messages[1]["ts"]
    assert row.state == "posted"
    assert bot.poll(timedelta(minutes=5)).delivery.posted == 0


def test_a_history_check_that_fails_posts_nothing_and_is_tried_again(
    slow_bot, feed_server, fake_slack
):
    bot = slow_bot
    owe_one_post(bot, feed_server, "C0FLAKY")
    fake_slack.answer_late("chat.postMessage", 1.5)
    bot.poll()
    time.sleep(0.6)
    fake_slack.queue("conversations.history", {"ok": False, "error": "internal_error"}, 500)
    report = bot.poll(timedelta(minutes=1)).delivery
    assert (report.posted, report.found, report.retrying) == (0, 0, 1)
    row = the_delivery(bot)
    assert (row.state, row.unsure) == ("pending", True)
    assert "checking the channel for an earlier try" in row.last_error
    report = bot.poll(timedelta(minutes=5)).delivery
    assert (report.posted, report.found) == (0, 1)
    assert len(fake_slack.messages("C0FLAKY")) == 1


@pytest.mark.parametrize("history", ["readable", "no_scope"])
def test_a_claim_left_by_a_killed_process_after_slack_took_the_post_is_not_posted_again(
    bot, feed_server, fake_slack, history
):
    owe_one_post(bot, feed_server, "C0KILLED")
    assert bot.poll().delivery.posted == 1
    (accepted,) = fake_slack.messages("C0KILLED")
    # What kill -9 between Slack's answer and the database mark leaves: Slack has the message,
    # the row is still claimed by the dead process.
    with bot.sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.state == "posted")
            .values(
                state="claimed",
                claimed_at=bot.now,
                claimed_by="dead:1",
                posted_at=None,
                message_ts=None,
            )
        )
    assert bot.poll(timedelta(minutes=1)).delivery.posted == 0  # the claim is still fresh
    if history == "no_scope":
        fake_slack.queue("conversations.history", NO_SCOPE)
    report = bot.poll(timedelta(minutes=15)).delivery  # the claim's lease ran out
    row = the_delivery(bot)
    messages = fake_slack.messages("C0KILLED")
    if history == "readable":
        assert (report.found, report.posted) == (1, 0)
        assert messages == [accepted] and row.message_ts == accepted["ts"]
    else:
        assert (report.found, report.posted) == (0, 1) and len(messages) == 2
    assert row.state == "posted"
    assert len(fake_slack.posted("conversations.history")) == 1


def test_a_dropped_answer_is_not_resent_inside_the_call_but_looked_up(bot, feed_server, fake_slack):
    # The client `devopsbot run` posts with (the bolt app's): slack_sdk's connection-error
    # retry is on, and would resend a request Slack had taken before the connection dropped.
    bot.client = make_client(bot.settings)
    owe_one_post(bot, feed_server, "C0DROP")
    fake_slack.drop_answer("chat.postMessage")
    report = bot.poll().delivery
    assert report.retrying == 1 and len(fake_slack.posted()) == 1
    assert the_delivery(bot).last_error_kind == "network"
    report = bot.poll(timedelta(minutes=1)).delivery
    assert (report.found, report.posted) == (1, 0)
    assert len(fake_slack.messages("C0DROP")) == 1


def test_the_look_up_pages_through_a_busy_channel_and_ignores_untagged_messages(fake_slack):
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    since = datetime.now(UTC)
    client.chat_postMessage(channel="C0BUSY", text="ours", metadata=delivery_metadata("article", 7))
    for n in range(PAGE + 5):  # people talk meanwhile: our post is on the second page
        client.chat_postMessage(channel="C0BUSY", text=f"chatter {n}")
    (ours, *_) = fake_slack.messages("C0BUSY")
    assert find_posted(client, "C0BUSY", "article:7", since) == Found(ours["ts"])
    assert len(fake_slack.posted("conversations.history")) == 2
    assert find_posted(client, "C0BUSY", "article:8", since) == NotThere()
    fake_slack.queue("conversations.history", NO_SCOPE)
    assert find_posted(client, "C0BUSY", "article:7", since) == CannotLook("missing_scope")
