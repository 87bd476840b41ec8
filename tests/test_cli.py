"""`devopsbot` end to end as a user runs it: a subprocess on a temporary database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent.parent / "bot" / "sample_data"


def run(args, env, stdin=None, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _env(db_url, home):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEVOPSBOT_", "SLACK_"))}
    clean.update(DEVOPSBOT_DATABASE_URL=db_url, HOME=str(home))
    return clean


@pytest.fixture
def env(sqlite_url, tmp_path):
    """A clean environment whose database is a fresh SQLite file."""
    return _env(sqlite_url, tmp_path)


def test_ask_works_the_same_on_postgresql(postgres_url, tmp_path):
    env = _env(postgres_url, tmp_path)
    data = json.loads(run(["ask", "--json", "how do I tail multiple pods"], env).stdout)
    assert data["results"][0]["title"] == "stern"
    notes = tmp_path / "n.md"
    notes.write_text("# Certs\n\n- rotate: `certbot renew`\n")
    run(["notes", "load", str(notes)], env)
    assert json.loads(run(["ask", "--json", "rotate certs"], env).stdout)["answered"]


def test_first_ask_uses_the_sample_data_and_answers_with_stern(env):
    proc = run(["ask", "how do I tail multiple pods"], env)
    assert "stern: nice log viewer/tailer" in proc.stdout
    assert "Kubernetes › Core Tools" in proc.stdout
    assert "sample data" in proc.stderr


def test_ask_json_follows_the_contract(env):
    proc = run(["ask", "--json", "--limit", "2", "how do I tail multiple pods"], env)
    data = json.loads(proc.stdout)
    assert data["question"] == "how do I tail multiple pods"
    assert data["answered"] is True
    assert len(data["results"]) == 2
    top = data["results"][0]
    assert set(top) == {"kind", "title", "section", "text", "url", "source", "score"}
    assert (top["kind"], top["title"], top["section"], top["source"]) == (
        "note",
        "stern",
        "Kubernetes › Core Tools",
        "devops-notes.md",
    )
    assert 0 < top["score"] <= 1


def test_articles_carry_their_absolute_url(env):
    data = json.loads(run(["ask", "--json", "switch blog comments to giscus"], env).stdout)
    top = data["results"][0]
    assert top["kind"] == "article"
    assert top["title"] == "Moving from utterances to giscus"
    assert top["url"] == "https://shipit.dev/posts/from-utterances-to-giscus.html"


def test_stdin_gives_json_lines_and_an_honest_no(env):
    proc = run(["ask", "-"], env, stdin="kafka broker\n\nbest recipe for pancakes\n")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["question"] for d in lines] == ["kafka broker", "best recipe for pancakes"]
    assert [d["answered"] for d in lines] == [True, False]


def test_an_empty_question_prints_usage(env):
    proc = run(["ask", "  "], env, check=False)
    assert proc.returncode == 2
    assert "Usage:" in proc.stderr


def test_a_ten_thousand_character_question_is_fine(env):
    proc = run(["ask", "kubectl " * 1250], env)
    assert proc.returncode == 0 and proc.stdout.strip()


def test_sample_data_can_be_turned_off(env):
    env["DEVOPSBOT_SAMPLE_DATA"] = "false"
    proc = run(["ask", "how do I tail multiple pods"], env)
    assert "store is empty" in proc.stderr
    assert "I don't know" in proc.stdout


def test_notes_load_replaces_sample_data_and_reload_replaces_chunks(env, tmp_path):
    notes = tmp_path / "team.md"
    notes.write_text("# Runbooks\n\n- rotate certs: `certbot renew --force-renewal`\n")
    out = run(["notes", "load", str(notes)], env).stdout
    assert "1 chunks" in out
    data = json.loads(run(["ask", "--json", "how do I rotate certs"], env).stdout)
    assert data["results"][0]["section"] == "Runbooks"
    assert data["results"][0]["source"] == "team.md"
    # The sample data made way for the team's own notes.
    assert not json.loads(run(["ask", "--json", "stern"], env).stdout)["answered"]
    notes.write_text("# Runbooks\n\n- drain a node: `kubectl drain NODE`\n")
    run(["notes", "load", str(tmp_path)], env)
    assert not json.loads(run(["ask", "--json", "rotate certs"], env).stdout)["answered"]


def test_a_non_utf8_file_is_named_and_stored_chunks_stay(env, tmp_path):
    good = tmp_path / "ops.md"
    good.write_text("- stern: tail many pods\n")
    run(["notes", "load", str(good)], env)
    good.write_bytes(b"- caf\xe9: latin-1 bytes\n")
    proc = run(["notes", "load", str(good)], env, check=False)
    assert proc.returncode == 1
    assert "ops.md" in proc.stderr and "UTF-8" in proc.stderr
    assert json.loads(run(["ask", "--json", "tail pods"], env).stdout)["answered"]


def test_a_missing_path_is_a_clear_error(env, tmp_path):
    proc = run(["notes", "load", str(tmp_path / "nope.md")], env, check=False)
    assert proc.returncode == 1
    assert "no such file or folder" in proc.stderr


def test_a_bad_setting_names_the_variable(env):
    env["DEVOPSBOT_HTTP_TIMEOUT"] = "soon"
    proc = run(["ask", "kafka"], env, check=False)
    assert proc.returncode == 1
    assert "DEVOPSBOT_HTTP_TIMEOUT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_db_upgrade_is_idempotent(env):
    run(["db", "upgrade"], env)
    assert "latest schema" in run(["db", "upgrade"], env).stdout


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("analogous-dev.rss.xml", 8),
        ("shipit-dev.atom.xml", 24),
        ("e13-dev.rss.xml", 10),
        ("dev-to-maelvls.rss.xml", 12),
    ],
)
def test_feeds_add_over_http_indexes_each_seed_feed(env, feed_server, name, count):
    url = feed_server.serve(f"/{name}", (SEEDS / "feeds" / name).read_bytes())
    env["DEVOPSBOT_ALLOW_PRIVATE_URLS"] = "true"
    out = run(["feeds", "add", url], env).stdout
    assert f"{count} articles" in out
    # Polling again stores nothing twice.
    poll = run(["poll", "--once"], env, check=False)
    assert "0 new" in poll.stdout or "No feed is due" in poll.stdout


def test_analogous_links_come_out_absolute(env, feed_server):
    url = feed_server.serve("/a.xml", (SEEDS / "feeds" / "analogous-dev.rss.xml").read_bytes())
    env["DEVOPSBOT_ALLOW_PRIVATE_URLS"] = "true"
    run(["feeds", "add", url], env)
    data = json.loads(run(["ask", "--json", "analogies help us learn"], env).stdout)
    assert data["results"][0]["url"] == "https://www.analogous.dev/blog/analogies-help-us-learn"


def test_a_private_feed_url_is_refused_by_default(env, feed_server):
    url = feed_server.serve("/f.xml", (SEEDS / "feeds" / "e13-dev.rss.xml").read_bytes())
    proc = run(["feeds", "add", url], env, check=False)
    assert proc.returncode == 1
    assert "DEVOPSBOT_ALLOW_PRIVATE_URLS" in proc.stderr
    assert feed_server.requests == []


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/page.html", b"<html><body>blog</body></html>", 200, "HTML page"),
        ("/missing.xml", None, 404, "404"),
    ],
)
def test_what_is_not_a_feed_stores_nothing(env, feed_server, path, body, status, message):
    url = feed_server.url(path)
    if body is not None:
        feed_server.serve(path, body, status=status)
    env["DEVOPSBOT_ALLOW_PRIVATE_URLS"] = "true"
    env["DEVOPSBOT_SAMPLE_DATA"] = "false"
    proc = run(["feeds", "add", url], env, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "store is empty" in run(["ask", "anything at all"], env).stderr


def test_a_slow_feed_times_out_with_a_message(env, feed_server):
    url = feed_server.serve("/slow.xml", b"<rss/>", delay=3)
    env.update(DEVOPSBOT_ALLOW_PRIVATE_URLS="true", DEVOPSBOT_HTTP_TIMEOUT="0.5")
    proc = run(["feeds", "add", url], env, check=False)
    assert proc.returncode == 1
    assert "timed out" in proc.stderr
