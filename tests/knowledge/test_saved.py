"""Notes saved from Slack: mrkdwn as Markdown, the exported document, and its chunks (pure),
then stored, edited, deleted and exported on SQLite and PostgreSQL alike (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import select

from bot.db.models import Chunk, SlackNote, Source
from bot.db.slack_notes import NoteFields, note_key, slack_note_by_key, slack_notes
from bot.knowledge.load import sync_notes
from bot.knowledge.notes import note_title
from bot.knowledge.saved import (
    SavedNote,
    chunk_saved_note,
    export_file_name,
    mrkdwn_to_markdown,
    note_document,
    title_from,
)
from bot.knowledge.service import Answerer
from bot.knowledge.slack_notes import delete_note, edit_note, export_notes, save_note

ROTATE = (
    "Run `vault write -f database/rotate-root/staging-postgres`, then restart the API pods "
    "with `kubectl rollout restart deploy/api -n staging` so they pick up the new secret."
)


def saved(**changes: object) -> SavedNote:
    values: dict[str, object] = {
        "key": "slack:T1/C0OPS/1700000000.000100",
        "title": "Rotate the staging database password",
        "section": "ops",
        "body": ROTATE,
        "author_id": "U0AUTHOR",
        "saver_id": "U0SAVER",
        "channel_id": "C0OPS",
        "channel_name": "ops",
        "permalink": "https://test.slack.com/archives/C0OPS/p1700000000000100",
        "saved_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    }
    values.update(changes)
    return SavedNote(**values)  # type: ignore[arg-type]


# -- pure: mrkdwn, the document, the chunks ---------------------------------------------------


def test_slack_markup_becomes_markdown_and_code_stays_code():
    text = (
        "*Restart* it with ```kubectl rollout restart deploy/api``` and see "
        "<https://kubernetes.io/docs|the docs> or <https://example.com>, thanks <@U123> in "
        "<#C0OPS|ops> &amp; <!here>\n• first\n• `a *not bold* span`"
    )
    markdown = mrkdwn_to_markdown(text)
    fenced = "```\nkubectl rollout restart deploy/api\n```\n"
    assert markdown.startswith("**Restart** it with\n" + fenced)
    assert "[the docs](https://kubernetes.io/docs)" in markdown
    assert "<https://example.com>" in markdown
    assert "thanks @U123 in #ops & @here" in markdown
    assert "- first" in markdown
    assert "`a *not bold* span`" in markdown  # nothing inside code is converted


def test_lines_markdown_would_read_as_structure_stay_text():
    markdown = mrkdwn_to_markdown("# not a heading\nsome words\n---")
    assert [line.rstrip() for line in markdown.splitlines()] == [
        "\\# not a heading",
        "some words",
        "\\---",
    ]


def test_each_slack_line_stays_a_line_and_a_thread_is_one_chunk():
    thread = "How do we drain a node?\n`kubectl drain NODE`\nthen `kubectl uncordon NODE`"
    [chunk] = chunk_saved_note(saved(body=thread))
    assert chunk.text.splitlines() == thread.splitlines()


def test_a_title_is_the_first_line_as_plain_words():
    assert title_from("\n*Deploy* <https://ci.example.com|the pipeline> `now`\nmore") == (
        "Deploy the pipeline now"
    )
    assert title_from("<@UBOT> how do we *rotate* certs? cc <@U2|ana>") == (
        "how do we rotate certs? cc @ana"
    )
    assert title_from("word " * 60).endswith("…")
    assert len(title_from("word " * 60)) <= 150


def test_the_document_has_front_matter_the_chunker_and_yaml_both_read():
    note = saved(title='Bob\'s "quoted" title: yes', channel_name="ops")
    document = note_document(note)
    front = yaml.safe_load(document.split("---\n")[1])
    assert front == {
        "title": 'Bob\'s "quoted" title: yes',
        "section": "ops",
        "author": "U0AUTHOR",
        "saved_by": "U0SAVER",
        "channel": "#ops",
        "channel_id": "C0OPS",
        "permalink": "https://test.slack.com/archives/C0OPS/p1700000000000100",
        "saved_at": "2026-12-01T09:30:00+00:00",
        "source": "slack:T1/C0OPS/1700000000.000100",
    }
    assert note_title(document) == 'Bob\'s "quoted" title: yes'
    assert '# ops\n\n## Bob\'s "quoted" title: yes\n\nRun `vault write' in document


def test_chunks_carry_the_title_the_section_and_the_permalink():
    [chunk] = chunk_saved_note(saved())
    assert chunk.title == "Rotate the staging database password"
    assert chunk.section == "ops › Rotate the staging database password"
    assert chunk.text == ROTATE
    assert chunk.url == "https://test.slack.com/archives/C0OPS/p1700000000000100"


def test_a_note_of_symbols_only_is_still_one_chunk():
    [chunk] = chunk_saved_note(saved(body="¯\\_(ツ)_/¯", section=""))
    assert chunk.title == "Rotate the staging database password"


def test_export_file_names_are_stable_slugs_that_do_not_collide():
    one = export_file_name(saved())
    assert one == export_file_name(saved(body="edited text"))
    assert one.startswith("rotate-the-staging-database-password-") and one.endswith(".md")
    other = export_file_name(saved(key="slack:T1/C0OPS/1700000099.000100"))
    assert other != one
    assert export_file_name(saved(title="Ünïcode / ../../etc")).startswith("unicode-etc-")


# -- stored, on SQLite and PostgreSQL ---------------------------------------------------------


def fields(**changes: object) -> NoteFields:
    values: dict[str, object] = {
        "title": "Rotate the staging database password",
        "section": "ops",
        "body": ROTATE,
        "saver_id": "U0SAVER",
        "author_id": "U0AUTHOR",
        "team_id": "T1",
        "channel_id": "C0OPS",
        "channel_name": "ops",
        "message_ts": "1700000000.000100",
        "permalink": "https://test.slack.com/archives/C0OPS/p1700000000000100",
    }
    values.update(changes)
    return NoteFields(**values)  # type: ignore[arg-type]


def test_a_saved_note_is_a_slack_source_answered_at_once_and_forgotten_at_once(sessions):
    answerer = Answerer()
    key = note_key("T1", "C0OPS", "1700000000.000100")
    with sessions.begin() as session:
        note_id = save_note(session, key, fields()).id
    with sessions.begin() as session:
        answerer.sync(session)
        result = answerer.ask(session, "new secret for the staging db")
        kinds = session.scalars(select(Source.kind).where(Source.key == key)).all()
    assert kinds == ["slack"]
    assert result.answered
    assert result.hits[0].chunk.url == "https://test.slack.com/archives/C0OPS/p1700000000000100"

    with sessions.begin() as session:
        note = session.get(SlackNote, note_id)
        edit_note(session, note, "Rotate staging secrets", "security", "Use `make rotate-secrets`.")
    with sessions.begin() as session:
        answerer.sync(session)
        [view] = slack_notes(session)
        texts = session.scalars(select(Chunk.text).join(Source).where(Source.key == key)).all()
    assert (view.title, view.section, view.chunks) == ("Rotate staging secrets", "security", 1)
    assert texts == ["Use `make rotate-secrets`."]

    with sessions.begin() as session:
        assert delete_note(session, note_id)
        assert not delete_note(session, note_id)
    with sessions.begin() as session:
        answerer.sync(session)
        hits = answerer.ask(session, "rotate staging secrets").hits
        assert slack_note_by_key(session, key) is None
        assert session.scalars(select(Chunk).join(Source).where(Source.key == key)).all() == []
    assert all(h.chunk.url != view.permalink for h in hits)


def test_saving_the_same_message_again_replaces_its_note(sessions):
    key = note_key("T1", "C0OPS", "1700000000.000100")
    with sessions.begin() as session:
        save_note(session, key, fields())
    with sessions.begin() as session:
        save_note(session, key, fields(title="Second try", body="Other *words*"))
    with sessions() as session:
        [view] = slack_notes(session)
    assert (view.title, view.chunks) == ("Second try", 1)


def test_an_exported_folder_loads_back_as_the_same_chunks(sessions, tmp_path: Path):
    with sessions.begin() as session:
        save_note(session, note_key("T1", "C0OPS", "1.1"), fields())
        save_note(
            session,
            note_key("T1", "C0OPS", "2.2"),
            fields(title="Tail pods", section="", body="• `stern api`\n• `kubectl logs -f`"),
        )
    with sessions() as session:
        written = export_notes(session, tmp_path / "export")
        stored = sorted(
            (c.title, c.section, c.text)
            for c in session.scalars(select(Chunk).join(Source).where(Source.kind == "slack"))
        )
    on_disk = sorted(p.name for p in (tmp_path / "export").iterdir())
    assert sorted(p.name for p in written) == on_disk
    assert len(written) == 2
    with sessions() as session:  # a second export writes the same files, byte for byte
        again = export_notes(session, tmp_path / "export")
    assert [p.read_text() for p in again] == [p.read_text() for p in written]

    with sessions.begin() as session:
        report = sync_notes(session, [tmp_path / "export"])
    assert len(report.loaded) == 2
    with sessions() as session:
        titles = sorted(session.scalars(select(Source.title).where(Source.kind == "notes")).all())
        loaded = sorted(
            (c.title, c.section, c.text)
            for c in session.scalars(select(Chunk).join(Source).where(Source.kind == "notes"))
        )
    assert titles == ["Rotate the staging database password", "Tail pods"]
    assert loaded == stored
