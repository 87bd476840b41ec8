"""Saving Slack messages as notes end to end (issue 10): signed message shortcuts, view
submissions, block actions and /devops commands against the app in HTTP mode, Slack's Web API
faked on loopback (views.open, views.update, conversations.replies, chat.getPermalink)."""

from __future__ import annotations

import json

import pytest
from slack_harness import (
    block_texts,
    buttons,
    input_values,
    save_form,
    view_of,
    wait_for,
)

from bot.db.slack_notes import slack_notes
from bot.runtime import open_runtime
from bot.slack.answer_blocks import ACTION_NOTE_MENU
from bot.slack.save_blocks import ACTION_SAVE_THREAD, CALLBACK_SAVE
from bot.slack.services import SlackServices

CHANNEL = "C0DEVOPS1"
ROTATE = (
    "*Rotate the staging database password*\n"
    "Run `vault write -f database/rotate-root/staging-postgres`, then restart the API pods with "
    "`kubectl rollout restart deploy/api -n staging` so they pick up the new secret."
)
QUESTION = "new secret for the staging db"  # not the note's title
PERMALINK = "https://test.slack.com/archives/{channel}/p{ts}"


@pytest.fixture(autouse=True)
def ops_channel(fake_slack):
    """The channel the messages are in: public, named ops, with the bot in it."""
    return fake_slack.channel(CHANNEL, "ops", member=True)


def permalink(channel: str, ts: str) -> str:
    return PERMALINK.format(channel=channel, ts=ts.replace(".", ""))


def opened_view(fake_slack, count: int = 1) -> dict:
    return view_of(
        wait_for(lambda: (v := fake_slack.posted("views.open")) and len(v) >= count and v)[-1]
    )


def ask(sim, question: str, user_id: str = "U1", name: str = "q") -> dict:
    sim.command(question, user_id=user_id, response=name)
    return sim.wait_response(name)[-1]


def submit(sim, fake_slack, user_id: str, view: dict, form: dict) -> dict:
    """Submit the save modal and wait for the modal's final word (views.update)."""
    before = len(fake_slack.posted("views.update"))
    response = sim.submit_view(user_id, CALLBACK_SAVE, form, view["private_metadata"])
    assert response.json()["response_action"] == "update"
    return view_of(
        wait_for(lambda: (u := fake_slack.posted("views.update")) and len(u) > before and u)[-1]
    )


def test_a_message_saved_through_the_shortcut_answers_the_next_question_with_its_permalink(
    slack_sim, fake_slack, slack_runtime
):
    [message] = fake_slack.thread(CHANNEL, {"user": "U0AUTHOR", "text": ROTATE})
    assert slack_sim.message_shortcut(message, user_id="U0SAVER").status_code == 200
    view = opened_view(fake_slack)
    assert view["callback_id"] == CALLBACK_SAVE
    assert input_values(view) == {
        "title": "Rotate the staging database password",
        "section": "ops",  # the channel's name
        "text": ROTATE,
    }
    assert "confirm" not in {b.get("block_id") for b in view["blocks"]}
    assert fake_slack.posted("conversations.replies") == []  # one message, no thread to read
    # Nothing is saved by opening the modal.
    with slack_runtime.sessions() as session:
        assert slack_notes(session) == []

    # What is wrong is said in the modal, next to the field.
    bad = slack_sim.submit_view(
        "U0SAVER", CALLBACK_SAVE, save_form("", "ops", "   "), view["private_metadata"]
    )
    assert bad.json()["response_action"] == "errors"
    assert set(bad.json()["errors"]) == {"title", "text"}
    long = slack_sim.submit_view(
        "U0SAVER", CALLBACK_SAVE, save_form("t" * 200, "ops", ROTATE), view["private_metadata"]
    )
    assert "within 150 characters" in long.json()["errors"]["title"]

    done = submit(
        slack_sim,
        fake_slack,
        "U0SAVER",
        view,
        save_form("Rotate the staging DB password", "ops", ROTATE),
    )
    assert "Saved" in json.dumps(done)
    [link] = fake_slack.posted("chat.getPermalink")
    assert (link["channel"], link["message_ts"]) == (CHANNEL, message["ts"])

    answer = ask(slack_sim, QUESTION, user_id="U0ASKER")
    text = block_texts(answer)
    assert "vault write -f database/rotate-root/staging-postgres" in text
    assert "saved from #ops by <@U0SAVER>" in text
    assert f"<{permalink(CHANNEL, message['ts'])}|original message>" in text
    with slack_runtime.sessions() as session:
        [note] = slack_notes(session)
    assert (note.saver_id, note.author_id, note.channel_name, note.private) == (
        "U0SAVER",
        "U0AUTHOR",
        "ops",
        False,
    )


