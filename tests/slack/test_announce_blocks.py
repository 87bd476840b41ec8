"""The announcement Block Kit builder: a pure function, tested without Slack."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.slack.announce_blocks import ArticleView, announcement, excerpt, notice


def view(**overrides) -> ArticleView:
    values = {
        "title": "Zero-downtime Postgres upgrades",
        "url": "https://ops.example/pg",
        "feed_title": "Ops Blog",
        "author": "Jane Doe",
        "published_at": datetime(2024, 11, 14, tzinfo=UTC),
        "summary": "How we moved 2 TB with logical replication.",
        "text": "",
    }
    values.update(overrides)
    return ArticleView(**values)


def test_linked_title_feed_author_date_excerpt_and_fallback():
    msg = announcement(view())
    head, meta, body = msg.blocks
    assert head["text"]["text"] == "*<https://ops.example/pg|Zero-downtime Postgres upgrades>*"
    assert meta["type"] == "context"
    assert meta["elements"] == [
        {"type": "plain_text", "text": "Ops Blog · Jane Doe", "emoji": False},
        {"type": "mrkdwn", "text": "<!date^1731542400^{date_short_pretty}|2024-11-14>"},
    ]
    assert body["text"] == {
        "type": "plain_text",
        "text": "How we moved 2 TB with logical replication.",
        "emoji": False,
    }
    assert msg.text == "New in Ops Blog: <https://ops.example/pg|Zero-downtime Postgres upgrades>"


def test_everything_from_the_feed_is_escaped():
    msg = announcement(
        view(
            title="<!channel> win",
            feed_title="A & B <script>",
            author="<@U123>",
            summary="Click <https://evil.example|here> & <!here>",
            url="https://ops.example/a?b=1&c=2",
        )
    )
    # mrkdwn (the linked title, the fallback) is escaped; the rest is plain_text, never parsed.
    mrkdwn = msg.blocks[0]["text"]["text"] + msg.text
    for raw in ("<!channel>", "<!here>", "<@U123>", "<script>", "|here>"):
        assert raw not in mrkdwn
    assert (
        msg.blocks[0]["text"]["text"]
        == "*<https://ops.example/a?b=1&amp;c=2|&lt;!channel&gt; win>*"
    )
    assert msg.blocks[0]["text"]["verbatim"]
    # A stored feed title holding HTML tags is HTML: its text is shown, not its tags.
    assert msg.blocks[1]["elements"][0]["text"] == "A & B · <@U123>"
    assert msg.blocks[2]["text"] == {
        "type": "plain_text",
        "text": "Click <https://evil.example|here> & <!here>",
        "emoji": False,
    }


def test_missing_fields_are_left_out():
    msg = announcement(view(url=None, author=None, published_at=None, summary="", text=""))
    assert len(msg.blocks) == 2
    assert msg.blocks[0]["text"]["text"] == "*Zero-downtime Postgres upgrades*"
    assert msg.blocks[1]["elements"][0]["text"] == "Ops Blog"
    assert announcement(view(url="javascript:alert(1)")).blocks[0]["text"]["text"] == (
        "*Zero-downtime Postgres upgrades*"
    )


def test_excerpt_is_short_plain_and_cut_at_a_word():
    long = "Kubernetes " * 100
    cut = excerpt(long, "", "title")
    assert len(cut) <= 300 and cut.endswith("…") and not cut.endswith(" …")
    assert excerpt("", "  body\n\n text ", "t") == "body text"
    assert excerpt("Same as title", "", "same as title") == ""
    msg = announcement(view(summary="word " * 400))
    assert len(msg.blocks[2]["text"]["text"]) <= 300


def test_untitled_entries_and_notices():
    assert "(untitled)" in announcement(view(title="  ")).text
    n = notice("*Ops* is gone")
    assert n.text == "*Ops* is gone" and n.blocks[0]["text"]["type"] == "mrkdwn"
