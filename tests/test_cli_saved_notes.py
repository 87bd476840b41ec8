"""`devopsbot notes list --kind slack` and `notes export`: the notes saved from Slack, written
out as Markdown a team can move into its runbooks repository (issue 10)."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
import yaml
from test_cli import run

from bot.db.session import make_engine, session_factory, upgrade
from bot.db.slack_notes import NoteFields, note_key
from bot.knowledge.slack_notes import save_note


@pytest.fixture
def env(sqlite_url, tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEVOPSBOT_", "SLACK_"))}
    clean.update(DEVOPSBOT_DATABASE_URL=sqlite_url, HOME=str(tmp_path))
    return clean


@pytest.fixture
def two_saved_notes(sqlite_url):
    """A store holding two notes saved from Slack (one from a thread, one remembered)."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        save_note(
            session,
            note_key("T1", "C0OPS", "1700000000.000100"),
            NoteFields(
                title="Rotate the staging DB password",
                section="ops",
                body="Run `vault write -f database/rotate-root/staging-postgres`",
                saver_id="U0SAVER",
                author_id="U0AUTHOR",
                team_id="T1",
                channel_id="C0OPS",
                channel_name="ops",
                message_ts="1700000000.000100",
                permalink="https://test.slack.com/archives/C0OPS/p1700000000000100",
            ),
        )
        save_note(
            session,
            note_key(None, None, None),
            NoteFields(
                title="Tail pods\nacross namespaces",  # a title with a newline stays one line
                section="",
                body="• `stern -A api`",
                saver_id="U0OTHER",
                author_id="U0OTHER",
            ),
        )
    engine.dispose()


def test_notes_list_kind_slack_shows_the_saved_notes_as_a_table_and_as_json(env, two_saved_notes):
    lines = run(["notes", "list", "--kind", "slack"], env).stdout.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "CHANNEL", "SAVED", "BY", "CHUNKS", "SAVED", "AT"]
    assert "Rotate the staging DB password" in lines[1] and "#ops" in lines[1]
    assert "U0SAVER" in lines[1]
    assert "Tail pods across namespaces" in lines[2]
    # Markdown files are another kind: `notes list` alone does not show these.
    assert "No notes yet" in run(["notes", "list"], env).stdout
    rows = [
        json.loads(x)
        for x in run(["notes", "list", "--kind", "slack", "--json"], env).stdout.splitlines()
    ]
    assert [r["title"] for r in rows] == [
        "Rotate the staging DB password",
        "Tail pods\nacross namespaces",
    ]
    first = rows[0]
    assert (first["channel"], first["saved_by"], first["author"], first["chunks"]) == (
        "ops",
        "U0SAVER",
        "U0AUTHOR",
        1,
    )
    assert first["permalink"] == "https://test.slack.com/archives/C0OPS/p1700000000000100"
    assert first["source"] == "slack:T1/C0OPS/1700000000.000100"
    assert datetime.fromisoformat(first["saved_at"]).tzinfo is not None
    # `ask` answers from them too, naming where they were saved and linking the message.
    top = json.loads(run(["ask", "--json", "new secret for the staging db"], env).stdout)
    assert top["results"][0]["source"] == "saved from #ops"
    assert top["results"][0]["url"] == first["permalink"]


def test_notes_list_kind_slack_says_how_to_save_one_when_there_are_none(env):
    assert "/devops remember" in run(["notes", "list", "--kind", "slack"], env).stdout


def test_notes_export_writes_one_markdown_file_per_note_that_notes_load_reads(
    env, two_saved_notes, tmp_path
):
    out = tmp_path / "runbooks" / "saved"
    proc = run(["notes", "export", str(out)], env)
    assert "Exported 2 notes saved from Slack" in proc.stdout
    files = sorted(out.iterdir())
    assert [f.suffix for f in files] == [".md", ".md"]
    assert files[0].name.startswith("rotate-the-staging-db-password-")
    text = files[0].read_text("utf-8")
    front = yaml.safe_load(text.split("---\n")[1])
    assert {k: front[k] for k in ("title", "section", "author", "saved_by", "channel")} == {
        "title": "Rotate the staging DB password",
        "section": "ops",
        "author": "U0AUTHOR",
        "saved_by": "U0SAVER",
        "channel": "#ops",
    }
    assert front["permalink"] == "https://test.slack.com/archives/C0OPS/p1700000000000100"
    assert datetime.fromisoformat(front["saved_at"]).tzinfo is not None
    assert text.rstrip().endswith("Run `vault write -f database/rotate-root/staging-postgres`")
    # The same names on a second export: a repository sees changes, not new files.
    run(["notes", "export", str(out)], env)
    assert sorted(out.iterdir()) == files

    run(["notes", "load", str(out)], env)
    loaded = [json.loads(x) for x in run(["notes", "list", "--json"], env).stdout.splitlines()]
    assert sorted(r["title"] for r in loaded) == [
        "Rotate the staging DB password",
        "Tail pods across namespaces",
    ]
    top = json.loads(run(["ask", "--json", "rotate staging db password"], env).stdout)
    assert "vault write" in top["results"][0]["text"]
