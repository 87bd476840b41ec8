"""Subscribing checks the bot can post in the channel: signed /devops commands and modal
submissions against the app in HTTP mode, Slack's Web API faked on loopback."""

from __future__ import annotations

import json

import pytest
from slack_harness import block_texts, modal_form, view_of, wait_for

from bot.slack.home_controls import CALLBACK_SUBSCRIBE
from bot.subscriptions import list_subscriptions


@pytest.fixture
def feed_url(feed_server, seed_feed) -> str:
    return feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))


def _subscribe(sim, url: str, channel: str, name: str) -> str:
    """Run `/devops subscribe URL <#channel>` and return the text of its reply."""
    response = sim.command(f"subscribe <{url}> <#{channel}|x>", response=name)
    assert response.status_code == 200
    return block_texts(sim.wait_response(name)[0])


def _stored(runtime) -> list[tuple[str, str | None]]:
    with runtime.sessions() as session:
        return [(s.feed_url, s.channel_id) for s in list_subscriptions(session)]


def _calls(fake_slack, method: str) -> list[str]:
    return [args.get("channel") for args in fake_slack.posted(method)]


def test_a_channel_the_bot_is_in_is_subscribed_without_joining(
    slack_sim, slack_runtime, fake_slack, feed_url
):
    fake_slack.channel("C0MEMBER1", "ops", member=True)
    text = _subscribe(slack_sim, feed_url, "C0MEMBER1", "m1")
    assert "Subscribed <#C0MEMBER1>" in text and "New posts will be announced there" in text
    assert "joined" not in text
    assert _calls(fake_slack, "conversations.info") == ["C0MEMBER1"]
    assert _calls(fake_slack, "conversations.join") == []
    assert _stored(slack_runtime) == [(feed_url, "C0MEMBER1")]


def test_a_public_channel_the_bot_is_not_in_is_joined_then_subscribed(
    slack_sim, slack_runtime, fake_slack, feed_url
):
    channel = fake_slack.channel("C0PUBLIC1", "news")
    text = _subscribe(slack_sim, feed_url, "C0PUBLIC1", "p1")
    assert "Subscribed <#C0PUBLIC1>" in text and "I joined <#C0PUBLIC1>" in text
    assert _calls(fake_slack, "conversations.join") == ["C0PUBLIC1"] and channel.member
    assert _stored(slack_runtime) == [(feed_url, "C0PUBLIC1")]


def test_a_private_channel_the_bot_is_not_in_is_refused_with_the_invite_to_do(
    slack_sim, slack_runtime, fake_slack, feed_server, feed_url
):
    fake_slack.channel("G0SECRET1", "secret", private=True)
    text = _subscribe(slack_sim, feed_url, "G0SECRET1", "s1")
    assert "invite <@UBOT> to <#G0SECRET1> first" in text and "/invite <@UBOT>" in text
    assert "Nothing was subscribed" in text and "Subscribed" not in text
    assert _calls(fake_slack, "conversations.join") == []
    assert _stored(slack_runtime) == []
    assert feed_server.requests == []  # refused before the feed was fetched


@pytest.mark.parametrize(
    ("archived", "expected"),
    [(True, "is archived"), (False, "no longer exists")],
    ids=["archived", "not-found"],
)
def test_an_archived_or_unknown_channel_is_refused(
    slack_sim, slack_runtime, fake_slack, feed_url, archived, expected
):
    if archived:
        fake_slack.channel("C0GONE001", "old-news", member=True, archived=True)
    else:
        fake_slack.channels["C0GONE001"] = None
    text = _subscribe(slack_sim, feed_url, "C0GONE001", "g1")
    assert expected in text and "invite <@UBOT> to <#C0GONE001> first" in text
    assert "Nothing was subscribed" in text
    assert _stored(slack_runtime) == []


def test_a_refused_join_stores_nothing_even_after_the_feed_was_fetched(
    slack_sim, slack_runtime, fake_slack, feed_server, feed_url
):
    fake_slack.channel("C0LOCKED1", "locked")
    fake_slack.queue("conversations.join", {"ok": False, "error": "restricted_action"})
    text = _subscribe(slack_sim, feed_url, "C0LOCKED1", "r1")
    assert "didn't let me join <#C0LOCKED1> (restricted_action)" in text
    assert "invite <@UBOT> to <#C0LOCKED1> first" in text
    assert feed_server.hits("/atom.xml")  # fetched, then rolled back with the subscription
    assert _stored(slack_runtime) == []


