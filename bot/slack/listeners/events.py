"""Direct messages and @mentions: the same answers as /devops, in the DM or in a thread; and
replies in channel threads, where the bot may offer to save an answer it lacked."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.slack.services import SlackServices


def register(app: App, services: SlackServices) -> None:
    """Listen for message.im, message.channels, message.groups and app_mention (bolt acks
    events before these run)."""

    @app.event("message")
    def on_message(
        event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        if event.get("channel_type") != "im":
            # A channel message: only a reply in a thread the bot could not answer matters.
            services.offers.on_reply(event, bot_user_id=context.bot_user_id, client=client)
            return
        services.answers.answer_conversation(
            event,
            event_id=body.get("event_id"),
            bot_user_id=context.bot_user_id,
            client=client,
            surface="dm",
        )

    @app.event("app_mention")
    def on_mention(
        event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        services.answers.answer_conversation(
            event,
            event_id=body.get("event_id"),
            bot_user_id=context.bot_user_id,
            client=client,
            surface="mention",
        )
