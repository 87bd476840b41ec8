"""App Home shows how each subscription's delivery is going: a signed app_home_opened event to
the app in HTTP mode, after real polls that post to the fake Slack Web API (which refuses some
channels), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from conftest import make_settings, serve_app
from feedkit import Bot, rss_item, seed, with_new_item
from slack_harness import SlackClientSim, wait_for
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.db.outbox import MAX_REFUSALS
from bot.delivery_log import DeliveryStatus, LogEntry, Waiting
from bot.runtime import open_runtime
from bot.slack.home import MAX_HOME_BLOCKS, home_view

HOSTILE = rss_item("<!channel> *boom*", link="/blog/boom", guid="boom")
LATER = rss_item(
    "Later", link="/blog/later", guid="later", published=datetime(2024, 12, 9, tzinfo=UTC)
)


@pytest.fixture
def app_sim(db_url, fake_slack):
    """The app in HTTP mode on `db_url`, and a client that signs requests as Slack does."""
    runtime = open_runtime(make_settings(db_url, fake_slack.api_url))
    server = serve_app(runtime)
    sim = SlackClientSim(server.url, fake_slack)
    yield sim
    sim.close()
    server.stop()
    runtime.engine.dispose()


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    handlers = b.client.retry_handlers  # Retry-After is the outbox's to honour, not a sleep's
    handlers[:] = [h for h in handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    handlers.append(RateLimitErrorRetryHandler(max_retry_count=0))
    yield b
    b.close()


def open_home(sim: SlackClientSim, fake_slack) -> dict:
    before = len(fake_slack.posted("views.publish"))
    sim.event({"type": "app_home_opened", "user": "U0VIEWER1", "channel": "D1", "tab": "home"})
    publish = wait_for(lambda: (p := fake_slack.posted("views.publish")) and len(p) > before and p)
    view = publish[-1]["view"]
    return view if isinstance(view, dict) else json.loads(view)


def section_of(view: dict, channel: str) -> str:
    (text,) = [
        b["text"]["text"]
        for b in view["blocks"]
        if b["type"] == "section" and f"<#{channel}>" in b["text"]["text"]
    ]
    return text


def token(moment: datetime) -> str:
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|"


def test_home_shows_waiting_rate_limited_posted_and_given_up(app_sim, bot, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed(), etag='"v1"')
    for channel in ("C0FINE", "C0BAD", "C0LIMITED"):
        bot.subscribe(url, channel)
    feed_server.serve("/e13.xml", with_new_item(seed(), HOSTILE), etag='"v2"')
    fake_slack.queue(
        "chat.postMessage",
        {"ok": False, "error": "invalid_blocks"},
        times=MAX_REFUSALS,
        channel="C0BAD",
    )
    for _ in range(MAX_REFUSALS):
        bot.poll(timedelta(hours=2))
    gave_up_at = bot.now
    feed_server.serve("/e13.xml", with_new_item(with_new_item(seed(), HOSTILE), LATER), etag='"v3"')
    fake_slack.queue(
        "chat.postMessage",
        {"ok": False, "error": "ratelimited"},
        429,
        {"Retry-After": "900"},
        channel="C0LIMITED",
    )
    assert bot.poll(timedelta(hours=2)).delivery.retrying == 1

    view = open_home(app_sim, fake_slack)
    limited = section_of(view, "C0LIMITED")
    until = bot.now + timedelta(seconds=900)
    assert f":outbox_tray: 1 post is waiting: rate limited by Slack until {token(until)}" in limited
    assert ":outbox_tray: last posted <!date^" in section_of(view, "C0FINE")
    bad = section_of(view, "C0BAD")
    assert ":outbox_tray: last posted <!date^" in bad  # the later post went out
    assert (f":warning: 1 post given up in the last 7 days; latest {token(gave_up_at)}") in bad
    assert "“&lt;!channel&gt; \u200b*\u200bboom\u200b*\u200b”: Slack answered invalid_blocks" in bad
    assert "<!channel>" not in json.dumps(view)
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS


def test_delivery_lines_keep_the_home_within_block_kit_limits():
    long_error = "Slack answered " + "x" * 5000
    gave_up = LogEntry(
        row_id=1,
        subscription_id=1,
        feed_url="https://e13.dev/feed.xml",
        feed_title="E13",
        channel_id="C0DEVOPS1",
        item="article",
        title="<!here> " + "t" * 2000,
        url=None,
        state="given_up",
        at=datetime(2026, 12, 1, tzinfo=UTC),
        queued_at=datetime(2026, 12, 1, tzinfo=UTC),
        attempts=12,
        error=long_error,
    )
    status = DeliveryStatus(
        waiting=3,
        first=Waiting("retrying", datetime(2026, 12, 1, tzinfo=UTC), long_error, attempts=4),
        given_up=2,
        last_given_up=gave_up,
    )
    subs = [
        SimpleNamespace(
            id=n,
            feed_url=f"https://e13.dev/{n}.xml",
            feed_title="F" * 500,
            site_url=None,
            channel_id=f"C0CHAN{n:04d}",
            status="active",
            status_reason=None,
            last_success_at=None,
            last_error="e" * 3000,
            consecutive_failures=3,
            next_check_at=None,
            delivery=status,
        )
        for n in range(150)
    ]
    view = home_view(subs, [("q" * 400, 3)] * 20, can_manage=True)
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert max(len(t) for t in texts) <= 3000
    assert any("retrying at <!date^" in t and "(4 failed tries; retried" in t for t in texts)
    assert "<!here>" not in json.dumps(view)