def test_a_slack_outage_or_token_error_during_the_check_stores_nothing_and_the_bot_carries_on(
    slack_sim, slack_runtime, fake_slack, feed_url
):
    fake_slack.queue("conversations.info", {"ok": False, "error": "fatal_error"}, status=500)
    text = _subscribe(slack_sim, feed_url, "C0OPS1234", "o1")
    assert "couldn't check that I can post in <#C0OPS1234>" in text and "HTTP 500" in text
    assert "Try again" in text and "Traceback" not in text and "Something went wrong" not in text
    assert _stored(slack_runtime) == []

    fake_slack.queue("conversations.info", {"ok": False, "error": "invalid_auth"})
    text = _subscribe(slack_sim, feed_url, "C0OPS1234", "o2")
    assert "rejected the bot token (invalid_auth)" in text and "SLACK_BOT_TOKEN" in text
    assert _stored(slack_runtime) == []

    # Slack is back: the same command now works.
    assert "Subscribed <#C0OPS1234>" in _subscribe(slack_sim, feed_url, "C0OPS1234", "o3")
    assert _stored(slack_runtime) == [(feed_url, "C0OPS1234")]


def test_subscribing_the_current_channel_checks_it_too(slack_sim, slack_runtime, fake_slack):
    fake_slack.channel("G0HERE001", "team-private", private=True)
    slack_sim.command(
        "subscribe https://example.com/feed.xml", channel_id="G0HERE001", response="h1"
    )
    text = block_texts(slack_sim.wait_response("h1")[0])
    assert "invite <@UBOT> to <#G0HERE001> first" in text
    assert _stored(slack_runtime) == []


def test_the_modal_refuses_a_private_channel_next_to_the_picker(
    slack_sim, slack_runtime, fake_slack, feed_server, feed_url
):
    fake_slack.channel("G0SECRET1", "secret", private=True)
    fake_slack.bot_name = "platform-bot"
    response = slack_sim.submit_view("U1", CALLBACK_SUBSCRIBE, modal_form(feed_url, "G0SECRET1"))
    body = response.json()
    assert body["response_action"] == "errors" and set(body["errors"]) == {"channel"}
    # Modal errors are plain text: the bot by its real name (auth.test), no <#…> markup.
    assert "invite @platform-bot to this channel first" in body["errors"]["channel"]
    assert "Nothing was subscribed" in body["errors"]["channel"]
    assert _stored(slack_runtime) == [] and feed_server.requests == []
    assert fake_slack.posted("views.update") == []


def test_the_modal_joins_a_public_channel_and_the_home_shows_it_at_once(
    slack_sim, slack_runtime, fake_slack, feed_url
):
    fake_slack.channel("C0PUBLIC1", "news")
    fake_slack.handlers["conversations.list"] = lambda args: {
        "ok": True,
        "channels": [
            {"id": cid, "is_member": ch.member} for cid, ch in fake_slack.channels.items() if ch
        ],
    }
    # The Home, opened before, remembers for a minute which channels the bot is in.
    slack_sim.event({"type": "app_home_opened", "user": "U1", "tab": "home", "channel": "D1"})
    wait_for(lambda: fake_slack.posted("views.publish"))

    response = slack_sim.submit_view("U1", CALLBACK_SUBSCRIBE, modal_form(feed_url, "C0PUBLIC1"))
    assert response.json()["response_action"] == "update"
    updated = json.dumps(view_of(wait_for(lambda: fake_slack.posted("views.update"))[-1]))
    assert "Subscribed <#C0PUBLIC1>" in updated and "I joined <#C0PUBLIC1>" in updated
    assert _calls(fake_slack, "conversations.join") == ["C0PUBLIC1"]
    assert _stored(slack_runtime) == [(feed_url, "C0PUBLIC1")]
    home = wait_for(lambda: fake_slack.posted("views.publish")[1:])
    assert "<#C0PUBLIC1>" in json.dumps(view_of(home[-1]))


def test_the_modal_reports_a_refused_join_and_stores_nothing(
    slack_sim, slack_runtime, fake_slack, feed_url
):
    fake_slack.channel("C0LOCKED1", "locked")
    fake_slack.queue("conversations.join", {"ok": False, "error": "restricted_action"})
    response = slack_sim.submit_view("U1", CALLBACK_SUBSCRIBE, modal_form(feed_url, "C0LOCKED1"))
    assert response.json()["response_action"] == "update"
    updated = json.dumps(view_of(wait_for(lambda: fake_slack.posted("views.update"))[-1]))
    wait_for(lambda: fake_slack.posted("views.publish"))  # the Home is refreshed after it
    assert "invite <@UBOT> to <#C0LOCKED1> first" in updated
    assert _stored(slack_runtime) == []


def test_a_direct_message_with_the_bot_is_subscribed_without_asking_slack(
    slack_sim, slack_runtime, fake_slack, feed_url
):
    # Checking a DM would need im:read; the bot can post in its own DMs anyway.
    slack_sim.command(f"subscribe <{feed_url}>", channel_id="D0DIRECT1", response="d1")
    assert "Subscribed <#D0DIRECT1>" in block_texts(slack_sim.wait_response("d1")[0])
    assert fake_slack.posted("conversations.info") == []
    assert _stored(slack_runtime) == [(feed_url, "D0DIRECT1")]
