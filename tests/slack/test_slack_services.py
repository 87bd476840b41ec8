"""Services and listeners without HTTP: event de-duplication across replicas, votes, App Home."""

from __future__ import annotations

import json
from unittest.mock import Mock

import pytest
from conftest import make_settings
from slack_sdk import WebClient

from bot.runtime import open_runtime
from bot.slack.answer_blocks import Answer
from bot.slack.listeners import commands
from bot.slack.services import SlackServices, conversation_question, question_key
from bot.slack.subcommands import parse_command
from bot.subscriptions import subscribe


@pytest.fixture
def replicas(db_url, fake_slack):
    """Two services on separate engines over one database, like two running replicas."""
    runtimes = [open_runtime(make_settings(db_url, fake_slack.api_url)) for _ in range(2)]
    yield [SlackServices(rt) for rt in runtimes]
    for rt in runtimes:
        rt.engine.dispose()


def test_an_event_is_claimed_by_exactly_one_replica(replicas):
    first, second = replicas
    assert first.claim_event("Ev01ABC") is True
    assert second.claim_event("Ev01ABC") is False
    assert first.claim_event("Ev01ABC") is False
    assert second.claim_event("Ev02DEF") is True


def test_most_asked_questions_are_counted_by_normalized_text(replicas):
    services = replicas[0]
    for q in ["How do I tail pods?", "how do I  tail pods", "restart a deployment"]:
        services.record_question(
            Answer(q, True), user_id="U1", channel_id="C0DEVOPS1", surface="dm"
        )
    top = replicas[1].top_questions()
    assert [n for _, n in top] == [2, 1]
    assert question_key(top[0][0]) == "how do i tail pods"


def test_conversation_filter():
    human = {"user": "U1", "text": "<@UBOT> hi &amp; bye"}
    assert conversation_question(human, "UBOT") == "hi & bye"
    assert conversation_question({**human, "bot_id": "B1"}, "UBOT") is None
    assert conversation_question({**human, "subtype": "message_changed"}, "UBOT") is None
    assert conversation_question({**human, "user": "UBOT"}, "UBOT") is None
    assert conversation_question({**human, "subtype": "file_share"}, "UBOT") == "hi & bye"


def _listener(register, kind: str, services: SlackServices):
    captured = {}
    app = Mock()
    getattr(app, kind).side_effect = lambda name: lambda fn: captured.setdefault(name, fn)
    register(app, services)
    return captured


def test_slash_listener_acks_before_doing_anything(slack_runtime):
    services = SlackServices(slack_runtime)
    devops = _listener(commands.register, "command", services)["/devops"]
    order = Mock()
    devops(
        ack=order.ack,
        command={"text": "how do I tail multiple pods", "user_id": "U1", "channel_id": "C0DEVOPS1"},
        respond=order.respond,
    )
    assert [c[0] for c in order.mock_calls] == ["ack", "respond"]
    order.ack.assert_called_once_with(text="")
    kwargs = order.respond.call_args.kwargs
    assert kwargs["response_type"] == "ephemeral" and "stern" in json.dumps(kwargs["blocks"])


def test_an_unexpected_failure_is_a_readable_message_not_a_trace(slack_runtime, monkeypatch):
    services = SlackServices(slack_runtime)
    monkeypatch.setattr(services, "answer", Mock(side_effect=RuntimeError("db exploded")))
    sent = []
    services.run_command(
        parse_command("why"), user_id="U1", channel_id="C0DEVOPS1", send=sent.append
    )
    [message] = sent
    assert "Something went wrong" in message.text
    assert "db exploded" not in json.dumps(message.blocks)


def test_home_shows_subscriptions_of_the_bots_channels_or_all_when_slack_wont_say(
    slack_runtime, fake_slack, feed_server, seed_feed
):
    url = feed_server.serve("/feed.xml", seed_feed("shipit-dev.atom.xml"))
    with slack_runtime.sessions.begin() as session:
        subscribe(session, url, "C0MEMBER1", slack_runtime.settings)
        subscribe(session, url, "C0OTHER01", slack_runtime.settings)
    fake_slack.handlers["conversations.list"] = lambda args: {
        "ok": True,
        "channels": [
            {"id": "C0MEMBER1", "is_member": True},
            {"id": "C0OTHER01", "is_member": False},
        ],
        "response_metadata": {"next_cursor": ""},
    }
    client = WebClient(token="xoxb-1", base_url=fake_slack.api_url)
    services = SlackServices(slack_runtime)
    services.publish_home("U1", client)
    view = json.dumps(fake_slack.posted("views.publish")[-1]["view"])
    assert "C0MEMBER1" in view and "C0OTHER01" not in view

    fake_slack.handlers.pop("conversations.list")
    fake_slack.queue("conversations.list", {"ok": False, "error": "missing_scope"})
    SlackServices(slack_runtime).publish_home("U1", client)
    view = json.dumps(fake_slack.posted("views.publish")[-1]["view"])
    assert "C0MEMBER1" in view and "C0OTHER01" in view and "All subscriptions" in view
