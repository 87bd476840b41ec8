"""Home tab controls as pure builders: the subscription menu, the subscribe and edit modals, and
reading what a modal's form holds. No Slack calls, no database: values in, views out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.slack.answer_blocks import overflow_menu
from bot.slack.command_blocks import SubscriptionLike
from bot.slack.text import truncate

ACTION_HOME_SUBSCRIBE = "devops_home_subscribe"
ACTION_HOME_MENU = "devops_home_menu"
CALLBACK_SUBSCRIBE = "devops_subscribe_modal"
CALLBACK_EDIT = "devops_edit_modal"
MENU_VERBS = ("pause", "resume", "edit", "unsubscribe")
_TEXT_LIMIT = 3000  # a plain_text_input's max_length


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, 150), "emoji": True}


def subscription_menu(sub: SubscriptionLike) -> dict[str, Any]:
    """An overflow menu for one subscription: pause or resume, edit, unsubscribe."""
    toggle = ("resume", "Resume announcements") if sub.status != "active" else ("pause", "Pause")
    options = [toggle, ("edit", "Edit filters and posting…"), ("unsubscribe", "Unsubscribe")]
    return overflow_menu(ACTION_HOME_MENU, sub.id, options)


def _filters_input(block_id: str, label: str, hint: str, initial: tuple[str, ...]) -> dict:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": _TEXT_LIMIT,
        "placeholder": _plain("kubernetes\nre:^Release"),
    }
    if initial:
        element["initial_value"] = "\n".join(initial)[:_TEXT_LIMIT]
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": _plain(label),
        "hint": _plain(hint),
        "element": element,
    }


def _unfurl_input(initial: bool) -> dict[str, Any]:
    option = {"text": _plain("Show link previews under each post"), "value": "unfurl"}
    element: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": [option]}
    if initial:
        element["initial_options"] = [option]
    return {
        "type": "input",
        "block_id": "unfurl",
        "optional": True,
        "label": _plain("Link previews"),
        "element": element,
    }


MODES = {
    "each": "Each entry as its own message",
    "thread": "Each day's entries as replies in one thread",
    "digest": "A digest: the new entries in one message, on a schedule",
}


def _mode_blocks(digest: str | None = None, thread: str | None = None) -> list[dict[str, Any]]:
    """How posts go out: a radio choice, and the digest's schedule (used when "digest")."""
    current = "digest" if digest else "thread" if thread else "each"
    options = [{"text": _plain(label), "value": value} for value, label in MODES.items()]
    schedule: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "max_length": 96,
        "placeholder": _plain("daily@09:00"),
    }
    if digest:
        schedule["initial_value"] = digest
    return [
        {
            "type": "input",
            "block_id": "mode",
            "optional": True,
            "label": _plain("How to post"),
            "element": {
                "type": "radio_buttons",
                "action_id": "value",
                "options": options,
                "initial_option": next(o for o in options if o["value"] == current),
            },
        },
        {
            "type": "input",
            "block_id": "digest",
            "optional": True,
            "label": _plain("Digest schedule"),
            "hint": _plain(
                "daily@09:00 or weekly@mon 09:00, optionally a time zone such as Europe/Berlin "
                "(default: the bot's DEVOPSBOT_TIMEZONE)."
            ),
            "element": schedule,
        },
    ]


def _filter_blocks(include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> list[dict]:
    return [
        _filters_input(
            "include",
            "Only post entries matching",
            "One word or re:regex per line; empty: post everything.",
            include,
        ),
        _filters_input(
            "exclude", "Never post entries matching", "One word or re:regex per line.", exclude
        ),
    ]


def subscribe_modal() -> dict[str, Any]:
    """The "Subscribe a feed" form: feed or blog address, channel, filters, link previews."""
    return {
        "type": "modal",
        "callback_id": CALLBACK_SUBSCRIBE,
        "title": _plain("Subscribe a feed"),
        "submit": _plain("Subscribe"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "url",
                "label": _plain("Feed or blog address"),
                "element": {
                    "type": "url_text_input",
                    "action_id": "value",
                    "placeholder": _plain("https://example.com/feed.xml"),
                },
            },
            {
                "type": "input",
                "block_id": "channel",
                "label": _plain("Announce new posts in"),
                "element": {
                    "type": "conversations_select",
                    "action_id": "value",
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            },
            *_filter_blocks(),
            _unfurl_input(False),
            *_mode_blocks(),
        ],
    }


def edit_modal(sub: SubscriptionLike) -> dict[str, Any]:
    """The "Edit subscription" form (filters, link previews, how to post), filled with what the
    subscription has now."""
    where = f"<#{sub.channel_id}>" if sub.channel_id else "index only"
    # The feed's title goes in a plain_text element: nothing a feed names can format here.
    return {
        "type": "modal",
        "callback_id": CALLBACK_EDIT,
        "private_metadata": str(sub.id),
        "title": _plain("Edit subscription"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": _plain(sub.feed_title or sub.feed_url)},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Posts to {where}"}]},
            *_filter_blocks(tuple(sub.include), tuple(sub.exclude)),
            _unfurl_input(sub.unfurl),
            *_mode_blocks(getattr(sub, "digest", None), getattr(sub, "thread", None)),
        ],
    }


def message_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (the outcome of a submission); `text` is mrkdwn."""
    return {
        "type": "modal",
        "title": _plain(title),
        "close": _plain("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}],
    }


@dataclass(frozen=True)
class SubscriptionForm:
    """What a subscribe or edit modal was submitted with."""

    url: str = ""
    channel_id: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    unfurl: bool = False
    mode: str = "each"  # one of MODES
    schedule: str = ""  # the digest schedule as typed

    @property
    def digest(self) -> str:
        """The digest setting the form asks for ("off" unless the mode is "digest")."""
        return (self.schedule or "daily@09:00") if self.mode == "digest" else "off"

    @property
    def thread(self) -> str:
        """The thread mode the form asks for ("off" unless the mode is "thread")."""
        return "daily" if self.mode == "thread" else "off"


def read_form(values: dict[str, Any]) -> SubscriptionForm:
    """The submitted form from a view's `state.values` (missing fields are empty)."""

    def field(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get("value") or {}

    def lines(block: str) -> tuple[str, ...]:
        text = field(block).get("value") or ""
        return tuple(line.strip() for line in text.splitlines() if line.strip())

    return SubscriptionForm(
        url=(field("url").get("value") or "").strip(),
        channel_id=field("channel").get("selected_conversation"),
        include=lines("include"),
        exclude=lines("exclude"),
        unfurl=bool(field("unfurl").get("selected_options")),
        mode=(field("mode").get("selected_option") or {}).get("value") or "each",
        schedule=(field("digest").get("value") or "").strip(),
    )
