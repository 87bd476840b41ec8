"""Pure Block Kit builders for answers: values in, `{"text", "blocks"}` out, no Slack calls.

Limits we keep (Slack rejects the whole message otherwise): section text ≤ 3,000 characters,
≤ 50 blocks a message, button values ≤ 2,000 characters, and always a fallback `text`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.knowledge.calibration import shown_in_full
from bot.knowledge.index import IndexedChunk
from bot.plaintext import stored_line
from bot.slack.mrkdwn import (
    SECTION_LIMIT,
    inline_to_mrkdwn,
    markdown_pieces,
    plain_excerpt,
    split_mrkdwn,
)
from bot.slack.text import escape, feed_mrkdwn, link, neutralize, truncate

MAX_BLOCKS = 50
MAX_BUTTON_VALUE = 2000
BEST_ANSWER_SECTIONS = 4  # 12,000 characters of one note is plenty; the source has the rest
ARTICLE_EXCERPT = 600

ACTION_SHARE = "devops_share"
ACTION_MORE = "devops_more"
ACTION_VOTE_UP = "devops_vote_up"
ACTION_VOTE_DOWN = "devops_vote_down"
# The overflow menu (Edit / Delete) under an answer from a note saved from Slack.
ACTION_NOTE_MENU = "saved_note_menu"

Style = Literal["private", "conversation", "shared"]
_BULLET_MARK = re.compile(r"^[-*+]\s+")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,30}$")


@dataclass(frozen=True)
class Message:
    """A Slack message body: fallback text plus blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for chat.postMessage / respond()."""
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class SavedFrom:
    """Where a note saved from Slack came from, as its answers show it."""

    note_id: int
    channel_name: str
    saver_id: str
    permalink: str | None = None


@dataclass(frozen=True)
class AnswerHit:
    """One ranked chunk with what the message shows beside it (an article's date, where a note
    saved from Slack came from)."""

    chunk: IndexedChunk
    score: float
    published_at: datetime | None = None
    saved: SavedFrom | None = None


@dataclass(frozen=True)
class Answer:
    """What the service found for a question, ready to render."""

    question: str
    answered: bool
    hits: tuple[AnswerHit, ...] = ()

    @property
    def shows_best(self) -> bool:
        """The best hit is shown in full: stated as the answer, or as the closest match."""
        return bool(self.hits) and shown_in_full(self.answered, self.hits[0].score)


# -- small pieces ------------------------------------------------------------------------------


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section; the text must already be escaped mrkdwn."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def context(*texts: str) -> dict[str, Any]:
    """A context block of up to 10 mrkdwn elements."""
    elements = [{"type": "mrkdwn", "text": truncate(t, SECTION_LIMIT)} for t in texts if t][:10]
    return {"type": "context", "elements": elements}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    """A button; plain_text labels are not parsed by Slack, so need no escaping."""
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, 75), "emoji": True},
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        element["style"] = style
    return element


def mention(user_id: str | None) -> str:
    """`<@U123>` for a well-formed user id, else nothing (never echo arbitrary text as markup)."""
    return f"<@{user_id}>" if user_id and _USER_ID.match(user_id) else "someone"


def slack_date(moment: datetime | None) -> str:
    """A date Slack renders in the reader's locale, with an ISO fallback."""
    if moment is None:
        return ""
    return f"<!date^{int(moment.timestamp())}^{{date_short}}|{moment.date().isoformat()}>"


