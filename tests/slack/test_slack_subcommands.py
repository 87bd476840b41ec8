"""Parsing /devops text: only a reserved first word makes a subcommand."""

from __future__ import annotations

import pytest

from bot.slack.subcommands import parse_command, question_text


@pytest.mark.parametrize(
    "text",
    [
        "how do I subscribe to a feed",
        "what feeds do we have",
        "can I pause a deployment",
        "Help me restart a pod",  # help takes no arguments: this can only be a question
        "helpful kubectl aliases",
        "feeds about kubernetes",
    ],
)
def test_anything_not_starting_with_a_reserved_word_is_a_question(text):
    command = parse_command(text)
    assert command.name == "ask" and command.question == text


def test_empty_text_is_help():
    assert parse_command("   ").name == "help"
    assert parse_command("help").name == "help"
    assert parse_command("HELP").name == "help"


def test_subscribe_with_slack_escaped_link_and_channel():
    command = parse_command(
        "subscribe <https://e13.dev/feed.xml|e13.dev/feed.xml> <#C0OPS1234|ops>"
    )
    assert (command.name, command.ref, command.channel_id) == (
        "subscribe",
        "https://e13.dev/feed.xml",
        "C0OPS1234",
    )
    assert command.manages_feeds and command.error is None


def test_subscribe_with_a_bare_url_defaults_to_no_channel():
    command = parse_command("subscribe https://e13.dev/feed.xml")
    assert command.ref == "https://e13.dev/feed.xml" and command.channel_id is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subscribe", "Usage"),
        ("subscribe ftp://x/feed", "not a feed URL"),
        ("subscribe https://x/feed #ops", "pick the channel"),
        ("subscribe https://x/feed <#C0OPS1234> extra", "Usage"),
        ("feeds #ops", "pick the channel"),
        ("feeds <#C0OPS1234> b", "Usage"),
    ],
)
def test_usage_errors_are_readable(text, message):
    command = parse_command(text)
    assert command.error and message in command.error


@pytest.mark.parametrize("name", ["unsubscribe", "pause", "resume"])
def test_feed_management_subcommands_take_a_url_or_an_id(name):
    assert parse_command(f"{name} <https://x.dev/rss>").ref == "https://x.dev/rss"
    assert parse_command(f"{name} 12").ref == "12"
    assert parse_command(f"{name} 12").manages_feeds


def test_feeds_lists_everything_or_one_channel():
    assert parse_command("feeds").channel_id is None
    assert parse_command("feeds <#C0OPS1234|ops>").channel_id == "C0OPS1234"
    assert not parse_command("feeds").manages_feeds


def test_question_text_drops_mentions_and_slack_escapes():
    assert question_text("<@UBOT> why is a &lt; b &amp;&amp; c?") == "why is a < b && c?"


def test_set_takes_settings_after_the_feed_and_channel():
    command = parse_command(
        "set <https://e13.dev/feed.xml> <#C0OPS1234|ops> include=kubernetes,helm "
        "exclude=re:^Sponsored,ads exclude=quiz unfurl=on"
    )
    assert (command.name, command.ref, command.channel_id) == (
        "set",
        "https://e13.dev/feed.xml",
        "C0OPS1234",
    )
    # A regex is taken whole (its commas are its own); other values are comma-separated words.
    assert command.include == ("kubernetes", "helm")
    assert command.exclude == ("re:^Sponsored,ads", "quiz")
    assert command.unfurl is True and command.error is None
    cleared = parse_command("set 12 include=")
    assert cleared.include == () and cleared.exclude is None and cleared.unfurl is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("set https://e13.dev/feed.xml", "Say what to change"),
        ("set https://e13.dev/feed.xml colour=red", "is not a setting"),
        ("set https://e13.dev/feed.xml unfurl=maybe", "`on` or `off`"),
    ],
)
def test_set_usage_errors_are_readable(text, message):
    assert message in parse_command(text).error


def test_set_before_anything_but_a_feed_is_a_question():
    command = parse_command("set up a kubernetes cluster")
    assert command.name == "ask" and command.question == "set up a kubernetes cluster"


@pytest.mark.parametrize("name", ["unsubscribe", "pause", "resume"])
def test_all_means_every_feed_of_the_channel(name):
    assert (parse_command(f"{name} all").ref, parse_command(f"{name} ALL").name) == ("all", name)
    named = parse_command(f"{name} all <#C0OPS1234|ops>")
    assert (named.ref, named.channel_id) == ("all", "C0OPS1234")


# -- remember (issue 10) ------------------------------------------------------------------------


def test_remember_splits_title_and_text_at_the_first_separator_and_keeps_the_text_as_typed():
    text = "`kubectl rollout restart deploy/api`\nthen <https://ci|check> :: x"
    command = parse_command(f"remember  Restart the API ::  {text}")
    assert (command.name, command.error) == ("remember", None)
    assert command.note_title == "Restart the API"
    assert command.note_text == text


@pytest.mark.parametrize(
    "text", ["remember", "remember a title", "remember :: text", "remember t ::"]
)
def test_remember_without_a_title_and_a_text_is_a_usage_error(text):
    assert "/devops remember TITLE :: TEXT" in parse_command(text).error
