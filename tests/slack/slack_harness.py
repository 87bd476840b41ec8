"""Requests signed exactly as Slack signs them, sent to the bot's real HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-0000-test-token"


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until predicate() is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s")


class SlackClientSim:
    """Plays Slack's side: slash commands, events and block actions, signed with the secret."""

    def __init__(self, base_url: str, fake_slack: Any, secret: str = SIGNING_SECRET) -> None:
        self.url = base_url.rstrip("/") + "/slack/events"
        self.base_url = base_url.rstrip("/")
        self.fake = fake_slack
        self.secret = secret
        self.http = httpx.Client(timeout=10)

    def close(self) -> None:
        self.http.close()

    def sign(self, timestamp: str, body: bytes) -> str:
        """Slack's signature over the raw bytes (slack_sdk's helper only takes UTF-8 text)."""
        base = b"v0:" + timestamp.encode() + b":" + body
        return "v0=" + hmac.new(self.secret.encode(), base, hashlib.sha256).hexdigest()

    def post(
        self,
        body: str | bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        raw = body.encode() if isinstance(body, str) else body
        sig = signature or self.sign(ts, raw)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        return self.http.post(self.url, content=raw, headers=all_headers)

    # -- slash commands ---------------------------------------------------------------------------

    def command_body(
        self, text: str, *, user_id: str = "U1", channel_id: str = "C0DEVOPS1", response: str = "r1"
    ) -> str:
        return urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": "T1",
                "team_domain": "test",
                "channel_id": channel_id,
                "channel_name": "ops",
                "user_id": user_id,
                "user_name": "someone",
                "command": "/devops",
                "text": text,
                "api_app_id": "A1",
                "is_enterprise_install": "false",
                "response_url": self.fake.response_url(response),
                "trigger_id": "1.2.3",
            }
        )

    def command(self, text: str, **kwargs: Any) -> httpx.Response:
        return self.post(self.command_body(text, **kwargs), "application/x-www-form-urlencoded")

    def responses(self, name: str) -> list[dict[str, Any]]:
        return [payload for n, payload in list(self.fake.responses) if n == name]

    def wait_response(self, name: str, count: int = 1, timeout: float = 5.0) -> list[dict]:
        return wait_for(lambda: (r := self.responses(name)) and len(r) >= count and r, timeout)

    # -- events -----------------------------------------------------------------------------------

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> str:
        return json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": "T1",
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {"team_id": "T1", "user_id": "UBOT", "is_bot": True, "enterprise_id": None}
                ],
            }
        )

    def event(
        self, event: dict[str, Any], event_id: str | None = None, retry_num: int | None = None
    ) -> httpx.Response:
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(self.event_body(event, event_id), "application/json", headers=headers)

    # -- interactivity ----------------------------------------------------------------------------

    def action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str = "U1",
        channel_id: str = "C0DEVOPS1",
        response: str = "a1",
        ephemeral: bool = True,
    ) -> httpx.Response:
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": "someone", "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": "1700000000.000100",
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": "1.2.3",
            "team": {"id": "T1", "domain": "test"},
            "channel": {"id": channel_id, "name": "ops"},
            "response_url": self.fake.response_url(response),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b1",
                    "text": {"type": "plain_text", "text": "x"},
                    "value": value,
                    "type": "button",
                    "action_ts": "1700000001.000200",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded")

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        """Send an interactivity payload (block_actions, view_submission) from `user_id`."""
        base = {"user": {"id": payload.pop("user_id"), "team_id": "T1"}, "team": {"id": "T1"}}
        body = urlencode({"payload": json.dumps({**base, "api_app_id": "A1", **payload})})
        return self.post(body, "application/x-www-form-urlencoded")

    def submit_view(
        self,
        user_id: str,
        callback_id: str,
        values: dict[str, Any],
        private_metadata: str = "",
    ) -> httpx.Response:
        """Submit a modal with these `state.values`, as Slack sends a view_submission."""
        view = {
            "id": "VMODAL1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
        }
        return self.interact({"type": "view_submission", "user_id": user_id, "view": view})

    # -- saving messages as notes (issue 10) ------------------------------------------------

    def message_shortcut(
        self,
        message: dict[str, Any],
        *,
        user_id: str = "U1",
        channel_id: str = "C0DEVOPS1",
        channel_name: str = "ops",
        callback_id: str = "save_to_notes",
        response: str = "s1",
    ) -> httpx.Response:
        """Run a message shortcut on `message` (as conversations.replies or an event has it)."""
        payload = {
            "type": "message_action",
            "token": "legacy-verification-token",
            "action_ts": f"{time.time():.6f}",
            "team": {"id": "T1", "domain": "test"},
            "user": {"id": user_id, "username": "someone", "team_id": "T1", "name": "someone"},
            "channel": {"id": channel_id, "name": channel_name},
            "is_enterprise_install": False,
            "callback_id": callback_id,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "response_url": self.fake.response_url(response),
            "message_ts": message["ts"],
            "message": message,
        }
        body = urlencode({"payload": json.dumps({**payload, "api_app_id": "A1"})})
        return self.post(body, "application/x-www-form-urlencoded")

    def choose(
        self, user_id: str, action_id: str, value: str, response: str = "m1"
    ) -> httpx.Response:
        """Pick `value` in an overflow menu under an ephemeral answer."""
        return self.interact(
            {
                "type": "block_actions",
                "user_id": user_id,
                "trigger_id": "13345224609.738474920.8088930838d88f008e0",
                "container": {"type": "message", "message_ts": "1.2", "is_ephemeral": True},
                "channel": {"id": "C0DEVOPS1", "name": "ops"},
                "response_url": self.fake.response_url(response),
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "b",
                        "type": "overflow",
                        "selected_option": {
                            "text": {"type": "plain_text", "text": value},
                            "value": value,
                        },
                    }
                ],
            }
        )