def test_the_shortcut_on_a_thread_parent_saves_the_whole_thread(
    slack_sim, fake_slack, slack_runtime
):
    parent, *replies = fake_slack.thread(
        CHANNEL,
        {"user": "U0ASKS", "text": "How do we drain a node before patching it?"},
        {
            "user": "U0KNOWS",
            "text": "`kubectl drain NODE --ignore-daemonsets --delete-emptydir-data`",
        },
        {"user": "U0KNOWS", "text": "then `kubectl uncordon NODE` once it is back"},
    )
    slack_sim.message_shortcut(parent, user_id="U0SAVER")
    view = opened_view(fake_slack)
    [call] = fake_slack.posted("conversations.replies")
    assert (call["channel"], call["ts"]) == (CHANNEL, parent["ts"])
    values = input_values(view)
    assert values["title"] == "How do we drain a node before patching it?"
    assert values["text"].splitlines() == [m["text"] for m in (parent, *replies)]

    # On a reply, only that reply.
    slack_sim.message_shortcut(replies[1], user_id="U0SAVER")
    reply_view = opened_view(fake_slack, 2)
    assert input_values(reply_view)["text"] == replies[1]["text"]
    assert len(fake_slack.posted("conversations.replies")) == 1

    submit(
        slack_sim, fake_slack, "U0SAVER", view, save_form(values["title"], "k8s", values["text"])
    )
    text = block_texts(ask(slack_sim, "drain a node for patching"))
    assert "kubectl drain NODE" in text and "saved from #ops" in text


def test_a_thread_the_bot_cannot_read_still_opens_on_the_message_and_says_so(slack_sim, fake_slack):
    parent, _ = fake_slack.thread(
        CHANNEL, {"user": "U0A", "text": "Why is the deploy stuck?"}, {"user": "U0B", "text": "…"}
    )
    fake_slack.queue("conversations.replies", {"ok": False, "error": "not_in_channel"})
    slack_sim.message_shortcut(parent)
    view = opened_view(fake_slack)
    assert input_values(view)["text"] == "Why is the deploy stuck?"
    assert "could not read the rest of the thread" in json.dumps(view)


def test_a_private_channel_message_is_saved_only_once_the_saver_confirms(
    slack_sim, fake_slack, slack_runtime
):
    fake_slack.channel("C0SECRET1", "secops", private=True, member=True)
    [message] = fake_slack.thread("C0SECRET1", {"user": "U0AUTHOR", "text": ROTATE})
    slack_sim.message_shortcut(
        message, user_id="U0SAVER", channel_id="C0SECRET1", channel_name="secops"
    )
    view = opened_view(fake_slack)
    assert "confirm" in {b.get("block_id") for b in view["blocks"]}
    assert "private conversation" in json.dumps(view)

    form = save_form("Rotate the staging DB password", "secops", ROTATE, confirm=False)
    refused = slack_sim.submit_view("U0SAVER", CALLBACK_SAVE, form, view["private_metadata"])
    assert set(refused.json()["errors"]) == {"confirm"}
    with slack_runtime.sessions() as session:
        assert slack_notes(session) == []

    done = submit(
        slack_sim, fake_slack, "U0SAVER", view, {**form, **save_form("x", "y", "z", True)}
    )
    assert "anyone who asks the bot can see it" in json.dumps(done)
    with slack_runtime.sessions() as session:
        [note] = slack_notes(session)
    assert note.private and note.channel_name == "secops"


def test_a_channel_the_bot_cannot_see_counts_as_private(slack_sim, fake_slack):
    fake_slack.channel("C0HIDDEN1", "hidden", private=True, member=False)
    message = {"type": "message", "ts": "1700000000.000200", "user": "U0A", "text": "a secret"}
    slack_sim.message_shortcut(message, channel_id="C0HIDDEN1", channel_name="hidden")
    assert "confirm" in {b.get("block_id") for b in opened_view(fake_slack)["blocks"]}


def test_the_save_this_answer_button_opens_the_modal_on_its_thread(slack_sim, fake_slack):
    parent, dunno, reply = fake_slack.thread(
        CHANNEL,
        {"user": "U0ASKS", "text": "<@UBOT> how do we rotate the staging db password?"},
        {"user": "UBOT", "bot_id": "BBOT", "text": "I don't know: nothing in the notes covers it"},
        {"user": "U0KNOWS", "text": "`vault write -f database/rotate-root/staging-postgres`"},
    )
    value = json.dumps({"channel": CHANNEL, "thread_ts": parent["ts"]})
    slack_sim.action(ACTION_SAVE_THREAD, value, user_id="U0KNOWS")
    values = input_values(opened_view(fake_slack))
    assert values["title"] == "how do we rotate the staging db password?"
    assert reply["text"] in values["text"]
    assert dunno["text"] not in values["text"]  # the bot's own reply is not the team's knowledge

    slack_sim.action(ACTION_SAVE_THREAD, "not json", user_id="U0KNOWS", response="bad")
    assert "expired" in block_texts(slack_sim.wait_response("bad")[-1])


