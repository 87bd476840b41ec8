"""The App Home tab, as a pure builder: how to ask, subscriptions with health, top questions,
questions nobody could answer.

Every user sees the same Home, so the questions arrive already filtered for privacy
(AskedQuestions.top, AskedQuestions.unanswered) as bare (text, count) pairs: nothing here can
name who asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.slack.answer_blocks import button, context, divider, section
from bot.slack.command_blocks import SubscriptionLike, subscription_line
from bot.slack.home_controls import ACTION_HOME_SUBSCRIBE, subscription_menu
from bot.slack.text import escape, truncate

MAX_HOME_BLOCKS = 100
MAX_HOME_FEEDS = 60
MAX_TOP_QUESTIONS = 10
MAX_UNANSWERED = 10


def home_view(
    subs: Sequence[SubscriptionLike],
    top_questions: Sequence[tuple[str, int]],
    *,
    scoped: bool = True,
    can_manage: bool = False,
    unanswered: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    """A `home` view for views.publish; `scoped` says subs are those of the bot's channels;
    `can_manage` adds the feed controls (a subscribe button, a menu per subscription);
    `unanswered` holds (question, different askers) the bot could not answer."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "devopsbot", "emoji": True}},
        section(
            "*How to ask*\n"
            "• `/devops how do I tail multiple pods` anywhere: only you see the answer, "
            "and *Share in channel* posts it for everyone\n"
            "• Send me a direct message in the *Messages* tab\n"
            "• @mention me in a channel and I answer in a thread\n"
            "• `/devops help` lists the feed commands"
        ),
        divider(),
    ]
    title = "Subscriptions in my channels" if scoped else "All subscriptions"
    heading = section(f"*{title}* ({len(subs)})")
    if can_manage:
        heading["accessory"] = button("Subscribe a feed", ACTION_HOME_SUBSCRIBE, "new", "primary")
    blocks.append(heading)
    if not subs:
        blocks.append(context("No feeds yet: `/devops subscribe URL` in a channel adds one."))
    for sub in subs[:MAX_HOME_FEEDS]:
        line = section(subscription_line(sub))
        if can_manage:
            line["accessory"] = subscription_menu(sub)
        blocks.append(line)
    if len(subs) > MAX_HOME_FEEDS:
        blocks.append(context(f"…and {len(subs) - MAX_HOME_FEEDS} more (`/devops feeds`)."))
    blocks.append(divider())
    blocks.append(section("*Most asked questions*"))
    if top_questions:
        lines = [
            f"{n}. {escape(truncate(q, 200))} _({count}×)_"
            for n, (q, count) in enumerate(top_questions[:MAX_TOP_QUESTIONS], start=1)
        ]
        blocks.append(section("\n".join(lines)))
    else:
        # Private questions stay off this list until enough people ask them: say so, since
        # "nobody asked" would be wrong.
        blocks.append(
            context(
                "Questions show up here once several people have asked them,"
                " or someone asked or shared one in a channel."
            )
        )
    blocks.extend(_unanswered_blocks(unanswered))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _unanswered_blocks(unanswered: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The "Questions nobody could answer" section: what the team should write notes for."""
    blocks: list[dict[str, Any]] = [divider(), section("*Questions nobody could answer*")]
    if not unanswered:
        blocks.append(
            context(
                "None for now. A question shows up here once at least three people asked"
                " it and I had no answer; it drops off once I can answer it."
            )
        )
        return blocks
    lines = [
        f"{n}. {escape(truncate(q, 200))} _(asked by {askers} people)_"
        for n, (q, askers) in enumerate(unanswered[:MAX_UNANSWERED], start=1)
    ]
    blocks.append(section("\n".join(lines)))
    blocks.append(
        context(
            "A note in the team's notes answers these next time (`devopsbot notes load`),"
            " or save a good reply from a thread with *Save this answer*."
        )
    )
    return blocks
