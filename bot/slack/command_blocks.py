"""Pure Block Kit builders for `/devops help` and the feed subcommands' replies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.delivery_log import DeliveryStatus, problem_line, status_line
from bot.plaintext import safe_url, stored_line
from bot.schedules import describe_thread, stored_schedule
from bot.slack.answer_blocks import Message, bounded, context, section, slack_date
from bot.slack.text import escape, feed_mrkdwn, link, truncate

MAX_FEEDS_SHOWN = 40


class SubscriptionLike(Protocol):
    """The fields of bot.subscriptions.SubscriptionView these builders read."""

    id: int
    feed_url: str
    feed_title: str | None
    channel_id: str | None
    status: str
    status_reason: str | None
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_check_at: datetime | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    unfurl: bool
    site_url: str | None


def feed_link(sub: SubscriptionLike, limit: int = 150) -> str:
    """The feed's name linked to its web site (people read the site, not the XML), or to the
    feed itself when it names no http(s) site."""
    site = safe_url(getattr(sub, "site_url", None))
    return link(site or sub.feed_url, stored_line(sub.feed_title or sub.feed_url, limit))


def channel_ref(channel_id: str | None) -> str:
    """`<#C123>` (Slack renders the name), or a note that the feed is indexed only."""
    return f"<#{channel_id}>" if channel_id else "_(no channel: indexed only)_"


def health(sub: SubscriptionLike) -> tuple[str, str]:
    """(emoji, escaped words) describing how a subscription is doing."""
    reason = f": {escape(truncate(sub.status_reason, 200))}" if sub.status_reason else ""
    if sub.status == "paused":
        return ":double_vertical_bar:", f"paused{reason}"
    if sub.status != "active":
        return ":red_circle:", f"{escape(sub.status)}{reason}"
    if sub.consecutive_failures:
        error = escape(truncate(sub.last_error or "unknown error", 200))
        return ":large_orange_circle:", f"failing ({sub.consecutive_failures}×): {error}"
    if sub.last_success_at is None:
        return ":white_circle:", "not fetched yet"
    return ":large_green_circle:", f"OK, last fetched {slack_date(sub.last_success_at)}"


def slack_time(moment: datetime) -> str:
    """A date and time Slack shows in the reader's time zone, with a UTC fallback."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _safe(text: str) -> str:
    return escape(truncate(text, 200))


def _title(text: str) -> str:
    return feed_mrkdwn(text, 100)


def delivery_lines(status: DeliveryStatus | None) -> list[str]:
    """A channel subscription's delivery status line, and a recent-problems line when posts
    were given up on (mrkdwn; errors escaped, feed titles literal)."""
    if status is None:
        return []
    lines = [f":outbox_tray: {status_line(status, slack_time, _safe)}"]
    problem = problem_line(status, slack_time, _safe, _title)
    if problem:
        lines.append(f":warning: {problem}")
    return lines


def post_mode(sub: SubscriptionLike) -> str | None:
    """How a subscription posts when not one message per entry, in words (mrkdwn, escaped):
    "a digest daily at 09:00 (UTC) · 3 entries collected · next …", "a thread per day (UTC)"."""
    schedule = stored_schedule(getattr(sub, "digest", None))
    if schedule is not None:
        words = f"a digest {escape(schedule.describe())}"
        collected = getattr(sub, "collected", 0)
        if collected:
            words += f" · {collected} {'entry' if collected == 1 else 'entries'} collected"
        next_at = getattr(sub, "next_digest_at", None)
        if next_at is not None:
            words += f" · next {slack_time(next_at)}"
        return words
    thread = describe_thread(getattr(sub, "thread", None))
    return escape(thread) if thread else None


def subscription_line(sub: SubscriptionLike) -> str:
    """Title (linked), channel and health in one mrkdwn line pair, how it posts (a digest, a
    thread per day), then how delivery is going."""
    emoji, words = health(sub)
    title = feed_link(sub, 120)
    lines = [f"{emoji} *{title}* → {channel_ref(sub.channel_id)}", f"{words} · id {sub.id}"]
    mode = post_mode(sub) if sub.channel_id else None
    if mode:
        lines.append(f":calendar: posts as {mode}")
    lines += delivery_lines(getattr(sub, "delivery", None))
    return "\n".join(lines)


def feeds_message(subs: Sequence[SubscriptionLike], channel_id: str | None = None) -> Message:
    """`/devops feeds`: every subscription (or one channel's) with its health."""
    where = f" in {channel_ref(channel_id)}" if channel_id else ""
    if not subs:
        text = f"No feed subscriptions{where} yet. Add one with `/devops subscribe URL`."
        return Message(text, [section(text)])
    blocks: list[dict[str, Any]] = [section(f"*Feed subscriptions{where}* ({len(subs)})")]
    blocks.extend(section(subscription_line(s)) for s in subs[:MAX_FEEDS_SHOWN])
    if len(subs) > MAX_FEEDS_SHOWN:
        blocks.append(context(f"…and {len(subs) - MAX_FEEDS_SHOWN} more: `devopsbot feeds list`"))
    return Message(f"{len(subs)} feed subscriptions{where}", bounded(blocks))


