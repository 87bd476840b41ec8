"""End to end through real HTTP: signed requests → waitress → bolt → fake Slack / response URLs."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from slack_harness import SlackClientSim, block_texts, buttons, wait_for
from sqlalchemy import select

from bot.db.models import AnswerFeedback, AskedQuestion
from bot.slack.answer_blocks import ACTION_MORE, ACTION_SHARE, ACTION_VOTE_UP
from bot.subscriptions import list_subscriptions


def test_question_is_acked_fast_and_answered_through_the_response_url(slack_sim):
    started = time.monotonic()
    response = slack_sim.command("how do I tail multiple pods", response="q1")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < 3.0
    [answer] = slack_sim.wait_response("q1")
    assert answer["response_type"] == "ephemeral"
    text = block_texts(answer)
    assert "stern" in text
    assert "`stern img-optimizer-deployment`" in text  # code kept as code
    assert "Kubernetes › Core Tools" in text  # the section path
    assert set(buttons(answer)) >= {ACTION_SHARE, ACTION_MORE, ACTION_VOTE_UP}


def test_a_bad_signature_is_rejected(slack_sim, fake_slack):
    body = slack_sim.command_body("how do I tail multiple pods", response="bad")
    response = slack_sim.post(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert response.status_code == 401
    time.sleep(0.2)
    assert slack_sim.responses("bad") == []


def test_a_stale_timestamp_is_rejected(slack_sim):
    body = slack_sim.command_body("how do I tail multiple pods", response="old")
    stale = int(time.time()) - 10 * 60
    # Correctly signed, but replayed ten minutes later.
    response = slack_sim.post(body, "application/x-www-form-urlencoded", timestamp=stale)
    assert response.status_code == 401
    time.sleep(0.2)
    assert slack_sim.responses("old") == []


def test_a_question_about_subscribing_is_a_question(slack_sim):
    slack_sim.command("how do I subscribe to a feed", response="q2")
    [reply] = slack_sim.wait_response("q2")
    text = block_texts(reply)
    assert "Subscribed" not in text and "Usage" not in text
    assert "how do I subscribe to a feed" in text


def test_help(slack_sim):
    slack_sim.command("help", response="h")
    [reply] = slack_sim.wait_response("h")
    assert "/devops subscribe URL" in block_texts(reply)


def test_dm_is_answered_in_the_dm(slack_sim, fake_slack):
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": "D123",
        "user": "U1",
        "text": "how do I tail multiple pods",
        "ts": "1700000100.000100",
        "event_ts": "1700000100.000100",
    }
    assert slack_sim.event(event).status_code == 200
    [post] = wait_for(lambda: fake_slack.posted("chat.postMessage"))
    assert post["channel"] == "D123"
    assert "thread_ts" not in post or post["thread_ts"] is None
    assert "stern" in block_texts(post)


def test_mention_is_answered_in_a_thread(slack_sim, fake_slack):
    event = {
        "type": "app_mention",
        "channel": "C0DEVOPS1",
        "user": "U1",
        "text": "<@UBOT> how do I tail multiple pods",
        "ts": "1700000200.000100",
        "event_ts": "1700000200.000100",
    }
    assert slack_sim.event(event).status_code == 200
    [post] = wait_for(lambda: fake_slack.posted("chat.postMessage"))
    assert post["channel"] == "C0DEVOPS1"
    assert post["thread_ts"] == "1700000200.000100"
    assert "stern" in block_texts(post)


def test_a_mention_inside_a_thread_stays_in_that_thread(slack_sim, fake_slack):
    event = {
        "type": "app_mention",
        "channel": "C0DEVOPS1",
        "user": "U1",
        "text": "<@UBOT> how do I tail multiple pods",
        "ts": "1700000300.000100",
        "thread_ts": "1700000250.000100",
    }
    slack_sim.event(event)
    [post] = wait_for(lambda: fake_slack.posted("chat.postMessage"))
    assert post["thread_ts"] == "1700000250.000100"


def test_a_retried_event_is_answered_once(slack_sim, fake_slack):
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": "D123",
        "user": "U1",
        "text": "how do I tail multiple pods",
        "ts": "1700000400.000100",
    }
    assert slack_sim.event(event, event_id="Ev0RETRY1").status_code == 200
    wait_for(lambda: fake_slack.posted("chat.postMessage"))
    assert slack_sim.event(event, event_id="Ev0RETRY1", retry_num=1).status_code == 200
    assert slack_sim.event(event, event_id="Ev0RETRY1", retry_num=2).status_code == 200
    time.sleep(0.5)
    assert len(fake_slack.posted("chat.postMessage")) == 1


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B999", "subtype": "bot_message"},  # another bot
        {"bot_id": "BBOT"},  # ourselves
        {"subtype": "message_changed", "message": {"text": "how do I tail multiple pods"}},
        {"subtype": "message_deleted"},
        {"user": "UBOT"},  # our own user
    ],
)
def test_bots_edits_and_own_messages_are_ignored(slack_sim, fake_slack, extra):
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": "D123",
        "user": "U1",
        "text": "how do I tail multiple pods",
        "ts": "1700000500.000100",
        **extra,
    }
    assert slack_sim.event(event).status_code == 200
    time.sleep(0.4)
    assert fake_slack.posted("chat.postMessage") == []


def _private_answer(slack_sim: SlackClientSim, name: str, user_id: str = "U1") -> dict:
    slack_sim.command("how do I tail multiple pods", user_id=user_id, response=name)
    [answer] = slack_sim.wait_response(name)
    return answer


def test_share_in_channel_posts_visibly_with_attribution(slack_sim, fake_slack):
    answer = _private_answer(slack_sim, "q3")
    value = buttons(answer)[ACTION_SHARE]
    assert slack_sim.action(ACTION_SHARE, value, user_id="U1", response="a3").status_code == 200

    [post] = wait_for(lambda: fake_slack.posted("chat.postMessage"))
    assert post["channel"] == "C0DEVOPS1"
    text = block_texts(post)
    assert "stern img-optimizer-deployment" in text
    assert "Asked by <@U1>" in text
    assert ACTION_SHARE not in json.dumps(post.get("blocks"))  # the public copy has no buttons
    [delete] = slack_sim.wait_response("a3")  # the private copy goes away
    assert delete.get("delete_original") is True


def test_share_falls_back_to_the_response_url_outside_the_bots_channels(slack_sim, fake_slack):
    answer = _private_answer(slack_sim, "q4")
    fake_slack.queue("chat.postMessage", {"ok": False, "error": "not_in_channel"})
    slack_sim.action(ACTION_SHARE, buttons(answer)[ACTION_SHARE], response="a4")
    replies = slack_sim.wait_response("a4", count=2)
    assert replies[0]["response_type"] == "in_channel"
    assert "stern" in block_texts(replies[0])
    assert replies[1].get("delete_original") is True


def test_more_results(slack_sim):
    answer = _private_answer(slack_sim, "q5")
    slack_sim.action(ACTION_MORE, buttons(answer)[ACTION_MORE], response="a5")
    [more] = slack_sim.wait_response("a5")
    assert more["response_type"] == "ephemeral"
    assert more.get("replace_original") is False
    assert "More results" in block_texts(more)


def test_votes_are_stored_with_question_and_chunk(slack_sim, slack_runtime):
    answer = _private_answer(slack_sim, "q6")
    value = buttons(answer)[ACTION_VOTE_UP]
    slack_sim.action(ACTION_VOTE_UP, value, user_id="U7", response="a6")
    slack_sim.wait_response("a6")
    slack_sim.action("devops_vote_down", value, user_id="U7", response="a7")
    slack_sim.wait_response("a7")
    with slack_runtime.sessions() as session:
        [vote] = session.scalars(select(AnswerFeedback)).all()
        asked = session.scalars(select(AskedQuestion)).all()
    assert vote.user_id == "U7"
    assert vote.value == -1  # the second click changed the vote
    assert vote.question == "how do I tail multiple pods"
    assert vote.chunk_title == "stern"
    assert [a.question for a in asked] == ["how do I tail multiple pods"]


def _recorded(runtime, count: int) -> None:
    """Wait until `count` asked_questions rows exist (they are written after the reply)."""

    def rows() -> int:
        with runtime.sessions() as session:
            return len(session.scalars(select(AskedQuestion.id)).all())

    wait_for(lambda: rows() >= count)


def _open_home(slack_sim: SlackClientSim, fake_slack, user_id: str = "U0VIEWER1") -> str:
    """Open the App Home as `user_id`; the published view as JSON text."""
    before = len(fake_slack.posted("views.publish"))
    slack_sim.event({"type": "app_home_opened", "user": user_id, "channel": "D1", "tab": "home"})
    publishes = wait_for(
        lambda: (p := fake_slack.posted("views.publish")) and len(p) > before and p
    )
    publish = publishes[-1]
    assert publish["user_id"] == user_id
    view = publish["view"] if isinstance(publish["view"], dict) else json.loads(publish["view"])
    assert view["type"] == "home" and "How to ask" in json.dumps(view)
    return json.dumps(view, ensure_ascii=False)


def _most_asked(view: str) -> str:
    """The Home's "Most asked questions" part (the "How to ask" part has an example question)."""
    return view.split("Most asked questions", 1)[1]


