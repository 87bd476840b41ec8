"""Ranking behaviour a user notices: the right chunk first, and an honest "I don't know"."""

from __future__ import annotations

import pytest

from bot.knowledge.index import IndexedChunk, KnowledgeIndex
from bot.knowledge.notes import chunk_markdown


def _indexed(drafts, source_id=1, start=0):
    return [
        IndexedChunk(
            id=start + i,
            source_id=source_id,
            kind=d.kind,
            title=d.title,
            section=d.section,
            text=d.text,
            url=d.url,
            source_name="notes.md",
            line_start=d.line_start,
            line_end=d.line_end,
        )
        for i, d in enumerate(drafts)
    ]


@pytest.fixture(scope="module")
def index():
    from pathlib import Path

    notes = (Path(__file__).parents[2] / "bot" / "sample_data" / "devops-notes.md").read_text()
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, _indexed(chunk_markdown(notes)))
    return idx


def _top(index, question):
    result = index.search(question)
    assert result.hits, f"no hits for {question!r}"
    return result, result.hits[0].chunk


@pytest.mark.parametrize(
    "question",
    [
        "how do I tail multiple pods",  # stop words
        "/devops how do I tail multiple pods",  # the slash command prefix
        "tailing several pods logs",  # inflections and a synonym
        "tial multple pods",  # typos, corrected against the index vocabulary
        "k8s log tailer",  # abbreviation
    ],
)
def test_the_stern_note_answers_variants_of_the_question(index, question):
    result, top = _top(index, question)
    assert result.answered
    assert top.title == "stern"


def test_titles_weigh_more_than_passing_mentions(index):
    _, top = _top(index, "what is runc")
    assert top.text.startswith("runc: the actual runner")


def test_off_topic_questions_are_not_answered(index):
    for question in ["best recipe for pancakes", "asdfgh qwerty", "who won the world cup"]:
        assert not index.search(question).answered, question


def test_a_question_of_only_stop_words_is_not_answered(index):
    result = index.search("how do I do it?")
    assert not result.answered and result.hits == []


def test_parent_and_child_bullets_are_not_both_suggested(index):
    result = index.search("execsnoop bcc-tools", limit=3)
    spans = [(h.chunk.line_start, h.chunk.line_end) for h in result.hits]
    for i, (a0, a1) in enumerate(spans):
        for b0, b1 in spans[i + 1 :]:
            assert a1 < b0 or b1 < a0


def test_the_index_follows_source_changes_without_a_rebuild(index):
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, _indexed(chunk_markdown("- stern: tail pods\n")))
    idx.replace_source(2, 1, _indexed(chunk_markdown("- kafkacat: inspect topics\n"), 2, 100))
    assert idx.search("inspect kafka topics").hits[0].chunk.source_id == 2
    idx.replace_source(2, 2, _indexed(chunk_markdown("- helm: charts\n"), 2, 200))
    assert not idx.search("inspect kafka topics").answered
    assert idx.search("tail pods").hits[0].chunk.title == "stern"
    idx.remove_source(1)
    assert not idx.search("tail pods").hits
    assert len(idx) == 1


def test_a_ten_thousand_character_question_is_answered(index):
    question = ("how do I tail multiple pods " * 400)[:10_000]
    result = index.search(question)
    assert result.answered and result.hits[0].chunk.title == "stern"


def test_scores_are_between_zero_and_one(index):
    for hit in index.search("kafka broker").hits:
        assert 0 < hit.score <= 1
