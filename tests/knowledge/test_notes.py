"""The notes chunker on the team's real notes: chunks as people wrote them."""

from __future__ import annotations

import pytest

from bot.knowledge.notes import chunk_markdown


@pytest.fixture
def chunks(seed_notes):
    return chunk_markdown(seed_notes)


def _one(chunks, predicate):
    found = [c for c in chunks if predicate(c)]
    assert found, "no chunk matched"
    return found[0]


def test_a_bullet_keeps_its_heading_path(chunks):
    stern = _one(chunks, lambda c: c.text.startswith("stern:"))
    assert stern.section == "Kubernetes › Core Tools"
    assert stern.title == "stern"
    assert stern.text == (
        "stern: nice log viewer/tailer that can follow multiple pods: "
        "`stern img-optimizer-deployment`"
    )


def test_a_nested_bullet_keeps_its_parent(chunks):
    execsnoop = _one(chunks, lambda c: c.text.startswith("execsnoop"))
    assert execsnoop.section == "Tools › bcc-tools"
    parent = _one(chunks, lambda c: c.title == "bcc-tools")
    # The parent bullet carries its children, so a question about the group finds them all.
    assert "execsnoop" in parent.text and "biosnoop" in parent.text


def test_kafka_code_blocks_keep_their_bold_titles(chunks):
    kafka = [c for c in chunks if c.section == "Kafka › Tips" and "```" in c.text]
    titles = [c.title for c in kafka]
    assert titles[0] == "Inspect topics and partitions"
    assert "kafkacat -b localhost:9092 -L" in kafka[0].text
    assert "Inspect topics and partitions: Example output" in titles
    # Notion's split bold (`**L****ist consumer groups**`) reads as the words people see.
    assert "List consumer groups" in titles
    assert "Inspect consumer group" in titles


def test_loose_paragraphs_and_quotes_are_chunks(chunks):
    quote = _one(chunks, lambda c: "If you use GKE, you have been spoiled" in c.text)
    assert quote.section == "Kubernetes › Services comparison"
    assert not quote.text.startswith(">")


def test_line_ranges_point_back_into_the_file(seed_notes, chunks):
    lines = seed_notes.splitlines()
    stern = _one(chunks, lambda c: c.title == "stern")
    assert lines[stern.line_start - 1].lstrip("- ").startswith("stern:")


def test_odd_markdown_does_not_break_the_chunker():
    text = (
        "# T\n\n- \n- a\n    - b\n\n```\n```\n\n![img](x.png)\n\n> quoted\n\nplain **bold** end\n"
    )
    chunks = chunk_markdown(text)
    texts = [c.text for c in chunks]
    assert "a\n- b" in texts and "b" in texts
    assert "quoted" in texts
    assert "plain **bold** end" in texts
    assert all(c.text.strip() for c in chunks)