def test_app_home_hides_a_question_one_person_asked_privately(slack_sim, fake_slack, slack_runtime):
    for n in range(5):
        _private_answer(slack_sim, f"home{n}", user_id="U0ALICE01")
    _recorded(slack_runtime, 5)
    listed = _most_asked(_open_home(slack_sim, fake_slack))
    assert "tail multiple pods" not in listed
    assert "Questions show up here once several people have asked them" in listed


def test_app_home_lists_what_three_people_asked_without_naming_them(
    slack_sim, fake_slack, slack_runtime
):
    askers = ("U0ALICE01", "U0BOB0001", "U0CAROL01")
    for n, user in enumerate(askers):
        _private_answer(slack_sim, f"home{n}", user_id=user)
    _recorded(slack_runtime, 3)
    view = _open_home(slack_sim, fake_slack, user_id="U0ALICE01")  # even to one of them
    assert "1. how do I tail multiple pods _(3×)_" in _most_asked(view)
    assert not any(user in view for user in askers)
    assert "C0DEVOPS1" not in view  # nor where they asked


def test_app_home_lists_a_question_one_person_shared_in_a_channel(
    slack_sim, fake_slack, slack_runtime
):
    answer = _private_answer(slack_sim, "q7", user_id="U0ALICE01")
    _recorded(slack_runtime, 1)
    assert "tail multiple pods" not in _most_asked(_open_home(slack_sim, fake_slack))

    slack_sim.action(
        ACTION_SHARE, buttons(answer)[ACTION_SHARE], user_id="U0ALICE01", response="a7"
    )
    slack_sim.wait_response("a7")  # the private copy is deleted once the share is posted
    _recorded(slack_runtime, 2)
    view = _open_home(slack_sim, fake_slack)
    assert "1. how do I tail multiple pods _(1×)_" in _most_asked(view)  # a share is no ask
    assert "U0ALICE01" not in view