def remember(sim, user_id: str, text: str, name: str) -> str:
    sim.command(f"remember {text}", user_id=user_id, response=name)
    return block_texts(sim.wait_response(name)[-1])


@pytest.mark.parametrize("text", ["Rotate secrets", "Rotate secrets ::", ":: vault write", "a : b"])
def test_remember_without_both_sides_of_the_separator_is_a_usage_error(slack_sim, text):
    reply = remember(slack_sim, "U1", text, "r")
    assert "Usage: `/devops remember TITLE :: TEXT`" in reply


def test_saved_notes_are_edited_and_deleted_from_the_answer_menu_by_their_saver_or_an_admin(
    admin_sim, fake_slack
):
    sim, runtime = admin_sim
    reply = remember(
        sim, "U0SAVER", "Rotate the staging DB password :: " + ROTATE.split("\n", 1)[1], "r1"
    )
    assert "Saved *Rotate the staging DB password*" in reply

    mine = ask(sim, QUESTION, user_id="U0SAVER", name="q1")
    assert "vault write" in block_texts(mine) and "saved from #" in block_texts(mine)
    assert ACTION_NOTE_MENU in buttons(mine)
    assert ACTION_NOTE_MENU not in buttons(ask(sim, QUESTION, user_id="U0OTHER", name="q2"))
    assert ACTION_NOTE_MENU in buttons(ask(sim, QUESTION, user_id="UADMIN", name="q3"))
    with runtime.sessions() as session:
        [note] = slack_notes(session)

    # Anyone else choosing Delete (an old answer, a thread reply) is told who can.
    sim.choose("U0OTHER", ACTION_NOTE_MENU, f"delete:{note.id}", response="m1")
    assert "Only the person who saved this note" in block_texts(sim.wait_response("m1")[-1])
    sim.choose("U0OTHER", ACTION_NOTE_MENU, f"edit:{note.id}", response="m2")
    assert "Only the person who saved this note" in block_texts(sim.wait_response("m2")[-1])
    assert fake_slack.posted("views.open") == []

    # The saver edits: the same modal, prefilled with the note.
    sim.choose("U0SAVER", ACTION_NOTE_MENU, f"edit:{note.id}", response="m3")
    view = opened_view(fake_slack)
    assert input_values(view)["title"] == "Rotate the staging DB password"
    assert "vault write" in input_values(view)["text"]
    # A forged submission from someone else is refused even with the right metadata.
    forged = sim.submit_view(
        "U0OTHER", CALLBACK_SAVE, save_form("Mine", "", "x"), view["private_metadata"]
    )
    assert "Only the person who saved this note" in forged.json()["errors"]["title"]
    edited = "Run `make rotate-staging-db` (it rotates the staging secret and restarts the API)."
    done = submit(
        sim, fake_slack, "U0SAVER", view, save_form("Rotate the staging DB password", "ops", edited)
    )
    assert "Updated" in json.dumps(done)
    assert "make rotate-staging-db" in block_texts(ask(sim, QUESTION, name="q4"))

    # An admin deletes it: gone from the answers at once.
    sim.choose("UADMIN", ACTION_NOTE_MENU, f"delete:{note.id}", response="m4")
    assert "Deleted the saved note" in block_texts(sim.wait_response("m4")[-1])
    assert "make rotate-staging-db" not in block_texts(ask(sim, QUESTION, name="q5"))
    with runtime.sessions() as session:
        assert slack_notes(session) == []
    sim.choose("U0SAVER", ACTION_NOTE_MENU, f"delete:{note.id}", response="m5")
    assert "deleted already" in block_texts(sim.wait_response("m5")[-1])


def test_a_saved_note_survives_a_restart_and_reaches_a_running_replica(
    slack_sim, slack_runtime, slack_settings
):
    replica = open_runtime(slack_settings)
    try:
        other = SlackServices(replica).answers
        assert "vault write" not in _best_text(other.answer(QUESTION))  # its index is built now
        reply = remember(slack_sim, "U0SAVER", "Rotate the staging DB password :: " + ROTATE, "r")
        assert "Saved" in reply
        # The replica notices the moved source revision and refreshes in the background.
        wait_for(lambda: "vault write" in _best_text(other.answer(QUESTION)), timeout=30)
    finally:
        replica.engine.dispose()
    restarted = open_runtime(slack_settings)
    try:
        fresh = SlackServices(restarted).answers
        assert "vault write" in _best_text(fresh.answer(QUESTION))
    finally:
        wait_for(lambda: not restarted.answerer.refreshing(), timeout=30)
        restarted.engine.dispose()


def _best_text(answer) -> str:
    return answer.hits[0].chunk.text if answer.hits and answer.shows_best else ""
