"""Digests and day threads from Slack: `/devops subscribe|set … digest=… thread=…`, `/devops
feeds`, and the Home tab's modals, through signed requests to the app in HTTP mode."""

from __future__ import annotations

import json

from slack_harness import block_texts, modal_form, view_of, wait_for

from bot.slack.home_controls import (
    ACTION_HOME_MENU,
    CALLBACK_EDIT,
    CALLBACK_SUBSCRIBE,
    edit_modal,
)
from bot.slack.subcommands import parse_command
from bot.subscriptions import list_subscriptions, subscribe


def test_digest_and_thread_settings_parse_with_their_spaces():
    command = parse_command(
        "subscribe <https://e13.dev/feed.xml> <#C0OPS1234|ops> "
        "digest=weekly@mon 09:00 Europe/Berlin"
    )
    assert (command.name, command.ref, command.channel_id) == (
        "subscribe",
        "https://e13.dev/feed.xml",
        "C0OPS1234",
    )
    assert command.digest == "weekly@mon 09:00 Europe/Berlin" and command.error is None
    command = parse_command("set 12 thread=daily include=k8s digest=off")
    assert (command.thread, command.digest, command.include) == ("daily", "off", ("k8s",))
    assert parse_command("subscribe https://e13.dev/feed.xml digest=").digest == "off"
    assert "is not a setting" in parse_command("subscribe https://x/feed colour=red").error


def _modes(runtime):
    with runtime.sessions() as session:
        return {s.feed_url: (s.digest, s.thread) for s in list_subscriptions(session)}


def test_subscribe_and_set_from_slack_and_feeds_shows_the_setting(
    admin_sim, feed_server, seed_feed
):
    sim, runtime = admin_sim
    url = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    sim.command(
        f"subscribe <{url}> digest=weekly@mon 09:00 Europe/Berlin",
        user_id="UADMIN",
        channel_id="C0OPS1234",
        response="d1",
    )
    text = block_texts(sim.wait_response("d1")[0])
    assert "Subscribed <#C0OPS1234>" in text
    assert "as a digest every Mon at 09:00 (Europe/Berlin)" in text
    assert _modes(runtime) == {url: ("weekly@mon 09:00 Europe/Berlin", None)}

    sim.command(
        f"set <{url}> thread=daily", user_id="UADMIN", channel_id="C0OPS1234", response="d2"
    )
    text = block_texts(sim.wait_response("d2")[0])
    assert "posted as a thread per day (UTC)" in text
    assert _modes(runtime) == {url: (None, "daily UTC")}

    sim.command("feeds", user_id="U2", channel_id="C0OPS1234", response="d3")
    assert ":calendar: posts as a thread per day (UTC)" in block_texts(sim.wait_response("d3")[0])

    sim.command(
        f"set <{url}> digest=every monday", user_id="UADMIN", channel_id="C0OPS1234", response="d4"
    )
    text = block_texts(sim.wait_response("d4")[0])
    assert "is not a digest schedule. Use daily@HH:MM or weekly@DAY HH:MM" in text
    assert _modes(runtime) == {url: (None, "daily UTC")}  # nothing changed

    sim.command("help", user_id="U2", response="d5")
    assert "digest=daily@09:00" in block_texts(sim.wait_response("d5")[0])


def _digest_form(url=None, channel=None, mode="digest", schedule=""):
    form = modal_form(url, channel)
    form["mode"] = {"value": {"type": "radio_buttons", "selected_option": {"value": mode}}}
    form["digest"] = {"value": {"type": "plain_text_input", "value": schedule or None}}
    return form


def test_the_home_modals_set_and_show_a_digest(admin_sim, fake_slack, feed_server, seed_feed):
    sim, runtime = admin_sim
    url = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    bad = sim.submit_view(
        "UADMIN", CALLBACK_SUBSCRIBE, _digest_form(url, "C0OPS1234", schedule="at nine")
    )
    assert bad.json()["response_action"] == "errors"
    assert "daily@HH:MM or weekly@DAY HH:MM" in bad.json()["errors"]["digest"]
    assert _modes(runtime) == {}

    form = _digest_form(url, "C0OPS1234", schedule="daily@07:30 Europe/Berlin")
    assert sim.submit_view("UADMIN", CALLBACK_SUBSCRIBE, form).json()["response_action"] == "update"
    updated = wait_for(lambda: fake_slack.posted("views.update"))
    assert "as a digest daily at 07:30 (Europe/Berlin)" in json.dumps(view_of(updated[-1]))
    assert _modes(runtime) == {url: ("daily@07:30 Europe/Berlin", None)}
    # The Home tab shows it.
    home = wait_for(lambda: fake_slack.posted("views.publish"))
    assert "posts as a digest daily at 07:30 (Europe/Berlin)" in json.dumps(view_of(home[-1]))

    # The edit modal opens with the digest chosen and its schedule filled in.
    with runtime.sessions() as session:
        (sub,) = list_subscriptions(session)
    option = {"value": f"edit:{sub.id}", "text": {"type": "plain_text", "text": "edit"}}
    sim.interact(
        {
            "type": "block_actions",
            "user_id": "UADMIN",
            "trigger_id": "1.2.3",
            "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home"},
            "actions": [
                {
                    "action_id": ACTION_HOME_MENU,
                    "block_id": "b",
                    "type": "overflow",
                    "selected_option": option,
                }
            ],
        }
    )
    edit = view_of(wait_for(lambda: fake_slack.posted("views.open"))[-1])
    blocks = {b.get("block_id"): b for b in edit["blocks"]}
    assert blocks["mode"]["element"]["initial_option"]["value"] == "digest"
    assert blocks["digest"]["element"]["initial_value"] == "daily@07:30 Europe/Berlin"

    saved = sim.submit_view("UADMIN", CALLBACK_EDIT, _digest_form(mode="thread"), str(sub.id))
    assert saved.status_code == 200 and not saved.text
    assert _modes(runtime) == {url: (None, "daily UTC")}
    published = len(fake_slack.posted("views.publish"))
    saved = sim.submit_view("UADMIN", CALLBACK_EDIT, _digest_form(mode="each"), str(sub.id))
    assert _modes(runtime) == {url: (None, None)}
    # Saving republishes the Home after the ack: wait for it before the app stops.
    wait_for(lambda: len(fake_slack.posted("views.publish")) > published)


def test_a_subscription_made_elsewhere_shows_its_mode_in_the_edit_modal(
    admin_sim, feed_server, seed_feed
):
    _, runtime = admin_sim
    url = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    with runtime.sessions.begin() as session:
        view = subscribe(session, url, "C0OPS1234", runtime.settings, thread="daily").subscription
    blocks = {b.get("block_id"): b for b in edit_modal(view)["blocks"]}
    assert blocks["mode"]["element"]["initial_option"]["value"] == "thread"
