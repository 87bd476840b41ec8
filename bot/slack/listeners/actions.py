"""The answer buttons: Share in channel, More results, 👍 / 👎."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack.answer_blocks import ACTION_MORE, ACTION_SHARE, ACTION_VOTE_DOWN, ACTION_VOTE_UP
from bot.slack.services import SlackServices


def _value(body: dict[str, Any]) -> str | None:
    actions = body.get("actions") or [{}]
    return actions[0].get("value")


def _user(body: dict[str, Any]) -> str | None:
    return (body.get("user") or {}).get("id")


def _channel(body: dict[str, Any]) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def register(app: App, services: SlackServices) -> None:
    """Listen for the buttons under an answer."""

    @app.action(ACTION_SHARE)
    def share(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        services.answers.share(
            _value(body),
            user_id=_user(body),
            channel_id=_channel(body),
            client=client,
            respond=respond,
        )

    @app.action(ACTION_MORE)
    def more(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        message = services.answers.more_results(_value(body))
        respond(response_type="ephemeral", replace_original=False, **message.as_kwargs())

    def vote(ack: Ack, body: dict[str, Any], respond: Respond, value: int) -> None:
        ack()
        message = services.votes.vote(_value(body), user_id=_user(body), vote=value)
        respond(response_type="ephemeral", replace_original=False, **message.as_kwargs())

    @app.action(ACTION_VOTE_UP)
    def vote_up(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        vote(ack, body, respond, 1)

    @app.action(ACTION_VOTE_DOWN)
    def vote_down(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        vote(ack, body, respond, -1)
