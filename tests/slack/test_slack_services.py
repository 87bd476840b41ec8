"""Services and listeners without HTTP: event de-duplication across replicas, votes, App Home."""

from __future__ import annotations

import json
from unittest.mock import Mock

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.db.models import AskedQuestion
from bot.knowledge.analysis import question_key
from bot.slack.answer_blocks import Answer
from bot.slack.answers import conversation_question
from bot.slack.listeners import commands
from bot.slack.services import SlackServices
from bot.slack.subcommands import parse_command
from bot.subscriptions import subscribe


def test_an_event_is_claimed_by_exactly_one_replica(replicas):
    first, second = replicas
    assert first.events.claim("Ev01ABC") is True
    assert second.events.claim("Ev01ABC") is False
    assert first.events.claim("Ev01ABC") is False
    assert second.events.claim("Ev02DEF") is True


def _ask(services: SlackServices, question: str, user: str, surface: str, channel: str) -> None:
    services.asked.record(Answer(question, True), user_id=user, channel_id=channel, surface=surface)


def test_most_asked_questions_are_counted_by_normalized_text(replicas):
    services = replicas[0]
    for user, q in [
        ("U1", "How do I tail pods?"),
        ("U2", "how do I  tail pods"),
        ("U3", "how do I tail pods."),
    ]:
        _ask(services, q, user, "dm", "D0DM00001")
    for user in ("U1", "U2", "U3", "U4"):
        _ask(services, "restart a deployment", user, "command", "C0DEVOPS1")
    top = replicas[1].asked.top()
    assert [n for _, n in top] == [4, 3]
    assert question_key(top[1][0]) == "how do i tail pods"


def test_a_question_one_person_asked_privately_stays_private(replicas):
    services = replicas[0]
    for _ in range(3):
        _ask(services, "why is prod down", "U1", "command", "C0DEVOPS1")  # ephemeral answers
    for _ in range(2):
        _ask(services, "why is prod down", "U1", "dm", "D0DM00001")
    _ask(services, "why is prod down", "U2", "dm", "D0DM00002")  # two people: still private
    # A mention or share in a DM or group DM is not "in a channel".
    _ask(services, "why is prod down", "U1", "mention", "G0GROUPDM")
    _ask(services, "why is prod down", "U1", "share", "D0DM00001")
    assert replicas[1].asked.top() == []

    _ask(services, "why is prod down", "U3", "command", "C0DEVOPS1")  # the third person
    assert replicas[1].asked.top() == [("why is prod down", 8)]  # asks, not the share


def test_a_question_asked_or_shared_in_a_channel_is_public(replicas):
    services = replicas[0]
    _ask(services, "how do I roll back a helm release", "U1", "mention", "C0DEVOPS1")
    _ask(services, "how do I rotate certs", "U2", "command", "C0DEVOPS1")
    _ask(services, "how do I rotate certs", "U2", "share", "C0DEVOPS1")
    assert sorted(replicas[1].asked.top()) == [
        ("how do I roll back a helm release", 1),
        ("how do I rotate certs", 1),  # the share is not a second ask
    ]


def test_home_never_names_who_asked(replicas, fake_slack):
    services = replicas[0]
    for user in ("U0ASKER01", "U0ASKER02", "U0ASKER03"):
        _ask(services, "how do I tail pods", user, "command", "C0DEVOPS1")
    _ask(services, "what is my salary", "U0ASKER04", "dm", "D0DM00004")
    client = WebClient(token="xoxb-1", base_url=fake_slack.api_url)
    replicas[1].home.publish_home("U0VIEWER1", client)
    view = json.dumps(fake_slack.posted("views.publish")[-1]["view"], ensure_ascii=False)
    assert "how do I tail pods _(3×)_" in view
    assert "salary" not in view
    assert "U0ASKER" not in view and "D0DM" not in view and "C0DEVOPS1" not in view


def test_a_failed_record_does_not_log_who_asked_or_what(replicas, caplog):
    services = replicas[0]
    AskedQuestion.__table__.drop(services.runtime.engine)  # every insert now fails
    _ask(services, "my secret question", "U0ASKER01", "dm", "D0DM00001")
    assert "could not record a question" in caplog.text
    assert "U0ASKER01" not in caplog.text and "secret" not in caplog.text


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


def test_slash_listener_acks_before_doing_anything(slack_runtime, fake_slack):
    services = SlackServices(slack_runtime)
    devops = _listener(commands.register, "command", services)["/devops"]
    order = Mock()
    devops(
        ack=order.ack,
        command={"text": "how do I tail multiple pods", "user_id": "U1", "channel_id": "C0DEVOPS1"},
        respond=order.respond,
        client=WebClient(token="xoxb-1", base_url=fake_slack.api_url),
        context=BoltContext(bot_user_id="UBOT"),
    )
    assert [c[0] for c in order.mock_calls] == ["ack", "respond"]
    order.ack.assert_called_once_with(text="")
    kwargs = order.respond.call_args.kwargs
    assert kwargs["response_type"] == "ephemeral" and "stern" in json.dumps(kwargs["blocks"])


def test_an_unexpected_failure_is_a_readable_message_not_a_trace(slack_runtime, monkeypatch):
    services = SlackServices(slack_runtime)
    monkeypatch.setattr(services.answers, "answer", Mock(side_effect=RuntimeError("db exploded")))
    sent = []
    services.commands.run_command(
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
    services.home.publish_home("U1", client)
    view = json.dumps(fake_slack.posted("views.publish")[-1]["view"])
    assert "C0MEMBER1" in view and "C0OTHER01" not in view

    fake_slack.handlers.pop("conversations.list")
    fake_slack.queue("conversations.list", {"ok": False, "error": "missing_scope"})
    SlackServices(slack_runtime).home.publish_home("U1", client)
    view = json.dumps(fake_slack.posted("views.publish")[-1]["view"])
    assert "C0MEMBER1" in view and "C0OTHER01" in view and "All subscriptions" in view
