"""Saving Slack messages as notes: the message shortcut, its modal, the "Save this answer"
button, and Edit / Delete under an answer (ack first, then the service)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack.answer_blocks import ACTION_NOTE_MENU, Message
from bot.slack.save_blocks import ACTION_SAVE_THREAD, CALLBACK_SAVE, SHORTCUT_SAVE, message_view
from bot.slack.services import SlackServices


def _user(body: dict[str, Any]) -> str | None:
    return (body.get("user") or {}).get("id")


def _action(body: dict[str, Any]) -> dict[str, Any]:
    return (body.get("actions") or [{}])[0]


def _tell(respond: Respond, reply: Message | None) -> None:
    if reply is not None:
        respond(response_type="ephemeral", replace_original=False, **reply.as_kwargs())


def register(app: App, services: SlackServices) -> None:
    """Listen for the save shortcut, its modal, and the saved notes' buttons."""

    @app.shortcut(SHORTCUT_SAVE)
    def on_save_shortcut(
        ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        ack()
        _tell(respond, services.notes.open_from_shortcut(body, client, context.bot_user_id))

    @app.action(ACTION_SAVE_THREAD)
    def on_save_thread(
        ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        ack()
        value = _action(body).get("value")
        _tell(respond, services.notes.open_from_thread(value, body, client, context.bot_user_id))

    @app.action(ACTION_NOTE_MENU)
    def on_note_menu(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        choice = (_action(body).get("selected_option") or {}).get("value")
        _tell(respond, services.notes.menu(_user(body), choice, body.get("trigger_id"), client))

    @app.view(CALLBACK_SAVE)
    def on_save(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        values = view["state"]["values"]
        metadata = view.get("private_metadata") or ""
        errors = services.notes.check(_user(body), values, metadata)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        # Storing and indexing take a moment: the modal says so within Slack's 3 seconds.
        ack(response_action="update", view=message_view(":hourglass_flowing_sand: Saving…"))
        services.notes.submit(_user(body) or "", values, metadata, view.get("id"), client)
