"""Pure Block Kit builder for the offer to save a thread reply the bot could not give itself.

The offer is ephemeral, shown to the asker and to the first person who replied in a thread
where the bot said "I don't know". Its button opens the save modal (bot.slack.save_blocks
owns its action id and value); nothing is saved unless someone presses it and submits.
"""

from __future__ import annotations

from bot.slack.answer_blocks import Message, button, context, mention, section
from bot.slack.save_blocks import ACTION_SAVE_THREAD, save_thread_value
from bot.slack.text import escape, truncate

_QUESTION_SHOWN = 300


def save_offer_message(
    question: str,
    *,
    recipient: str,
    asker: str,
    replier: str,
    channel_id: str,
    thread_ts: str,
) -> Message:
    """The ephemeral offer for `recipient` (the asker or the replier, maybe both at once)."""
    q = escape(truncate(" ".join(question.split()), _QUESTION_SHOWN))
    if recipient == replier == asker:
        said = "You answered your own question that I couldn't"
        ask = "If you found the answer, save it"
    elif recipient == replier:
        said = "You answered a question I couldn't"
        ask = "If your reply answers it, save it"
    else:
        said = f"{mention(replier)} answered your question that I couldn't"
        ask = "If that reply answers it, save it"
    text = f":bulb: {said}: *{q}*\n{ask} to the team's notes and I'll answer it next time."
    actions = {
        "type": "actions",
        "elements": [
            button(
                "Save this answer",
                ACTION_SAVE_THREAD,
                save_thread_value(channel_id, thread_ts),
                style="primary",
            )
        ],
    }
    blocks = [
        section(text),
        actions,
        context("Only you can see this. Nothing is saved unless you press the button."),
    ]
    return Message(f"{said}: {q}", blocks)