def test_healthz_reports_database_and_scheduler(slack_sim):
    response = httpx.get(slack_sim.base_url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "database": "ok",
        "scheduler": "running",
        "mode": "http",
    }


# -- feed subcommands ------------------------------------------------------------------------


def test_subscribe_by_an_admin_creates_a_subscription(admin_sim, feed_server, seed_feed):
    sim, runtime = admin_sim
    url = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    response = sim.command(f"subscribe <{url}> <#C0OPS1234|ops>", user_id="UADMIN", response="s1")
    assert response.status_code == 200
    assert "Fetching" in response.text  # the ack says the fetch may take a moment
    [reply] = sim.wait_response("s1")
    assert "Subscribed <#C0OPS1234>" in block_texts(reply)
    with runtime.sessions() as session:
        [sub] = list_subscriptions(session)
    assert (sub.feed_url, sub.channel_id) == (url, "C0OPS1234")

    sim.command("feeds", user_id="U2", response="s2")  # anyone may list
    [listing] = sim.wait_response("s2")
    assert "<#C0OPS1234>" in block_texts(listing)

    sim.command(f"pause {url} <#C0OPS1234|ops>", user_id="UADMIN", response="s3")
    assert "Paused" in block_texts(sim.wait_response("s3")[0])
    sim.command(f"unsubscribe {url} <#C0OPS1234|ops>", user_id="UADMIN", response="s4")
    assert "Unsubscribed" in block_texts(sim.wait_response("s4")[0])
    with runtime.sessions() as session:
        assert list_subscriptions(session) == []


