"""Parsing `/devops` text: a question, or a subcommand when the FIRST word is reserved. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.plaintext import unescape_slack

SLASH_COMMAND = "/devops"
SUBCOMMANDS = ("help", "subscribe", "unsubscribe", "feeds", "pause", "resume", "set", "remember")
REMEMBER_SEP = "::"
FEED_MANAGEMENT = frozenset({"subscribe", "unsubscribe", "pause", "resume", "set"})
ALL = "all"  # `unsubscribe all`, `pause all`, `resume all`: every subscription of the channel
SETTINGS = ("include", "exclude", "unfurl", "digest", "thread")
_MULTI_WORD = ("digest", "thread")  # `digest=weekly@mon 09:00 Europe/Berlin` spans words
_ON = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}

# With `should_escape` on, Slack sends links as <url> or <url|label>, channels as <#C1|name>.
_LINK = re.compile(r"^<(?P<url>https?://[^|>]+)(?:\|[^>]*)?>$")
_CHANNEL = re.compile(r"^<#(?P<id>[CG][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_BARE_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,30}$")
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


@dataclass(frozen=True)
class Command:
    """A parsed `/devops` invocation: `name` is "ask" or one of SUBCOMMANDS."""

    name: str
    question: str = ""
    ref: str | None = None  # feed URL or subscription id
    channel_id: str | None = None
    error: str | None = None  # a usage problem to show instead of running
    include: tuple[str, ...] | None = None  # `set`: new filters (None: unchanged)
    exclude: tuple[str, ...] | None = None
    unfurl: bool | None = None
    digest: str | None = None  # a schedule as typed, "off" to turn it off (None: unchanged)
    thread: str | None = None
    note_title: str = ""  # `remember`: the note's title and text as Slack sent them (mrkdwn)
    note_text: str = ""

    @property
    def manages_feeds(self) -> bool:
        """True for the subcommands limited to DEVOPSBOT_ADMINS."""
        return self.name in FEED_MANAGEMENT


def question_text(text: str) -> str:
    """A question as the user meant it: mentions of people or the bot removed, entities undone."""
    return " ".join(unescape_slack(_MENTION.sub(" ", text)).split())


def _usage(name: str) -> str:
    examples = {
        "subscribe": "`/devops subscribe https://example.com/feed.xml [#channel] "
        "[digest=daily@09:00 | thread=daily]`",
        "unsubscribe": "`/devops unsubscribe https://example.com/feed.xml [#channel]`",
        "pause": "`/devops pause https://example.com/feed.xml [#channel]`",
        "resume": "`/devops resume https://example.com/feed.xml [#channel]`",
        "feeds": "`/devops feeds [#channel]`",
        "remember": "`/devops remember TITLE :: TEXT` (e.g. `/devops remember Restart the API "
        ":: kubectl rollout restart deploy/api`)",
        "set": "`/devops set https://example.com/feed.xml [#channel] include=kubernetes,helm "
        "exclude=re:^Sponsored unfurl=off digest=daily@09:00` (an empty `include=` removes the "
        "filters; `digest=` is daily@HH:MM or weekly@DAY HH:MM with an optional time zone, "
        "`thread=daily` posts a thread per day, `off` turns either off)",
    }
    return f"Usage: {examples[name]}"


def _channel(token: str) -> tuple[str | None, str | None]:
    """(channel id, error) for a channel argument."""
    m = _CHANNEL.match(token)
    if m:
        return m.group("id"), None
    if _BARE_CHANNEL_ID.match(token):
        return token, None
    if token.startswith("#"):
        return None, (
            f"I can't tell which channel `{token[:80]}` is: type `#` and pick the channel from "
            "Slack's list so it becomes a link."
        )
    return None, f"`{token[:80]}` is not a channel."


def _ref(token: str) -> tuple[str | None, str | None]:
    """(feed URL or subscription id, error) for a feed argument."""
    # Slack escapes & < > in command text; undo it once, only after the <…> reference is
    # parsed, so `<http://h/q.xml?a=1&amp;b=2>` fetches `a=1&b=2`.
    m = _LINK.match(token)
    if m:
        return unescape_slack(m.group("url")), None
    bare = unescape_slack(token.strip("<>"))
    if re.match(r"^https?://\S+$", bare) or bare.isdigit():
        return bare, None
    return None, f"`{token[:200]}` is not a feed URL: it must start with http:// or https://."


def parse_command(text: str) -> Command:
    """Parse slash-command text; only a reserved first word makes a subcommand."""
    words = (text or "").split()
    if not words:
        return Command("help")
    first = words[0].lower()
    if first not in SUBCOMMANDS:
        return Command("ask", question=question_text(text))
    args = words[1:]
    if first == "remember":
        return _parse_remember(text.strip()[len(words[0]) :])
    if first == "help":
        # `help` takes no arguments, so "help me restart a pod" can only be a question.
        return Command("help") if not args else Command("ask", question=question_text(text))
    if first == "feeds":
        if not args:
            return Command("feeds")
        channel, error = _channel(args[0]) if len(args) == 1 else (None, "")
        if channel is None and not args[0].startswith(("<#", "#")):
            return Command("ask", question=question_text(text))  # "feeds about kubernetes"
        if len(args) > 1:
            return Command("feeds", error=_usage("feeds"))
        return Command("feeds", channel_id=channel, error=error and f"{error} {_usage('feeds')}")
    if first == "set":
        if not args or _ref(args[0])[1]:
            return Command("ask", question=question_text(text))  # "set up a cluster"
        return _parse_set(args)
    if first in ("unsubscribe", "pause", "resume") and args and args[0].lower() == ALL:
        if len(args) > 2:
            return Command(first, error=_usage(first))
        channel, error = _channel(args[1]) if len(args) == 2 else (None, None)
        return Command(first, ref=ALL, channel_id=channel, error=error)
    if first == "subscribe" and len(args) >= 2 and any("=" in a for a in args[1:]):
        return _parse_set(args, "subscribe")
    # subscribe / unsubscribe / pause / resume: REF [#channel]
    if not args or len(args) > 2:
        return Command(first, error=_usage(first))
    ref, error = _ref(args[0])
    if error:
        return Command(first, error=f"{error} {_usage(first)}")
    channel = None
    if len(args) == 2:
        channel, error = _channel(args[1])
        if error:
            return Command(first, ref=ref, error=error)
    return Command(first, ref=ref, channel_id=channel)


def _parse_remember(rest: str) -> Command:
    """`remember TITLE :: TEXT`: both sides needed; the text keeps its lines and markup."""
    title, sep, text = rest.partition(REMEMBER_SEP)
    if not sep or not title.strip() or not text.strip():
        return Command("remember", error=_usage("remember"))
    return Command("remember", note_title=" ".join(title.split()), note_text=text.strip())


def _parse_set(args: list[str], name: str = "set") -> Command:
    """`set REF [#channel] key=value…` (and `subscribe` with settings): filters given replace
    the old ones; comma-separated words, or one `re:` regex per key (repeat the key for more);
    `digest=` and `thread=` take the words after them too (`digest=weekly@mon 09:00`)."""
    if not args:
        return Command(name, error=_usage(name))
    ref, error = _ref(args[0])
    if error:
        return Command(name, error=f"{error} {_usage(name)}")
    rest = args[1:]
    channel = None
    if rest and "=" not in rest[0]:
        channel, error = _channel(rest[0])
        if error:
            return Command(name, ref=ref, error=error)
        rest = rest[1:]
    values: dict[str, list[str]] = {}
    modes: dict[str, str] = {}
    unfurl = None
    last = ""
    for token in rest:
        key, sep, value = token.partition("=")
        key = key.lower()
        if not sep and last in _MULTI_WORD:
            modes[last] = f"{modes[last]} {unescape_slack(token)}".strip()
            continue
        if not sep or key not in SETTINGS:
            return Command(name, ref=ref, error=f"`{token[:80]}` is not a setting. {_usage(name)}")
        last = key
        value = unescape_slack(value)
        if key in _MULTI_WORD:
            modes[key] = value or "off"
            continue
        if key == "unfurl":
            if value.lower() not in _ON:
                return Command(name, ref=ref, error="unfurl is `on` or `off`.")
            unfurl = _ON[value.lower()]
            continue
        specs = [value] if value.startswith("re:") else [v for v in value.split(",") if v]
        values.setdefault(key, []).extend(specs)
    if not values and unfurl is None and not modes:
        return Command(name, ref=ref, error=f"Say what to change. {_usage(name)}")
    return Command(
        name,
        ref=ref,
        channel_id=channel,
        include=tuple(values["include"]) if "include" in values else None,
        exclude=tuple(values["exclude"]) if "exclude" in values else None,
        unfurl=unfurl,
        digest=modes.get("digest"),
        thread=modes.get("thread"),
    )
