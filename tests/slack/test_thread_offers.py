"""Closing the loop, end to end: a mention the bot could not answer, replies in its thread, and
the one ephemeral "Save this answer" offer to the asker and the replier (signed events in, the
fake Web API out)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from slack_harness import SlackClientSim, block_texts, buttons, wait_for
from slack_sdk import WebClient
from sqlalchemy import select

from bot.db.models import AskedQuestion, UnansweredThread
from bot.runtime import Runtime
from bot.slack.save_blocks import ACTION_SAVE_THREAD
from bot.slack.services import SlackServices
from bot.slack.thread_offers import thread_reply

CHANNEL = "C0DEVOPS1"
UNKNOWN = "what is the best pizza in naples"  # nothing in the sample notes or feeds
KNOWN = "how to tail logs of several pods"  # the sample notes answer it (stern)
QUIET = 0.5  # how long a test waits to be sure nothing more is posted


def _ts(n: int) -> str:
    return f"1700001{n:03d}.000100"


def _mention(sim: SlackClientSim, question: str, *, user: str, ts: str, **extra: Any) -> None:
    event = {
        "type": "app_mention",
        "channel": extra.pop("channel", CHANNEL),
        "user": user,
        "text": f"<@UBOT> {question}",
        "ts": ts,
        "event_ts": ts,
        **extra,
    }
    assert sim.event(event).status_code == 200


def _message(sim: SlackClientSim, *, user: str, ts: str, thread_ts: str | None, **extra: Any):
    event_id = extra.pop("event_id", None)
    event: dict[str, Any] = {
        "type": "message",
        "channel_type": "channel",
        "channel": CHANNEL,
        "user": user,
        "text": "use the pizzeria on via Tribunali",
        "ts": ts,
        "event_ts": ts,
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return sim.event(event, event_id=event_id)


def _asked(runtime: Runtime, thread_ts: str, fake_slack, *, answered: bool) -> None:
    """Wait until the bot replied in the thread and recorded the question (and check how)."""
    wait_for(lambda: [p for p in fake_slack.posted() if p.get("thread_ts") == thread_ts])

    def recorded() -> list[AskedQuestion]:
        with runtime.sessions() as session:
            return list(
                session.scalars(select(AskedQuestion).where(AskedQuestion.surface == "mention"))
            )

    rows = wait_for(recorded)
    assert rows[-1].answered is answered
    if not answered:  # the thread is remembered after the question is recorded
        wait_for(lambda: _thread(runtime, thread_ts))


def _thread(runtime: Runtime, thread_ts: str) -> UnansweredThread | None:
    with runtime.sessions() as session:
        return session.scalars(
            select(UnansweredThread).where(UnansweredThread.thread_ts == thread_ts)
        ).one_or_none()


def _offers(fake_slack) -> list[dict[str, Any]]:
    return fake_slack.posted("chat.postEphemeral")


def test_the_first_reply_offers_the_asker_and_the_replier_once(
    slack_sim, slack_runtime, fake_slack
):
    _mention(slack_sim, UNKNOWN, user="U0ASKER01", ts=_ts(1))
    _asked(slack_runtime, _ts(1), fake_slack, answered=False)
    [dont_know] = fake_slack.posted()
    assert "I don't know" in block_texts(dont_know)

    # The bot's own "I don't know" in the thread, as Slack echoes it back, is no reply.
    _message(slack_sim, user="UBOT", ts=_ts(2), thread_ts=_ts(1), bot_id="BBOT")
    reply = _message(slack_sim, user="U0REPLIER", ts=_ts(3), thread_ts=_ts(1), event_id="Ev0REPLY1")
    assert reply.status_code == 200
    offers = wait_for(lambda: len(_offers(fake_slack)) >= 2 and _offers(fake_slack))
    assert sorted(o["user"] for o in offers) == ["U0ASKER01", "U0REPLIER"]
    for offer in offers:
        assert offer["channel"] == CHANNEL and offer["thread_ts"] == _ts(1)
        value = buttons(offer)[ACTION_SAVE_THREAD]
        assert json.loads(value) == {"channel": CHANNEL, "thread_ts": _ts(1)}
        assert "best pizza in naples" in block_texts(offer)
    by_user = {o["user"]: block_texts(o) for o in offers}
    assert "<@U0REPLIER> answered your question" in by_user["U0ASKER01"]
    assert "You answered a question I couldn't" in by_user["U0REPLIER"]

    # More replies, and Slack retrying the first one: no second offer.
    _message(slack_sim, user="U0OTHER01", ts=_ts(4), thread_ts=_ts(1))
    _message(slack_sim, user="U0ASKER01", ts=_ts(5), thread_ts=_ts(1))
    _message(slack_sim, user="U0REPLIER", ts=_ts(3), thread_ts=_ts(1), event_id="Ev0REPLY1")
    time.sleep(QUIET)
    assert len(_offers(fake_slack)) == 2
    assert fake_slack.posted() == [dont_know]  # and nothing visible in the channel


def test_the_asker_answering_themselves_gets_one_offer(slack_sim, slack_runtime, fake_slack):
    _mention(slack_sim, UNKNOWN, user="U0ASKER01", ts=_ts(10))
    _asked(slack_runtime, _ts(10), fake_slack, answered=False)
    _message(slack_sim, user="U0ASKER01", ts=_ts(11), thread_ts=_ts(10))
    [offer] = wait_for(lambda: _offers(fake_slack))
    assert offer["user"] == "U0ASKER01"
    assert "You answered your own question" in block_texts(offer)
    time.sleep(QUIET)
    assert len(_offers(fake_slack)) == 1


def test_no_offer_in_a_thread_the_bot_answered(slack_sim, slack_runtime, fake_slack):
    _mention(slack_sim, KNOWN, user="U0ASKER01", ts=_ts(20))
    _asked(slack_runtime, _ts(20), fake_slack, answered=True)
    _message(slack_sim, user="U0REPLIER", ts=_ts(21), thread_ts=_ts(20))
    time.sleep(QUIET)
    assert _offers(fake_slack) == []
    assert _thread(slack_runtime, _ts(20)) is None


def test_a_thread_the_bot_answers_later_gets_no_offer(slack_sim, slack_runtime, fake_slack):
    _mention(slack_sim, UNKNOWN, user="U0ASKER01", ts=_ts(30))
    _asked(slack_runtime, _ts(30), fake_slack, answered=False)
    # Asked again in the same thread, in words the bot does know.
    _mention(slack_sim, KNOWN, user="U0ASKER01", ts=_ts(31), thread_ts=_ts(30))
    wait_for(lambda: _thread(slack_runtime, _ts(30)) is None)
    _message(slack_sim, user="U0REPLIER", ts=_ts(32), thread_ts=_ts(30))
    time.sleep(QUIET)
    assert _offers(fake_slack) == []


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B999", "subtype": "bot_message", "user": None},  # another bot
        {"bot_id": "BBOT", "user": "UBOT"},  # ourselves
        {"user": "UBOT"},  # our own user
        {"subtype": "message_changed", "message": {"text": "edited"}},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"text": "<@UBOT> and what about calzone?"},  # a question to the bot, not a reply
    ],
)
def test_bots_edits_and_questions_to_the_bot_are_no_reply(
    slack_sim, slack_runtime, fake_slack, extra
):
    _mention(slack_sim, UNKNOWN, user="U0ASKER01", ts=_ts(40))
    _asked(slack_runtime, _ts(40), fake_slack, answered=False)
    _message(slack_sim, **{"user": "U0REPLIER", **extra}, ts=_ts(41), thread_ts=_ts(40))
    time.sleep(QUIET)
    assert _offers(fake_slack) == []
    # The thread still waits for its first human reply.
    _message(slack_sim, user="U0REPLIER", ts=_ts(42), thread_ts=_ts(40))
    offers = wait_for(lambda: len(_offers(fake_slack)) >= 2 and _offers(fake_slack))
    assert sorted(o["user"] for o in offers) == ["U0ASKER01", "U0REPLIER"]


def test_top_level_messages_and_other_threads_get_no_offer(slack_sim, slack_runtime, fake_slack):
    _mention(slack_sim, UNKNOWN, user="U0ASKER01", ts=_ts(50))
    _asked(slack_runtime, _ts(50), fake_slack, answered=False)
    _message(slack_sim, user="U0REPLIER", ts=_ts(51), thread_ts=None)  # in the channel
    _message(slack_sim, user="U0REPLIER", ts=_ts(50), thread_ts=_ts(50))  # the parent itself
    _message(slack_sim, user="U0REPLIER", ts=_ts(53), thread_ts=_ts(52))  # another thread
    time.sleep(QUIET)
    assert _offers(fake_slack) == []


def test_no_offer_in_a_dm(slack_sim, slack_runtime, fake_slack):
    dm = {
        "type": "message",
        "channel_type": "im",
        "channel": "D0DM00001",
        "user": "U0ASKER01",
        "text": UNKNOWN,
        "ts": _ts(60),
    }
    slack_sim.event(dm)
    wait_for(lambda: fake_slack.posted())
    # A reply in the DM's thread is another question to the bot, never an offer.
    slack_sim.event({**dm, "ts": _ts(61), "thread_ts": _ts(60), "text": "ask Luigi"})
    wait_for(lambda: len(fake_slack.posted()) == 2)
    time.sleep(QUIET)
    assert _offers(fake_slack) == []
    with slack_runtime.sessions() as session:
        assert session.scalars(select(UnansweredThread)).all() == []


def test_private_channels_work_the_same(slack_sim, slack_runtime, fake_slack):
    _mention(slack_sim, UNKNOWN, user="U0ASKER01", ts=_ts(70), channel="G0PRIVATE")
    _asked(slack_runtime, _ts(70), fake_slack, answered=False)
    slack_sim.event(
        {
            "type": "message",
            "channel_type": "group",
            "channel": "G0PRIVATE",
            "user": "U0REPLIER",
            "text": "the one near the station",
            "ts": _ts(71),
            "thread_ts": _ts(70),
        }
    )
    offers = wait_for(lambda: len(_offers(fake_slack)) >= 2 and _offers(fake_slack))
    assert {o["channel"] for o in offers} == {"G0PRIVATE"}


def test_an_asker_who_left_does_not_cost_the_replier_their_offer(
    slack_sim, slack_runtime, fake_slack
):
    _mention(slack_sim, UNKNOWN, user="U0ASKER01", ts=_ts(80))
    _asked(slack_runtime, _ts(80), fake_slack, answered=False)
    fake_slack.queue("chat.postEphemeral", {"ok": False, "error": "user_not_in_channel"})
    _message(slack_sim, user="U0REPLIER", ts=_ts(81), thread_ts=_ts(80))
    wait_for(lambda: len(_offers(fake_slack)) >= 2)
    time.sleep(QUIET)
    assert [o["user"] for o in _offers(fake_slack)] == ["U0ASKER01", "U0REPLIER"]


# -- two replicas over one database (SQLite and PostgreSQL) -----------------------------------


def test_two_replicas_given_the_same_reply_offer_once(replicas, fake_slack):
    first, second = replicas
    first.offers.remember(CHANNEL, _ts(90), "U0ASKER01", UNKNOWN)
    second.offers.remember(CHANNEL, _ts(90), "U0ASKER02", UNKNOWN)  # the first asker stays
    reply = {
        "channel_type": "channel",
        "channel": CHANNEL,
        "user": "U0REPLIER",
        "ts": _ts(91),
        "thread_ts": _ts(90),
        "text": "here",
    }
    client = WebClient(token="xoxb-1", base_url=fake_slack.api_url)
    start = threading.Barrier(4)

    def deliver(services: SlackServices) -> None:
        start.wait()
        services.offers.on_reply(reply, bot_user_id="UBOT", client=client)

    workers = [threading.Thread(target=deliver, args=(s,)) for s in (first, second) * 2]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert sorted(o["user"] for o in _offers(fake_slack)) == ["U0ASKER01", "U0REPLIER"]


def test_thread_reply_filter():
    reply = {"channel_type": "channel", "channel": "C1", "user": "U2", "ts": "2.0"}
    assert thread_reply({**reply, "thread_ts": "1.0"}, "UBOT") is not None
    assert thread_reply({**reply, "thread_ts": "1.0", "subtype": "thread_broadcast"}, "UBOT")
    assert thread_reply(reply, "UBOT") is None  # top level
    assert thread_reply({**reply, "thread_ts": "1.0", "channel_type": "mpim"}, "UBOT") is None
    # Another user whose id starts with the bot's is still a person.
    assert thread_reply({**reply, "thread_ts": "1.0", "text": "<@UBOT2> knows"}, "UBOT")
    assert thread_reply({**reply, "thread_ts": "1.0", "text": "<@UBOT|bot> hi"}, "UBOT") is None
