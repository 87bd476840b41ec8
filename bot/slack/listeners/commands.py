"""The `/devops` slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack.services import SlackServices
from bot.slack.subcommands import SLASH_COMMAND, parse_command


def register(app: App, services: SlackServices) -> None:
    """Listen for /devops: ack within Slack's 3 seconds, then answer through the response URL."""

    @app.command(SLASH_COMMAND)
    def devops(
        ack: Ack,
        command: dict[str, Any],
        respond: Respond,
        client: WebClient,
        context: BoltContext,
    ) -> None:
        parsed = parse_command(command.get("text") or "")
        user_id = command.get("user_id")
        ack(text=services.commands.acknowledgement(parsed, user_id))
        services.commands.run_command(
            parsed,
            user_id=user_id,
            channel_id=command.get("channel_id"),
            send=lambda message: respond(response_type="ephemeral", **message.as_kwargs()),
            client=client,
            bot_user_id=context.bot_user_id,
        )
