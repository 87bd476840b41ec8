"""The Home tab's feed controls end to end: signed block_actions and view_submission requests
against the app in HTTP mode, Slack's Web API faked on loopback."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from slack_harness import wait_for

from bot.slack.home_controls import (
    ACTION_HOME_MENU,
    ACTION_HOME_SUBSCRIBE,
    CALLBACK_EDIT,
    CALLBACK_SUBSCRIBE,
)
from bot.subscriptions import list_subscriptions, subscribe


def _interact(sim, payload):
    base = {"user": {"id": payload.pop("user_id"), "team_id": "T1"}, "team": {"id": "T1"}}
    body = urlencode({"payload": json.dumps({**base, "api_app_id": "A1", **payload})})
    return sim.post(body, "application/x-www-form-urlencoded")


def _click(sim, user_id, action_id, **action):
    return _interact(
        sim,
        {
            "type": "block_actions",
            "user_id": user_id,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home"},
            "actions": [{"action_id": action_id, "block_id": "b", **action}],
        },
    )


def _submit(sim, user_id, callback_id, values, private_metadata=""):
    view = {
        "id": "VMODAL1",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "state": {"values": values},
    }
    return _interact(sim, {"type": "view_submission", "user_id": user_id, "view": view})


def _form(url=None, channel=None, include="", exclude="", unfurl=False):
    values = {
        "include": {"value": {"type": "plain_text_input", "value": include or None}},
        "exclude": {"value": {"type": "plain_text_input", "value": exclude or None}},
        "unfurl": {
            "value": {"type": "checkboxes", "selected_options": [{"value": "unfurl"}] * unfurl}
        },
    }
    if url is not None:
        values["url"] = {"value": {"type": "url_text_input", "value": url}}
        values["channel"] = {
            "value": {"type": "conversations_select", "selected_conversation": channel}
        }
    return values


def _view(call):
    view = call["view"]
    return json.loads(view) if isinstance(view, str) else view


def _home(fake_slack, user):
    return _view([c for c in fake_slack.posted("views.publish") if c["user_id"] == user][-1])


def _accessories(view):
    return [b.get("accessory", {}) for b in view["blocks"]]


def test_admins_get_controls_on_their_home_and_others_do_not(admin_sim, fake_slack):
    sim, _ = admin_sim
    for user in ("UADMIN", "UOTHER"):
        sim.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": "D1"})
    wait_for(lambda: len(fake_slack.posted("views.publish")) == 2)
    admin = _accessories(_home(fake_slack, "UADMIN"))
    assert any(a.get("action_id") == ACTION_HOME_SUBSCRIBE for a in admin)
    assert not any(a.get("action_id") for a in _accessories(_home(fake_slack, "UOTHER")))


def test_subscribing_through_the_modal_fetches_the_feed_and_reports_in_the_modal(
    admin_sim, fake_slack, feed_server, seed_feed
):
    sim, runtime = admin_sim
    _click(sim, "UADMIN", ACTION_HOME_SUBSCRIBE, type="button", value="new")
    opened = wait_for(lambda: fake_slack.posted("views.open"))
    modal = _view(opened[-1])
    assert modal["callback_id"] == CALLBACK_SUBSCRIBE
    assert {b["block_id"] for b in modal["blocks"]} >= {"url", "channel", "include", "exclude"}

    # What Slack cannot check is answered in the modal, next to the field.
    bad = _submit(sim, "UADMIN", CALLBACK_SUBSCRIBE, _form("ftp://x", None, include="re:("))
    assert bad.json()["response_action"] == "errors"
    assert set(bad.json()["errors"]) == {"url", "channel", "include"}

    url = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    form = _form(url, "C0OPS1234", include="kubernetes\nre:^Release", unfurl=True)
    response = _submit(sim, "UADMIN", CALLBACK_SUBSCRIBE, form)
    assert response.json()["response_action"] == "update"  # "fetching…" within 3 seconds
    updated = wait_for(lambda: fake_slack.posted("views.update"))
    assert "Subscribed <#C0OPS1234>" in json.dumps(_view(updated[-1]))
    with runtime.sessions() as session:
        [sub] = list_subscriptions(session)
    assert (sub.feed_url, sub.channel_id, sub.include, sub.unfurl) == (
        url,
        "C0OPS1234",
        ("kubernetes", "re:^Release"),
        True,
    )

    refused = _submit(sim, "UOTHER", CALLBACK_SUBSCRIBE, form)
    assert "Only the feed admins" in refused.json()["errors"]["url"]


def test_the_menu_pauses_edits_and_unsubscribes(admin_sim, fake_slack, feed_server, seed_feed):
    sim, runtime = admin_sim
    url = feed_server.serve("/atom.xml", seed_feed("shipit-dev.atom.xml"))
    with runtime.sessions.begin() as session:
        sub_id = subscribe(session, url, "C0OPS1234", runtime.settings).subscription.id

    def choose(verb):
        option = {"value": f"{verb}:{sub_id}", "text": {"type": "plain_text", "text": verb}}
        before = len(fake_slack.posted("views.publish"))
        _click(sim, "UADMIN", ACTION_HOME_MENU, type="overflow", selected_option=option)
        if verb != "edit":
            wait_for(lambda: len(fake_slack.posted("views.publish")) > before)

    def status():
        with runtime.sessions() as session:
            return [(s.status, s.include) for s in list_subscriptions(session)]

    choose("pause")
    assert status() == [("paused", ())]
    menu = [a for a in _accessories(_home(fake_slack, "UADMIN")) if a.get("type") == "overflow"]
    assert menu[0]["options"][0]["value"] == f"resume:{sub_id}"  # the menu now offers resume
    choose("resume")
    assert status() == [("active", ())]

    choose("edit")
    edit = _view(wait_for(lambda: fake_slack.posted("views.open"))[-1])
    assert edit["callback_id"] == CALLBACK_EDIT and edit["private_metadata"] == str(sub_id)
    published = len(fake_slack.posted("views.publish"))
    saved = _submit(sim, "UADMIN", CALLBACK_EDIT, _form(include="helm"), str(sub_id))
    assert saved.status_code == 200 and not saved.text  # an empty ack closes the modal
    assert status() == [("active", ("helm",))]
    # The Home is published again after the ack; wait for it, or the next step's wait could
    # take this publish for its own.
    wait_for(lambda: len(fake_slack.posted("views.publish")) > published)

    choose("unsubscribe")
    assert status() == []