def save_form(
    title: str | None, section: str | None, text: str | None, confirm: bool | None = None
) -> dict[str, Any]:
    """The `state.values` of the save-to-notes modal, as Slack sends them."""
    values: dict[str, Any] = {
        "title": {"value": {"type": "plain_text_input", "value": title}},
        "section": {"value": {"type": "plain_text_input", "value": section}},
        "text": {"value": {"type": "plain_text_input", "value": text}},
    }
    if confirm is not None:  # the modal has the box only for a private conversation
        chosen = [{"value": "shown_to_anyone"}] if confirm else []
        values["confirm"] = {"value": {"type": "checkboxes", "selected_options": chosen}}
    return values


def input_values(view: dict[str, Any]) -> dict[str, str]:
    """block_id → initial value of every text input of a modal."""
    return {
        b["block_id"]: b["element"].get("initial_value", "")
        for b in view["blocks"]
        if b.get("type") == "input" and b["element"]["type"] == "plain_text_input"
    }


def modal_form(
    url: str | None = None,
    channel: str | None = None,
    include: str = "",
    exclude: str = "",
    unfurl: bool = False,
) -> dict[str, Any]:
    """The `state.values` of a subscribe (with `url`) or edit modal, as Slack sends them."""
    values: dict[str, Any] = {
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


def view_of(call: dict[str, Any]) -> dict[str, Any]:
    """The view a views.* call carried (slack_sdk sends it as a JSON string)."""
    view = call["view"]
    return json.loads(view) if isinstance(view, str) else view


def block_texts(message: dict[str, Any]) -> str:
    """Every text in a message's blocks, joined, for assertions."""
    out: list[str] = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        if isinstance(block, str):
            block = json.loads(block)
        text = block.get("text")
        if isinstance(text, dict):
            out.append(text.get("text", ""))
        for element in block.get("elements", []) or []:
            if isinstance(element.get("text"), str):
                out.append(element["text"])
            elif isinstance(element.get("text"), dict):
                out.append(element["text"].get("text", ""))
    return "\n".join(out)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id → value of every button in a message."""
    found = {}
    blocks = message.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    for block in blocks:
        if block.get("type") == "actions":
            for element in block["elements"]:
                found[element["action_id"]] = element.get("value", "")
    return found