def test_set_and_pause_all_change_subscriptions_in_place(admin_sim, feed_server, seed_feed):
    sim, runtime = admin_sim
    atom = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    rss = feed_server.serve("/e13.xml", seed_feed("e13-dev.rss.xml"))
    for i, url in enumerate((atom, rss)):
        sim.command(
            f"subscribe <{url}>", user_id="UADMIN", channel_id="C0OPS1234", response=f"a{i}"
        )
        sim.wait_response(f"a{i}")
    sim.command(
        f"set <{atom}> include=kubernetes,helm exclude=re:^Sponsored unfurl=on",
        user_id="UADMIN",
        channel_id="C0OPS1234",
        response="set",
    )
    text = block_texts(sim.wait_response("set")[0])
    assert "Changed" in text and "`kubernetes`" in text and "link previews on" in text
    sim.command("pause all", user_id="UADMIN", channel_id="C0OPS1234", response="pa")
    assert "Paused 2 feeds in <#C0OPS1234>" in block_texts(sim.wait_response("pa")[0])
    with runtime.sessions() as session:
        subs = {s.feed_url: s for s in list_subscriptions(session)}
    assert subs[atom].include == ("kubernetes", "helm") and subs[atom].exclude == ("re:^Sponsored",)
    assert subs[atom].unfurl and {s.status for s in subs.values()} == {"paused"}
    assert subs[atom].articles_seen > 0  # changed in place: its articles were kept
    sim.command("unsubscribe all", user_id="U2", channel_id="C0OPS1234", response="no")
    assert "Only the feed admins" in block_texts(sim.wait_response("no")[0])


def test_subscribe_by_a_non_admin_is_refused(admin_sim, feed_server, seed_feed):
    sim, runtime = admin_sim
    url = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    response = sim.command(f"subscribe {url}", user_id="U2", channel_id="C0OPS1234", response="n1")
    assert response.text == ""  # no "Fetching…" promise to someone who will be refused
    [reply] = sim.wait_response("n1")
    text = block_texts(reply)
    assert "Only the feed admins" in text and "<@UADMIN>" in text
    with runtime.sessions() as session:
        assert list_subscriptions(session) == []
    assert feed_server.requests == []  # refused before any fetch


def test_subscribe_errors_are_readable(admin_sim, feed_server):
    sim, _ = admin_sim
    sim.command("subscribe not-a-url", user_id="UADMIN", response="e1")
    assert "is not a feed URL" in block_texts(sim.wait_response("e1")[0])

    missing = feed_server.url("/missing.xml")
    sim.command(f"subscribe {missing}", user_id="UADMIN", channel_id="C0OPS1234", response="e2")
    text = block_texts(sim.wait_response("e2")[0])
    assert "404" in text and "Traceback" not in text

    sim.command("unsubscribe https://nowhere.example/feed", user_id="UADMIN", response="e3")
    assert "No feed with the address" in block_texts(sim.wait_response("e3")[0])
