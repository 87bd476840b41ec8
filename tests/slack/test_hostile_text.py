"""Feed text in Slack is literal: nothing a feed writes can ping, link, format or overflow.

Pure Block Kit builders first, then `/devops subscribe` unescaping, then one announcement end
to end into the fake Slack Web API.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from feedkit import Bot, posts_to, rss, rss_item
from slack_harness import block_texts

from bot.knowledge.index import IndexedChunk
from bot.slack.announce_blocks import ArticleView, announcement
from bot.slack.answer_blocks import Answer, AnswerHit, answer_message, more_results_message
from bot.slack.subcommands import parse_command
from bot.slack.text import feed_mrkdwn, link, neutralize

ZWSP = "\u200b"
INJECTION = "<!channel> *URGENT* _read_ ~gone~ `code` ```fence <@U123> <http://evil|trusted>"
# Markup that must never reach Slack's mrkdwn as written.
RAW = ("<!channel>", "<@U123>", "<http://evil|trusted>", "*URGENT*", "_read_", "~gone~", "```")
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def texts(message: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(type, text, Block Kit limit) of every text object of a message, and its fallback."""
    found = [("mrkdwn", message["text"], 40_000)]
    for block in message["blocks"]:
        if block["type"] == "header":
            found.append(("plain_text", block["text"]["text"], 150))
        elif block["type"] in ("section", "context"):
            objects = [block["text"]] if block["type"] == "section" else block["elements"]
            found.extend((o["type"], o["text"], 3000) for o in objects)
        elif block["type"] == "actions":
            for element in block["elements"]:
                found.append(("plain_text", element["text"]["text"], 75))
                found.append(("value", element["value"], 2000))
    return found


def assert_literal(message: dict[str, Any]) -> None:
    for kind, text, limit in texts(message):
        assert len(text) <= limit, (kind, len(text))
        assert not CONTROLS.search(text), (kind, text)
        if kind == "mrkdwn":
            for raw in RAW:
                assert raw not in text, (raw, text)
            for url in re.findall(r"<(?!!date\^)([^|>]*)\|", text):
                assert url.startswith("https://") and len(url) <= 2048, url


def view(**overrides: Any) -> ArticleView:
    values: dict[str, Any] = {
        "title": "Postgres upgrades",
        "url": "https://ops.example/pg",
        "feed_title": "Ops Blog",
        "author": "Jane",
        "published_at": datetime(2024, 11, 14, tzinfo=UTC),
        "summary": "How we moved 2 TB.",
    }
    values.update(overrides)
    return ArticleView(**values)


def as_dict(msg: Any) -> dict[str, Any]:
    return {"text": msg.text, "blocks": msg.blocks}


# -- pure builders -----------------------------------------------------------------------------


def test_mrkdwn_formatting_from_a_feed_is_neutralized_but_kept_visible():
    shown = feed_mrkdwn(INJECTION)
    for raw in RAW:
        assert raw not in shown
    # Remove the zero-width spaces and un-escape: exactly what the feed wrote.
    visible = shown.replace(ZWSP, "").replace("&lt;", "<").replace("&gt;", ">")
    assert visible.replace("&amp;", "&") == INJECTION
    assert neutralize("&gt; quoted\nline") == f"{ZWSP}&gt; quoted\nline"


def test_announcement_of_hostile_fields_is_literal():
    msg = announcement(
        view(
            title=INJECTION,
            feed_title=INJECTION,
            author="<@U123> *boss*",
            summary=INJECTION + " ```\nrest of the message",
        )
    )
    assert_literal(as_dict(msg))
    # Feed name, author and excerpt are plain_text: shown as written, never parsed.
    meta = msg.blocks[1]["elements"][0]
    assert meta["type"] == "plain_text" and meta["text"].startswith("<!channel> *URGENT*")
    assert msg.blocks[2]["text"]["type"] == "plain_text"


def test_titles_stored_as_html_before_cleaning_are_shown_as_text():
    msg = announcement(view(title="<b>&#38;</b> <script>alert(1)</script>Deploy\u202e\x00"))
    assert msg.blocks[0]["text"]["text"] == "*<https://ops.example/pg|&amp; Deploy>*"


