"""Pure Block Kit builders: escaping, Markdown to mrkdwn, and Slack's size limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bot.knowledge.index import IndexedChunk
from bot.slack.answer_blocks import (
    ACTION_SHARE,
    MAX_BUTTON_VALUE,
    Answer,
    AnswerHit,
    answer_message,
    button_value,
    more_results_message,
    parse_button_value,
)
from bot.slack.command_blocks import feeds_message, help_message, subscribed_message
from bot.slack.home import home_view
from bot.slack.mrkdwn import markdown_pieces, markdown_to_mrkdwn, split_mrkdwn


def note(text: str, title: str = "stern", section: str = "Kubernetes › Core Tools", id: int = 1):
    return IndexedChunk(
        id=id,
        source_id=1,
        kind="note",
        title=title,
        section=section,
        text=text,
        source_name="devops-notes.md",
        line_start=664,
        line_end=664,
    )


def article(title: str, text: str = "Body text.", id: int = 2, url: str = "https://e13.dev/x"):
    return IndexedChunk(
        id=id,
        source_id=2,
        kind="article",
        title=title,
        section=title,
        text=text,
        url=url,
        source_name="E13 <Blog>",
        article_id=7,
    )


def answered(*chunks: IndexedChunk, question: str = "how do I tail multiple pods") -> Answer:
    when = datetime(2024, 8, 21, tzinfo=UTC)
    return Answer(question, True, tuple(AnswerHit(c, 0.9, when) for c in chunks))


def all_text(message) -> str:
    """What Slack renders: fallback text and blocks, but not button values (never shown)."""
    shown = [b for b in message.blocks if b["type"] != "actions"]
    labels = [
        e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    return json.dumps({"text": message.text, "blocks": shown, "labels": labels}, ensure_ascii=False)


def sections(message) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


# -- escaping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunk",
    [
        note(
            "<!channel> win: free <@U123> money <https://evil.example|click>",
            title="<!channel> win",
        ),
        article("<!channel> win", text="<!here> <!everyone> & friends"),
    ],
)
def test_nothing_from_notes_or_feeds_can_ping_or_forge_links(chunk):
    extra = article("<!subteam^S1> more", id=3)
    message = answer_message(answered(chunk, extra), style="shared", asked_by="U1")
    text = all_text(message)
    for forbidden in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<!subteam", "|click>"):
        assert forbidden not in text
    assert "&lt;!channel&gt; win" in text
    assert "Asked by <@U1>" in text  # our own markup survives


def test_the_question_is_escaped_too():
    message = answer_message(answered(note("x"), question="<!channel> & <@U9>"))
    assert "<!channel>" not in all_text(message) and "<@U9>" not in all_text(message)
    assert "&lt;!channel&gt; &amp; &lt;@U9&gt;" in sections(message)[0]


def test_attribution_never_echoes_a_malformed_user_id():
    message = answer_message(answered(note("x")), style="shared", asked_by="<!channel>")
    assert "<!channel>" not in all_text(message)


def test_feed_titles_in_feed_lists_and_home_are_escaped():
    sub = SimpleNamespace(
        id=1,
        feed_url="https://e13.dev/feed.xml",
        feed_title="<!channel> win",
        channel_id="C0DEVOPS1",
        status="active",
        status_reason=None,
        last_success_at=None,
        last_error="<!here> boom",
        consecutive_failures=2,
        next_check_at=None,
    )
    for rendered in (
        json.dumps(feeds_message([sub]).blocks),
        json.dumps(home_view([sub], [("<!channel> why", 3)])),
        json.dumps(subscribed_message(sub, True, 5).blocks),
        json.dumps(subscribed_message(sub, True, 5, discovered_from="https://x/<!here>").blocks),
    ):
        assert "<!channel>" not in rendered and "<!here>" not in rendered
        assert "&lt;!channel&gt;" in rendered


def test_a_subscription_found_through_a_page_names_the_page_and_the_feed():
    sub = SimpleNamespace(feed_url="https://e13.dev/feed.xml", feed_title="E13", channel_id="C0A1")
    text = subscribed_message(sub, True, 5, discovered_from="https://e13.dev/blog/").text
    assert "https://e13.dev/blog/ is a web page" in text and "https://e13.dev/feed.xml" in text


def test_feed_names_link_to_the_site_and_never_to_a_script():
    sub = SimpleNamespace(
        id=1,
        feed_url="https://e13.dev/blog/index.xml",
        feed_title="E13",
        site_url="https://e13.dev/blog/",
        channel_id="C0DEVOPS1",
        status="active",
        status_reason=None,
        last_success_at=None,
        last_error=None,
        consecutive_failures=0,
        next_check_at=None,
    )
    for rendered in (json.dumps(feeds_message([sub]).blocks), json.dumps(home_view([sub], []))):
        assert "<https://e13.dev/blog/|E13>" in rendered and "index.xml|" not in rendered
    sub.site_url = "javascript:alert(1)"
    assert "<https://e13.dev/blog/index.xml|E13>" in json.dumps(feeds_message([sub]).blocks)


# -- Markdown to mrkdwn ------------------------------------------------------------------------


def test_markdown_code_links_and_bold_become_mrkdwn():
    md = "Use **stern** with `kubectl logs -f <pod>` — see [the docs](https://github.com/stern/stern)"
    assert markdown_to_mrkdwn(md) == (
        "Use *stern* with `kubectl logs -f &lt;pod&gt;` — see "
        "<https://github.com/stern/stern|the docs>"
    )


def test_fenced_code_stays_code_and_bullets_become_bullets():
    md = "Inspect topics\n```bash\nkafkacat -b localhost:9092 -L | grep <x>\n```\n- one\n    - two"
    out = markdown_to_mrkdwn(md)
    assert "```\nkafkacat -b localhost:9092 -L | grep &lt;x&gt;\n```" in out
    assert "• one" in out and "\u2003\u2003• two" in out


def test_a_link_with_a_bad_url_is_only_its_label():
    assert markdown_to_mrkdwn("[x](javascript:alert(1))") == "x"


PORTS_TABLE = (
    "Ports to open:\n"
    "| Service | Port | Protocol |\n"
    "|---|---:|---|\n"
    "| **ssh** | 22 | TCP |\n"
    "| [dns](https://example.com/dns) | 53 | `UDP` <br> |\n"
)


def test_a_table_becomes_aligned_columns_not_pipes():
    assert markdown_to_mrkdwn(PORTS_TABLE) == (
        "Ports to open:\n"
        "```\n"
        "Service  Port  Protocol\n"
        "-------  ----  --------\n"
        "ssh        22  TCP\n"
        "dns        53  UDP\n"
        "```"
    )


def test_a_table_too_wide_for_columns_becomes_a_line_per_row():
    md = (
        "| Tool | What it does | Example |\n"
        "|---|---|---|\n"
        "| stern | Tails many pods at once, across namespaces, with one colour per pod "
        "| `stern web` |\n"
        "| [k9s](https://k9scli.io) | A terminal UI for the whole cluster | |\n"
    )
    out = markdown_to_mrkdwn(md)
    assert out == (
        "• *stern* — What it does: Tails many pods at once, across namespaces, "
        "with one colour per pod · Example: `stern web`\n"
        "• *<https://k9scli.io|k9s>* — What it does: A terminal UI for the whole cluster"
    )


def test_a_table_note_never_shows_raw_pipes_in_an_answer():
    table = note(PORTS_TABLE.split("\n", 1)[1], title="Ports", section="Networking", id=1)
    also = note(PORTS_TABLE.split("\n", 1)[1], title="Ports", section="Firewall", id=2)
    message = answer_message(answered(table, also))
    # The best answer shows columns; the suggestion is labelled by the header cells.
    assert not any("|" in t.replace("|dns>", "") for t in sections(message))
    assert any("Service · Port · Protocol" in t for t in sections(message))


# -- limits --------------------------------------------------------------------------------------


def test_a_long_note_is_split_within_section_limits_without_breaking_code():
    code = "\n".join(f"  partition {i}, leader 1, replicas: 1,3,2 <isr>" for i in range(400))
    md = "Example output\n```\n" + code + "\n```"
    message = answer_message(answered(note(md, title="Example output")))
    texts = sections(message)
    assert len(message.blocks) <= 50
    assert all(len(t) <= 3000 for t in texts)
    for t in texts:
        assert t.count("```") % 2 == 0  # every part opens and closes its code block
    assert any("cut short" in json.dumps(b) for b in message.blocks)
    assert message.text


def test_split_never_cuts_an_entity_or_a_link():
    line = ("&amp; <https://example.com/a|a link> " * 200).strip()
    parts = split_mrkdwn([("prose", line)], limit=100)
    assert all(len(p) <= 100 for p in parts)
    assert all(p.count("<") == p.count(">") for p in parts)
    assert all(not p.rstrip().endswith(("&", "&am", "&amp")) for p in parts)
    assert "".join(parts).replace(" ", "") == line.replace(" ", "")


def test_markdown_pieces_keep_order():
    kinds = [k for k, _ in markdown_pieces("a\n```\nb\n```\nc")]
    assert kinds == ["prose", "code", "prose"]


def test_button_values_stay_within_slack_limits_and_round_trip():
    question = '"quoted" ' * 1000
    value = button_value(question, [1, 2, 3])
    assert len(value) <= MAX_BUTTON_VALUE
    q, ids = parse_button_value(value)
    assert ids == [1, 2, 3] and question.startswith(q)
    assert parse_button_value("not json") == ("", [])


def test_many_results_stay_under_fifty_blocks():
    hits = [AnswerHit(note(f"tip {i}", id=i), 0.5) for i in range(80)]
    message = more_results_message("q", hits)
    assert len(message.blocks) <= 50


# -- shapes ----------------------------------------------------------------------------------------


def test_private_answer_has_share_more_and_votes_and_fallback_text():
    message = answer_message(answered(note("stern: follow pods: `stern app`"), article("Tail")))
    actions = next(b for b in message.blocks if b["type"] == "actions")
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert labels == ["Share in channel", "More results", "👍", "👎"]
    assert message.text.startswith("how do I tail multiple pods: stern")
    assert "Kubernetes › Core Tools" in all_text(message)
    assert "See also" in all_text(message)


def test_article_answer_links_title_and_shows_feed_and_date():
    message = answer_message(answered(article("Tail & follow", text="Line one.\nLine two.")))
    first = sections(message)[1]
    assert first.startswith("*<https://e13.dev/x|Tail &amp; follow>*")
    assert "Line one. Line two." in first
    context = json.dumps(message.blocks[2])
    assert "E13 &lt;Blog&gt;" in context and "<!date^1724198400^{date_short}|2024-08-21>" in context


def test_conversation_answers_have_no_share_button():
    message = answer_message(answered(note("x")), style="conversation")
    assert ACTION_SHARE not in json.dumps(message.blocks)


def test_no_answer_says_so_shows_suggestions_and_points_to_help():
    answer = Answer("what is the weather", False, (AnswerHit(note("Spinnaker"), 0.2),))
    text = all_text(answer_message(answer))
    assert "I don't know" in text and "Nearest suggestions" in text and "/devops help" in text
    assert "Share in channel" not in text
    assert "I don't know" in all_text(answer_message(Answer("zzz", False, ())))


def test_help_mentions_admins_only_when_restricted():
    assert "admins only" in all_text(help_message(True))
    assert "admins only" not in all_text(help_message(False))


def test_a_likely_but_unconfirmed_answer_is_shown_in_full_as_the_closest_match():
    hits = (
        AnswerHit(note("stern: follow pods: `stern app`"), 0.6),
        AnswerHit(note("k9s", id=3), 0.1),
    )
    message = answer_message(Answer("how do I tail multiple pods", False, hits))
    text = all_text(message)
    assert "not sure" in text and "`stern app`" in text  # shown, but not claimed as the answer
    assert "I don't know" not in text
    labels = [
        e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Share in channel", "More results", "👍", "👎"]  # votes teach most here
    assert message.text.startswith("No confident answer")
