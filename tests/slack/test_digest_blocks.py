"""The digest and day-thread Block Kit builders: pure, bounded, feed text escaped."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from bot.slack.digest_blocks import (
    MAX_BLOCKS,
    MAX_PARTS,
    DigestEntry,
    DigestView,
    digest_message,
    part_sizes,
    thread_parent,
)

SLOT = datetime(2027, 1, 12, 8, 0, tzinfo=UTC)


def entries(n: int, title: str = "Post {i}", url: str = "https://ops.example/p/{i}"):
    return [DigestEntry(title.format(i=i), url.format(i=i)) for i in range(n)]


def view(items, part=1, parts=1, total=None) -> DigestView:
    return DigestView(
        "Ops & <Blog>", "https://ops.example/", items, total or len(items), SLOT, part, parts
    )


def within_limits(message) -> None:
    assert len(message.blocks) <= MAX_BLOCKS
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def test_fifty_ordinary_entries_are_one_message():
    items = entries(50)
    assert part_sizes(items) == [50]
    message = digest_message(view(items))
    within_limits(message)
    head = message.blocks[0]["text"]["text"]
    assert head == "*50 new posts in <https://ops.example/|Ops &amp; &lt;Blog&gt;>*"
    assert message.text == "50 new posts in Ops &amp; &lt;Blog&gt;"
    lines = "\n".join(b["text"]["text"] for b in message.blocks[2:]).splitlines()
    assert lines[0] == "• <https://ops.example/p/0|Post 0>" and len(lines) == 50


def test_feed_text_is_escaped_as_in_single_announcements():
    hostile = [
        DigestEntry("<!channel> *win* & <https://evil.example|click>", "javascript:alert(1)")
    ]
    message = digest_message(view(hostile))
    dumped = json.dumps(message.blocks)
    assert (
        "<!channel>" not in dumped and "javascript:" not in dumped and "<https://evil" not in dumped
    )
    line = message.blocks[2]["text"]["text"]
    assert line.startswith("• &lt;!channel&gt; \u200b*\u200bwin")


def test_a_long_digest_is_split_into_numbered_parts_within_the_limits():
    long_title = "Kubernetes release notes " * 9  # ~225 characters a line
    items = entries(200, title=long_title + "{i}")
    sizes = part_sizes(items)
    assert len(sizes) > 1 and sum(sizes) == 200
    start = 0
    for n, size in enumerate(sizes, start=1):
        message = digest_message(view(items[start : start + size], n, len(sizes), total=200))
        start += size
        within_limits(message)
        assert message.blocks[0]["text"]["text"].endswith(f"({n}/{len(sizes)})")
        assert "… and" not in json.dumps(message.blocks)  # each part shows all it holds


def test_past_the_last_part_the_rest_is_counted_not_listed():
    items = entries(3000, title="x" * 240 + " {i}")
    sizes = part_sizes(items)
    assert len(sizes) == MAX_PARTS and sum(sizes) == 3000
    last = items[sum(sizes[:-1]) :]
    message = digest_message(view(last, MAX_PARTS, MAX_PARTS, total=3000))
    within_limits(message)
    shown = sum(b["text"]["text"].count("• ") for b in message.blocks[2:] if b["type"] == "section")
    more = message.blocks[-1]["elements"][0]["text"]
    assert more == f"… and {len(last) - shown} more (`devopsbot feeds log` lists them)"


def test_a_monstrous_url_costs_the_link_not_the_title():
    items = [DigestEntry("Huge", "https://ops.example/" + "a" * 2000 + "&" * 20)]
    message = digest_message(view(items))
    within_limits(message)
    assert "Huge" in message.blocks[2]["text"]["text"]


def test_the_thread_parent_names_the_feed_and_the_day():
    message = thread_parent("Ops <!here>", date(2027, 1, 12), "https://ops.example/")
    assert message.text == "New in Ops &lt;!here&gt; — Tuesday, 12 January 2027"
    assert "<!here>" not in json.dumps(message.blocks)
