"""The App Home tab: publishing it, its feed controls, and the subscribe and edit modals."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.slack.home_controls import (
    ACTION_HOME_MENU,
    ACTION_HOME_SUBSCRIBE,
    CALLBACK_EDIT,
    CALLBACK_SUBSCRIBE,
    message_modal,
)
from bot.slack.services import SlackServices


def _user(body: dict[str, Any]) -> str | None:
    return (body.get("user") or {}).get("id")


def register(app: App, services: SlackServices) -> None:
    """Publish the Home tab whenever a user opens it, and serve its controls."""

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        services.home.publish_home(event["user"], client)

    @app.action(ACTION_HOME_SUBSCRIBE)
    def on_subscribe_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        services.home.open_subscribe(_user(body), body["trigger_id"], client)

    @app.action(ACTION_HOME_MENU)
    def on_menu(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
        services.home.menu(_user(body), selected.get("value"), body["trigger_id"], client)

    @app.view(CALLBACK_SUBSCRIBE)
    def on_subscribe(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        values = view["state"]["values"]
        errors = services.home.check_form(_user(body), values, new=True)
        access = None
        if not errors:  # one quick conversations.info, answered next to the channel picker
            access, errors = services.home.check_channel(values, client)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        # Fetching a feed can take longer than Slack's 3 seconds: say so now, finish after.
        fetching = message_modal("Subscribe a feed", "Fetching the feed… this can take a moment.")
        ack(response_action="update", view=fetching)
        services.home.submit_subscribe(
            _user(body) or "", values, view["id"], client, access, context.bot_user_id
        )

    @app.view(CALLBACK_EDIT)
    def on_edit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        values = view["state"]["values"]
        errors = services.home.check_form(_user(body), values, new=False)
        if not errors:
            errors = services.home.submit_edit(values, view.get("private_metadata") or "")
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        services.home.publish_home(_user(body) or "", client)
