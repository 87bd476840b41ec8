"""Pure Block Kit for saving a Slack message as a note: the modal, its form and its checks.

Limits kept (Slack refuses the modal otherwise): title, submit and close ≤ 24 characters,
plain_text_input ≤ 3,000 characters with its initial value within max_length, private_metadata
≤ 3,000 characters.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from bot.knowledge.saved import SECTION_MAX, TEXT_MAX, TITLE_MAX, one_line
from bot.slack.home_controls import message_modal
from bot.slack.text import escape, truncate

CALLBACK_SAVE = "save_to_notes_modal"
SHORTCUT_SAVE = "save_to_notes"  # the message shortcut's callback_id (app_manifest.yml)
SHORTCUT_NAME = "Save to DevOps notes"
# The button another flow posts under an unanswered question's thread ("Save this answer").
ACTION_SAVE_THREAD = "save_thread_answer"
CONFIRM_VALUE = "shown_to_anyone"
CONFIRM_TEXT = "I understand this answer will be shown to anyone who asks the bot"
MODAL_TITLE = "Save to DevOps notes"


def save_thread_value(channel_id: str, thread_ts: str) -> str:
    """The "Save this answer" button's value: which thread to read the answer from."""
    return json.dumps({"channel": channel_id, "thread_ts": thread_ts})


def parse_save_thread_value(value: str | None) -> tuple[str, str] | None:
    """(channel, thread_ts) from a "Save this answer" button's value; None when unreadable."""
    try:
        data = json.loads(value or "")
        return str(data["channel"]), str(data["thread_ts"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Prefill:
    """What the modal opens with, and where the note comes from (carried in private_metadata,
    which only comes back in signed requests; the saver is checked again on edit)."""

    title: str
    section: str
    text: str
    channel_id: str | None = None
    channel_name: str = ""
    message_ts: str | None = None
    author_id: str | None = None
    team_id: str | None = None
    private: bool = False
    note_id: int | None = None  # editing this saved note
    truncated: bool = False  # the thread was longer than the text field holds
    partial: bool = False  # the rest of the thread could not be read

    def metadata(self) -> str:
        """The modal's private_metadata: where the note comes from, never its text."""
        data = asdict(self)
        for key in ("title", "section", "text", "truncated", "partial"):
            data.pop(key)
        data["channel_name"] = truncate(self.channel_name, 200)
        return json.dumps(data, separators=(",", ":"))


def origin_from_metadata(raw: str) -> Prefill:
    """The origin fields of `Prefill.metadata` (text fields empty); nothing for malformed data."""
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}

    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value)[:255] if isinstance(value, str | int) and value != "" else None

    note = data.get("note_id")
    return Prefill(
        title="",
        section="",
        text="",
        channel_id=text("channel_id"),
        channel_name=text("channel_name") or "",
        message_ts=text("message_ts"),
        author_id=text("author_id"),
        team_id=text("team_id"),
        private=data.get("private") is True,
        note_id=note if isinstance(note, int) and not isinstance(note, bool) else None,
    )


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _input(
    block_id: str,
    label: str,
    initial: str,
    limit: int,
    *,
    multiline: bool = False,
    optional: bool = False,
    hint: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": limit,
    }
    if initial:
        element["initial_value"] = initial[:limit]
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint)
    return block


def _where(prefill: Prefill) -> str:
    channel = f"#{escape(truncate(prefill.channel_name, 80))}" if prefill.channel_name else ""
    author = f"<@{prefill.author_id}>" if prefill.author_id and prefill.author_id.isalnum() else ""
    if not channel:
        return ""
    return f"From {channel}" + (f", a message by {author}" if author else "")


def save_modal(prefill: Prefill) -> dict[str, Any]:
    """The save (or edit) modal: title, section, text, and for a private conversation the
    required confirmation that anyone who asks will see the answer."""
    blocks: list[dict[str, Any]] = []
    if prefill.private:
        where = f" (#{escape(truncate(prefill.channel_name, 80))})" if prefill.channel_name else ""
        blocks.append(
            {
                "type": "section",
                "block_id": "private_notice",
                "text": {
                    "type": "mrkdwn",
                    "text": f":lock: *This comes from a private conversation*{where}. Once "
                    "saved, the bot shows it to anyone who asks, in any channel.",
                },
            }
        )
    blocks.append(_input("title", "Title", prefill.title, TITLE_MAX))
    blocks.append(
        _input(
            "section",
            "Section",
            prefill.section,
            SECTION_MAX,
            optional=True,
            hint="Where it belongs in the notes, e.g. Kubernetes or the team's name.",
        )
    )
    blocks.append(_input("text", "Text", prefill.text, TEXT_MAX, multiline=True))
    if prefill.private:
        blocks.append(
            {
                "type": "input",
                "block_id": "confirm",
                "label": _plain("Private conversation"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [{"text": _plain(CONFIRM_TEXT), "value": CONFIRM_VALUE}],
                },
            }
        )
    notes = [_where(prefill)]
    if prefill.truncated:
        notes.append(f"The thread is longer than {TEXT_MAX:,} characters: its end was cut.")
    if prefill.partial:
        notes.append("I could not read the rest of the thread (invite me to the channel).")
    shown = [n for n in notes if n]
    if shown:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": n} for n in shown]}
        )
    return {
        "type": "modal",
        "callback_id": CALLBACK_SAVE,
        "title": _plain(MODAL_TITLE),
        "submit": _plain("Save" if prefill.note_id is None else "Save changes"),
        "close": _plain("Cancel"),
        "private_metadata": prefill.metadata(),
        "blocks": blocks,
    }


def message_view(text: str) -> dict[str, Any]:
    """A modal that only says something (escaped mrkdwn): "Saving…", "Saved", a refusal."""
    return message_modal(MODAL_TITLE, text)


@dataclass(frozen=True)
class SaveForm:
    """What the saver submitted."""

    title: str
    section: str
    text: str
    confirmed: bool


def read_form(values: dict[str, Any]) -> SaveForm:
    """The submitted `view.state.values`, missing fields read as empty."""

    def text(block: str) -> str:
        value = ((values.get(block) or {}).get("value") or {}).get("value")
        return value if isinstance(value, str) else ""

    chosen = ((values.get("confirm") or {}).get("value") or {}).get("selected_options") or []
    return SaveForm(
        title=one_line(text("title")),
        section=one_line(text("section")),
        text=text("text").strip(),
        confirmed=any(o.get("value") == CONFIRM_VALUE for o in chosen if isinstance(o, dict)),
    )


def form_errors(form: SaveForm, private: bool) -> dict[str, str]:
    """Errors by block id, shown next to the fields (`response_action: errors`)."""
    errors: dict[str, str] = {}
    if not form.title:
        errors["title"] = "Give the note a title."
    elif len(form.title) > TITLE_MAX:
        errors["title"] = (
            f"Keep the title within {TITLE_MAX} characters (it has {len(form.title)})."
        )
    if len(form.section) > SECTION_MAX:
        errors["section"] = (
            f"Keep the section within {SECTION_MAX} characters (it has {len(form.section)})."
        )
    if not form.text:
        errors["text"] = "The note needs some text."
    elif len(form.text) > TEXT_MAX:
        errors["text"] = (
            f"Keep the text within {TEXT_MAX:,} characters (it has {len(form.text):,})."
        )
    if private and not form.confirmed:
        errors["confirm"] = (
            "This comes from a private conversation: tick the box to confirm that anyone who "
            "asks the bot may see it."
        )
    return errors