def subscribed_message(
    sub: SubscriptionLike,
    created: bool,
    articles_indexed: int,
    backfilled: int = 0,
    discovered_from: str | None = None,
    joined: bool = False,
) -> Message:
    """The reply to `subscribe`: what was subscribed where, and what happens next (`joined`:
    the bot joined the channel to post there)."""
    title = feed_link(sub)
    channel = channel_ref(sub.channel_id)
    found = (
        f"{escape(truncate(discovered_from, 200))} is a web page; using the feed it advertises, "
        f"{link(sub.feed_url, truncate(sub.feed_url, 200))}. "
        if discovered_from
        else ""
    )
    joined_note = f" I joined {channel} so I can post there." if joined else ""
    if not created:
        text = f"{found}{channel} is already subscribed to *{title}*.{joined_note}"
        return Message(text, [section(":information_source: " + text)])
    mode = post_mode(sub) if sub.channel_id else None
    text = (
        f"{found}Subscribed {channel} to *{title}*: {articles_indexed} articles indexed for "
        "answers. New posts will be announced there"
        + (f" as {mode}" if mode else "")
        + (f" ({backfilled} recent posts shared now)." if backfilled else ".")
        + joined_note
    )
    return Message(text, [section(":white_check_mark: " + text)])


def changed_message(verb: str, sub: SubscriptionLike) -> Message:
    """The reply to unsubscribe / pause / resume."""
    title = feed_link(sub)
    text = f"{verb} *{title}* in {channel_ref(sub.channel_id)}."
    return Message(text, [section(":white_check_mark: " + text)])


def settings_message(subs: Sequence[SubscriptionLike]) -> Message:
    """The reply to `set`: each changed subscription with its filters and unfurling now."""
    lines = []
    for sub in subs:
        title = feed_link(sub)
        include = ", ".join(f"`{escape(truncate(s, 100))}`" for s in sub.include) or "everything"
        exclude = ", ".join(f"`{escape(truncate(s, 100))}`" for s in sub.exclude) or "nothing"
        mode = post_mode(sub) or "one message per entry"
        lines.append(
            f"Changed *{title}* in {channel_ref(sub.channel_id)}: posts {include}, skips "
            f"{exclude}; link previews {'on' if sub.unfurl else 'off'}; posted as {mode}."
        )
    text = "\n".join(lines[:10])
    return Message(text, [section(":white_check_mark: " + text)])


def channel_changed_message(
    verb: str, subs: Sequence[SubscriptionLike], channel_id: str
) -> Message:
    """The reply to `unsubscribe all` / `pause all` / `resume all`."""
    if not subs:
        text = f"{channel_ref(channel_id)} has no feed subscriptions."
        return Message(text, [section(":information_source: " + text)])
    names = ", ".join(feed_mrkdwn(stored_line(s.feed_title or s.feed_url, 60)) for s in subs[:10])
    more = f" and {len(subs) - 10} more" if len(subs) > 10 else ""
    text = f"{verb} {len(subs)} feeds in {channel_ref(channel_id)}: {names}{more}."
    return Message(text, [section(":white_check_mark: " + text)])


def error_message(text: str) -> Message:
    """A readable refusal or error; `text` is plain and gets escaped here."""
    safe = escape(text)
    return Message(safe, [section(":warning: " + safe)])


def help_message(admins_only: bool) -> Message:
    """`/devops help`: how to ask, and the feed subcommands."""
    who = " _(admins only)_" if admins_only else ""
    blocks = [
        section(
            "*Ask me anything about our DevOps notes and feeds*\n"
            "• `/devops how do I tail multiple pods` (only you see the answer; "
            "*Share in channel* posts it)\n"
            "• Send me a direct message, or @mention me in a channel to get the answer in a thread."
        ),
        section(
            "*Save what the team knows*\n"
            "• On any message or thread: *⋮ More actions → Save to DevOps notes*\n"
            "• `/devops remember TITLE :: TEXT` saves a note from here\n"
            "• Answers from a saved note link to its message; its saver or an admin can edit or "
            "delete it from the answer's ⋯ menu"
        ),
        section(
            "*Feeds*\n"
            "• `/devops feeds [#channel]` lists subscriptions and their health\n"
            f"• `/devops subscribe URL [#channel]` announces new posts{who}\n"
            f"• `/devops unsubscribe URL [#channel]`{who}\n"
            f"• `/devops pause URL [#channel]` · `/devops resume URL [#channel]`{who}\n"
            f"• `/devops pause all` · `resume all` · `unsubscribe all`: this channel's feeds{who}\n"
            "• `/devops set URL [#channel] include=kubernetes,helm exclude=re:^Sponsored "
            f"unfurl=off` changes a subscription in place{who}\n"
            "• `digest=daily@09:00` or `digest=weekly@mon 09:00 Europe/Berlin` (on `subscribe` "
            "or `set`) collects new posts into one message on schedule; `thread=daily` posts "
            f"each day's posts as replies under one message; `digest=off`, `thread=off`{who}"
        ),
        context(
            "Only these first words are commands: help, subscribe, unsubscribe, feeds, pause, "
            "resume, set, remember. Anything else is a question."
        ),
    ]
    return Message("How to use /devops", blocks)