def test_a_100_kb_title_and_an_8_kb_link_make_a_short_headline():
    msg = announcement(view(title="x" * 100_000, url="https://ops.example/" + "a" * 8000))
    head = msg.blocks[0]["text"]["text"]
    assert "ops.example" not in head and len(head) <= 260  # the title, not the URL
    assert len(msg.text) < 400
    assert_literal(as_dict(msg))


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<b>x</b>", "ftp://x/"]
)
def test_only_http_links_become_slack_links(url):
    assert link(url, "label") == "label"
    assert announcement(view(url=url)).blocks[0]["text"]["text"] == "*Postgres upgrades*"


def test_article_answers_are_literal():
    hostile = IndexedChunk(
        id=7,
        source_id=1,
        kind="article",
        title="<b>Deploy</b> " + INJECTION,
        section=INJECTION,
        text=(INJECTION + " \x00\u202e ") * 50,
        url="https://ops.example/" + "a" * 8000,
        source_name=INJECTION,
    )
    other = IndexedChunk(8, 1, "article", INJECTION, "", "x", "javascript:alert(1)", INJECTION)
    answer = Answer("how *do* I deploy", True, (AnswerHit(hostile, 0.9), AnswerHit(other, 0.4)))
    for style in ("private", "conversation", "shared"):
        message = answer_message(answer, style).as_kwargs()
        assert_literal(message)
        assert "<b>" not in block_texts(message)
    assert_literal(more_results_message("q", [AnswerHit(hostile, 0.5)]).as_kwargs())
    unsure = Answer("q", False, (AnswerHit(hostile, 0.2),))
    assert_literal(answer_message(unsure).as_kwargs())


# -- /devops command text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "subscribe <http://h/q.xml?a=1&amp;b=2>",
        "subscribe <http://h/q.xml?a=1&amp;b=2|h/q.xml?a=1&amp;b=2>",
        "subscribe http://h/q.xml?a=1&amp;b=2",
    ],
)
def test_subscribe_url_is_unescaped_once_after_the_link_is_parsed(text):
    assert parse_command(text).ref == "http://h/q.xml?a=1&b=2"


def test_command_text_is_unescaped_exactly_once():
    # A URL whose query really holds `&lt;` arrives from Slack as `&amp;lt;`.
    assert (
        parse_command("pause <http://h/q?x=&amp;lt;> <#C0OPS1234|ops>").ref == "http://h/q?x=&lt;"
    )
    assert parse_command("what is a &amp;&amp; b").question == "what is a && b"


def test_subscribe_from_slack_fetches_the_unescaped_query(slack_sim, slack_runtime, feed_server):
    feed_server.serve("/q.xml", rss([rss_item("One", link="/1", guid="1")]))
    url = feed_server.url("/q.xml")
    slack_sim.command(f"subscribe <{url}?a=1&amp;b=2> <#C0OPS1234|ops>", response="q1")
    [reply] = slack_sim.wait_response("q1")
    assert "Subscribed <#C0OPS1234>" in block_texts(reply)
    assert [path for path, _ in feed_server.requests] == ["/q.xml?a=1&b=2"]


# -- end to end --------------------------------------------------------------------------------


def test_a_hostile_entry_is_announced_literally(db_url, fake_slack, feed_server):
    url = feed_server.serve("/hostile.xml", rss([rss_item("Calm", link="/calm", guid="calm")]))
    bot = Bot.open(db_url, fake_slack.api_url)
    try:
        bot.subscribe(url, "C0ALERTS")
        hostile = rss_item(
            "<b>&#38;</b> " + INJECTION + "<script>alert(1)</script>\u202e",
            link="/" + "a" * 8000,
            guid="hostile",
            description="<p>" + INJECTION + "</p><style>p{}</style>",
            author="Ops &amp; SRE",
        )
        calm = rss_item("Calm", link="/calm", guid="calm")
        feed_server.serve("/hostile.xml", rss([hostile, calm], title="Ops *Feed* <!here>"))
        assert bot.poll().delivery.posted == 1
        (post,) = posts_to(fake_slack, "C0ALERTS")
    finally:
        bot.close()
    assert_literal(post)
    # An RSS title with tags is HTML: `<!channel>` and `<http://evil|…>` were tags in it.
    head = post["blocks"][0]["text"]["text"]
    assert head.startswith(f"*&amp; {ZWSP}*{ZWSP}URGENT{ZWSP}*{ZWSP} {ZWSP}_{ZWSP}read")
    assert "<https://" not in head  # the 8 KB link was dropped
    assert post["blocks"][1]["elements"][0]["text"] == "Ops *Feed* <!here> · Ops & SRE"
    assert "script" not in str(post) and "alert" not in str(post)