def bounded(blocks: list[dict[str, Any]], limit: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """At most `limit` blocks, the last one saying that some were left out."""
    if len(blocks) <= limit:
        return blocks
    return [*blocks[: limit - 1], context("_…more than fits in one message._")]


def overflow_menu(
    action_id: str, item_id: int, options: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """An overflow menu of (verb, label) options about one item; each value is `verb:item_id`."""
    return {
        "type": "overflow",
        "action_id": action_id,
        "options": [
            {
                "text": {"type": "plain_text", "text": truncate(label, 75), "emoji": True},
                "value": f"{verb}:{item_id}",
            }
            for verb, label in options
        ],
    }


def parse_menu_value(value: str | None, verbs: Sequence[str]) -> tuple[str, int] | None:
    """(verb, item id) from an `overflow_menu` choice, or None when it is not one of `verbs`."""
    verb, _, item_id = (value or "").partition(":")
    if verb not in verbs or not item_id.isdigit():
        return None
    return verb, int(item_id)


def button_value(question: str, chunk_ids: Sequence[int]) -> str:
    """Compact JSON for a button: the question and the chunk ids shown, within 2,000 chars."""
    q = question
    while True:
        value = json.dumps({"q": q, "ids": list(chunk_ids)[:10]}, ensure_ascii=False)
        if len(value) <= MAX_BUTTON_VALUE:
            return value
        q = q[: len(q) * 3 // 4]


def parse_button_value(value: str | None) -> tuple[str, list[int]]:
    """The question and chunk ids of `button_value`; empty values for anything malformed."""
    try:
        data = json.loads(value or "")
        ids = [int(i) for i in data.get("ids", [])]
        return str(data.get("q", "")), ids
    except (ValueError, TypeError, AttributeError):
        return "", []


# -- one hit -------------------------------------------------------------------------------------


def _note_where(chunk: IndexedChunk) -> str:
    parts = [escape(chunk.section) if chunk.section else ""]
    source = escape(chunk.source_name)
    if chunk.line_start:
        source += f" (line {chunk.line_start})"
    parts.append(source)
    return " · ".join(p for p in parts if p)


def saved_from_line(saved: SavedFrom) -> str:
    """ "saved from #channel by @user" with a link to the message (names escaped)."""
    channel = f"#{escape(truncate(saved.channel_name, 80))}" if saved.channel_name else "Slack"
    line = f"saved from {channel} by {mention(saved.saver_id)}"
    if saved.permalink:
        line += " · " + link(saved.permalink, "original message")
    return line


def _hit_where(hit: AnswerHit) -> str:
    if hit.saved is not None:
        section_name = escape(hit.chunk.section) if hit.chunk.section else ""
        return " · ".join(p for p in (section_name, saved_from_line(hit.saved)) if p)
    return _note_where(hit.chunk)


def _article_where(hit: AnswerHit) -> str:
    c = hit.chunk
    parts = [feed_mrkdwn(stored_line(c.source_name, 150)), slack_date(hit.published_at)]
    return " · ".join(p for p in parts if p)


def _article_title(chunk: IndexedChunk, limit: int = 250) -> str:
    """An article's title as plain text (articles come from feeds: never markup)."""
    return stored_line(chunk.title, limit) or "(untitled)"


def _first_line(markdown: str) -> str:
    """A note's first line as a label; empty for a code block (its title says what it is)."""
    stripped = markdown.lstrip()
    if stripped.startswith(("```", "~~~")):
        return ""
    line = stripped.split("\n", 1)[0].strip()
    return _BULLET_MARK.sub("", line)


def _note_label(chunk: IndexedChunk, limit: int = 150) -> str:
    label = _first_line(chunk.text) or chunk.title
    return inline_to_mrkdwn(truncate(label, limit))


def best_answer_blocks(hit: AnswerHit) -> list[dict[str, Any]]:
    """The best answer in full: a note's text (code as code) or an article's linked excerpt."""
    c = hit.chunk
    if c.kind == "article":
        # Everything here came from a feed: literal text, formatting characters neutralized.
        title = "*" + link(c.url, _article_title(c)) + "*"
        section_name = stored_line(c.section, 250) if c.section != c.title else ""
        heading = f"\n_{feed_mrkdwn(section_name)}_" if section_name else ""
        body = neutralize(plain_excerpt(c.text, ARTICLE_EXCERPT))
        return [
            section(f"{title}{heading}\n{body}"),
            context(":newspaper: " + _article_where(hit)),
        ]
    pieces = markdown_pieces(c.text)
    first = c.text.lstrip().lower()
    if c.title and not first.startswith(c.title.lower()):
        # Code blocks and continuation lines carry their meaning in the title only.
        pieces.insert(0, ("prose", "*" + inline_to_mrkdwn(c.title) + "*"))
    texts = split_mrkdwn(pieces) or [escape(c.title)]
    blocks = [section(t) for t in texts[:BEST_ANSWER_SECTIONS]]
    if len(texts) > BEST_ANSWER_SECTIONS:
        blocks.append(context("_…cut short here; the rest is in the source below._"))
    emoji = ":pushpin: " if hit.saved is not None else ":notebook: "
    blocks.append(context(emoji + _hit_where(hit)))
    return blocks


def suggestion_line(hit: AnswerHit) -> str:
    """One line for a further suggestion: a label and where it comes from."""
    c = hit.chunk
    if c.kind == "article":
        return f"• {link(c.url, _article_title(c, 150))} — {_article_where(hit)}"
    return f"• {_note_label(c)} — {_hit_where(hit)}"


def _fallback(answer: Answer) -> str:
    q = truncate(answer.question, 150)
    if answer.answered and answer.hits:
        c = answer.hits[0].chunk
        if c.kind == "article":
            return f"{escape(q)}: {feed_mrkdwn(_article_title(c, 200))}"
        return escape(f"{q}: {truncate(_first_line(c.text) or c.title, 200)}")
    return escape(f"No confident answer to: {q}")


# -- whole messages ------------------------------------------------------------------------------


NOTE_MENU_VERBS = ("edit", "delete")


def note_menu(note_id: int) -> dict[str, Any]:
    """Edit / Delete for a note saved from Slack (the service checks who chose it)."""
    options = [("edit", "Edit this note"), ("delete", "Delete this note")]
    return overflow_menu(ACTION_NOTE_MENU, note_id, options)


def _actions(answer: Answer, style: Style, editable: bool = False) -> dict[str, Any] | None:
    if style == "shared":
        return None
    ids = [h.chunk.id for h in answer.hits[:3]]
    value = button_value(answer.question, ids)
    elements = []
    # A tentative answer is shown in full too: the asker can judge it, share it, and vote on it
    # (votes on tentative answers are the ones that teach the ranking the most).
    if style == "private" and answer.shows_best:
        elements.append(button("Share in channel", ACTION_SHARE, value, style="primary"))
    if answer.hits:
        elements.append(button("More results", ACTION_MORE, value))
    if answer.shows_best:
        elements.append(button("👍", ACTION_VOTE_UP, value))
        elements.append(button("👎", ACTION_VOTE_DOWN, value))
        saved = answer.hits[0].saved
        if editable and saved is not None:
            elements.append(note_menu(saved.note_id))
    return {"type": "actions", "elements": elements} if elements else None


def answer_message(
    answer: Answer, style: Style = "private", asked_by: str | None = None, editable: bool = False
) -> Message:
    """The answer to a question: restated question, best answer, ≤2 suggestions, buttons.

    `private` is the ephemeral slash-command reply (with *Share in channel*), `conversation`
    a DM or thread reply, `shared` the visible copy posted on *Share in channel*. `editable`:
    the asker may edit or delete the note saved from Slack shown first (an overflow menu).
    """
    question = escape(truncate(" ".join(answer.question.split()), 500))
    blocks: list[dict[str, Any]] = [section(f":speech_balloon: *{question}*")]
    if style == "shared":
        blocks.append(context(f"Asked by {mention(asked_by)} with `/devops`"))
    if answer.shows_best:
        if not answer.answered:
            # Not confident enough to call it the answer, but likely enough to show in full.
            blocks.append(
                section(":thinking_face: I'm not sure this answers it. The closest match:")
            )
        blocks.extend(best_answer_blocks(answer.hits[0]))
        more = answer.hits[1:3]
        if more:
            blocks.append(divider())
            blocks.append(section("*See also*\n" + "\n".join(suggestion_line(h) for h in more)))
    else:
        blocks.append(
            section(
                ":thinking_face: I don't know: nothing in the notes or feeds covers that "
                "well enough."
            )
        )
        if answer.hits:
            lines = "\n".join(suggestion_line(h) for h in answer.hits[:3])
            blocks.append(section("*Nearest suggestions*\n" + lines))
        blocks.append(context("Try other words, or see `/devops help` for what I can do."))
    actions = _actions(answer, style, editable)
    if actions:
        blocks.append(actions)
    return Message(_fallback(answer), bounded(blocks))


def more_results_message(question: str, hits: Sequence[AnswerHit]) -> Message:
    """Further results for a question, one line each."""
    q = escape(truncate(" ".join(question.split()), 500))
    if not hits:
        return Message(
            f"No more results for {q}",
            [section(f"No more results for *{q}*. Try other words, or `/devops help`.")],
        )
    blocks: list[dict[str, Any]] = [section(f":mag: More results for *{q}*")]
    blocks.extend(section(suggestion_line(h)) for h in hits)
    return Message(f"More results for {q}", bounded(blocks))


def notice(text: str, emoji: str = "") -> Message:
    """A one-section message from already-escaped mrkdwn."""
    shown = f"{emoji} {text}" if emoji else text
    return Message(truncate(text, 300), [section(shown)])
