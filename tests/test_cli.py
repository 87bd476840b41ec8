"""`devopsbot` end to end as a user runs it: a subprocess on a temporary database."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from datetime import datetime
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
    top = json.loads(run(["ask", "--json", "rotate certs"], env).stdout)["results"][0]
    assert "certbot renew" in top["text"]


def test_first_ask_uses_the_sample_data_and_answers_with_stern(env):
    proc = run(["ask", "how do I tail multiple pods"], env)
    assert "stern: nice log viewer/tailer" in proc.stdout
    assert "Kubernetes › Core Tools" in proc.stdout
    assert "sample data" in proc.stderr


def test_ask_json_follows_the_contract(env):
    proc = run(["ask", "--json", "--limit", "2", "how do I tail multiple pods"], env)
    data = json.loads(proc.stdout)
    assert data["question"] == "how do I tail multiple pods"
    assert isinstance(data["answered"], bool)
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
    stdin = "mount a single file into a pod\n\nbest recipe for pancakes\n"
    proc = run(["ask", "-"], env, stdin=stdin)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["question"] for d in lines] == [
        "mount a single file into a pod",
        "best recipe for pancakes",
    ]
    assert [d["answered"] for d in lines] == [True, False]


class AskPipe:
    """`devopsbot ask -` with a pipe that stays open: one question in, wait for its answer."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "ask", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def answer(self, question: str) -> dict:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(question + "\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], 60)
        assert ready, f"no answer to {question!r} while stdin stayed open"
        return json.loads(stdout.readline())

    def close(self) -> int:
        """Close stdin (the end of the questions); the exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(60)


@pytest.fixture
def ask_pipe(env):
    """An `ask -` process on a store whose sample data and cached index are stored."""
    run(["ask", "warm up"], env)
    pipe = AskPipe(env)
    yield pipe
    pipe.proc.kill()


def test_stdin_questions_are_answered_as_their_lines_arrive(ask_pipe):
    """Each answer comes before the next question is sent."""
    questions = ("how do I tail multiple pods", "best recipe for pancakes")
    answers = [ask_pipe.answer(q) for q in questions]
    assert ask_pipe.close() == 0
    assert [a["question"] for a in answers] == list(questions)
    assert "stern" in answers[0]["results"][0]["text"]
    assert answers[1]["answered"] is False


def test_stdin_answers_follow_the_store_when_it_changes_meanwhile(ask_pipe, env, tmp_path):
    """Another process loads notes while the pipe is open: the next question finds them."""
    before = ask_pipe.answer("how do I rotate the vault unseal keys")
    notes = tmp_path / "vault.md"
    notes.write_text("# Vault\n\n## Unseal keys\n\nRotate them: `vault operator rekey`\n")
    run(["notes", "load", str(notes)], env)
    after = ask_pipe.answer("how do I rotate the vault unseal keys")
    assert ask_pipe.close() == 0
    assert all("vault operator rekey" not in r["text"] for r in before["results"])
    assert "vault operator rekey" in after["results"][0]["text"]


def test_an_empty_question_prints_usage(env):
    proc = run(["ask", "  "], env, check=False)
    assert proc.returncode == 2
    assert "Usage:" in proc.stderr


def test_a_ten_thousand_character_question_is_fine(env):
    proc = run(["ask", "kubectl " * 1250], env)
    assert proc.returncode == 0 and proc.stdout.strip()


# What `ask` on a current cached index in a SQLite store has no use for: the Slack app, the feed
# fetcher and parsers, the Markdown chunker, migrations, the scheduler, the HTTP server, and
# SQLAlchemy itself (the store is read through the standard library's sqlite3). Each would add
# to every cold `ask`.
NOT_FOR_ASK = (
    "sqlalchemy",
    "bot.db.models",
    "bot.db.store",
    "slack_bolt",
    "slack_sdk",
    "httpx",
    "feedparser",
    "lxml",
    "markdown_it",
    "alembic",
    "apscheduler",
    "waitress",
    "websocket",
    "bot.feeds",
    "bot.slack",
    "bot.scheduler",
)
NOT_FOR_NAMES = tuple(name + "." for name in NOT_FOR_ASK)
LOADED_AFTER_ASK = (
    "import json, sys\n"
    "from bot.cli import main\n"
    "out_path = sys.argv[1]\n"
    "sys.argv[1:] = ['ask', *sys.argv[2:]]\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    with open(out_path, 'w') as out:\n"
    "        json.dump(sorted(sys.modules), out)\n"
)


def test_ask_on_a_stored_index_imports_only_what_it_needs(env, tmp_path):
    run(["ask", "how do I tail multiple pods"], env)  # the first run stores the sample data
    loaded = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER_ASK, str(loaded), "how do I tail multiple pods"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "stern" in proc.stdout
    modules = json.loads(loaded.read_text())
    assert "onnxruntime" in modules  # the question was encoded: the check saw a real answer
    assert [m for m in modules if m in NOT_FOR_ASK or m.startswith(NOT_FOR_NAMES)] == []


def test_ask_writes_nothing_but_its_store(env, tmp_path):
    """HOME is tmp_path: onnxruntime's telemetry (a record of the machine, kept in
    ~/.cache/Microsoft for upload) stays off, and nothing else lands beside the store."""
    run(["ask", "how do I tail multiple pods"], env)  # loads the sample data, then the model
    run(["ask", "how do I tail multiple pods"], env)  # reads the cached index
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")] == ["devopsbot.db"]


def test_a_store_under_the_home_folder_can_be_written_with_a_tilde(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = _env("sqlite:///~/team/devopsbot.db", home)
    for _ in range(2):  # the first run makes the store, the second reads it
        data = json.loads(run(["ask", "--json", "how do I tail multiple pods"], env).stdout)
        assert data["results"][0]["title"] == "stern"
    assert (home / "team" / "devopsbot.db").is_file()


def test_ask_closes_the_store_on_its_way_out(env, tmp_path):
    """The process skips the collector at exit; the store is closed first all the same, so
    SQLite checkpoints its write-ahead log and leaves no -wal or -shm file beside it."""
    run(["ask", "how do I tail multiple pods"], env)
    run(["ask", "how do I tail multiple pods"], env)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("devopsbot.db")) == [
        "devopsbot.db"
    ]


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
    assert (
        "stern" in json.loads(run(["ask", "--json", "tail pods"], env).stdout)["results"][0]["text"]
    )


def test_a_notes_file_over_the_size_limit_is_named_and_the_rest_loads(env, tmp_path):
    (tmp_path / "ops.md").write_text("- stern: tail many pods\n")
    (tmp_path / "dump.md").write_text("- a generated line\n" * 100)
    proc = run(
        ["notes", "load", str(tmp_path)], {**env, "DEVOPSBOT_MAX_NOTE_BYTES": "1000"}, check=False
    )
    assert proc.returncode == 1
    assert "dump.md: larger than 0.001 MB" in proc.stderr
    assert "DEVOPSBOT_MAX_NOTE_BYTES" in proc.stderr
    assert "loaded 1 files" in proc.stdout
    top = json.loads(run(["ask", "--json", "tail pods"], env).stdout)["results"][0]
    assert "stern" in top["text"]


def test_a_named_pipe_given_as_a_notes_file_is_refused_not_waited_on(env, tmp_path):
    # Reading a FIFO blocks until someone writes to it: `notes load` (and the scheduled sync)
    # would hang for ever. It is named as not a file, and the rest loads.
    (tmp_path / "ops.md").write_text("- stern: tail many pods\n")
    os.mkfifo(tmp_path / "pipe.md")
    proc = run(
        ["notes", "load", str(tmp_path / "pipe.md"), str(tmp_path / "ops.md")], env, check=False
    )
    assert proc.returncode == 1
    assert "pipe.md: not a regular file" in proc.stderr
    assert "loaded 1 files" in proc.stdout


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
        ("/page.html", b"<html><body>blog</body></html>", 200, "advertises no feed"),
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


# -- notes stay in sync (issue 7) ------------------------------------------------------------


def _texts(proc) -> list[str]:
    return [r["text"] for r in json.loads(proc.stdout)["results"]]


def _team_notes(root: Path) -> Path:
    (root / "k8s").mkdir(parents=True)
    (root / "certs.md").write_text("# Certs\n\n- rotate certs: `certbot renew --force-renewal`\n")
    (root / "k8s" / "drain.md").write_text(
        "# Nodes\n\n- drain a node: `kubectl drain NODE --ignore-daemonsets`\n"
    )
    return root


def _notes_sync_cycle(env, tmp_path):
    notes = _team_notes(tmp_path / "notes")
    out = run(["notes", "load", str(notes)], env).stdout
    assert "loaded 2 files (2 chunks), 0 unchanged, 0 removed" in out
    assert any("kubectl drain" in t for t in _texts(run(["ask", "--json", "drain a node"], env)))
    # Unchanged files are skipped, not re-chunked.
    out = run(["notes", "load", str(notes)], env).stdout
    assert out.strip() == "loaded 0 files (0 chunks), 2 unchanged, 0 removed"
    (notes / "k8s" / "drain.md").unlink()
    out = run(["notes", "load", str(notes)], env).stdout
    assert f"{(notes / 'k8s' / 'drain.md').resolve()}: removed" in out
    assert "loaded 0 files (0 chunks), 1 unchanged, 1 removed" in out
    proc = run(["ask", "--json", "how do I drain a node"], env)
    assert not any("kubectl drain" in t for t in _texts(proc))
    assert any("certbot" in t for t in _texts(run(["ask", "--json", "rotate certs"], env)))


def test_notes_load_skips_unchanged_files_and_drops_deleted_ones(env, tmp_path):
    _notes_sync_cycle(env, tmp_path)


def test_notes_load_syncs_the_same_on_postgresql(postgres_url, tmp_path):
    _notes_sync_cycle(_env(postgres_url, tmp_path), tmp_path)


def test_a_file_named_explicitly_never_removes_its_neighbours(env, tmp_path):
    notes = _team_notes(tmp_path / "notes")
    run(["notes", "load", str(notes)], env)
    (notes / "k8s" / "drain.md").unlink()
    out = run(["notes", "load", str(notes / "certs.md")], env).stdout
    assert "0 removed" in out
    assert any("kubectl drain" in t for t in _texts(run(["ask", "--json", "drain a node"], env)))


def test_notes_list_shows_sources_chunks_and_load_time(env, tmp_path):
    notes = _team_notes(tmp_path / "notes")
    assert "No notes yet" in run(["notes", "list"], env).stdout
    run(["notes", "load", str(notes)], env)
    lines = run(["notes", "list"], env).stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "CHUNKS", "LOADED", "AT"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [str((notes / "certs.md").resolve()), "1"],
        [str((notes / "k8s" / "drain.md").resolve()), "1"],
    ]
    rows = [json.loads(line) for line in run(["notes", "list", "--json"], env).stdout.splitlines()]
    assert [set(r) for r in rows] == [{"source", "title", "chunks", "loaded_at"}] * 2
    assert rows[0]["source"] == str((notes / "certs.md").resolve()) and rows[0]["chunks"] == 1
    assert datetime.fromisoformat(rows[0]["loaded_at"]).tzinfo is not None


def test_notes_remove_takes_a_file_or_a_folder_gone_from_disk(env, tmp_path):
    notes = _team_notes(tmp_path / "notes")
    (notes / "k8s" / "pods.md").write_text("# Pods\n\n- tail pods: `stern app`\n")
    run(["notes", "load", str(notes)], env)
    shutil.rmtree(notes / "k8s")
    out = run(["notes", "remove", str(notes / "k8s")], env).stdout
    assert "Removed the notes of 2 files." in out
    assert not any("kubectl drain" in t for t in _texts(run(["ask", "--json", "drain"], env)))
    run(["notes", "remove", str(notes / "certs.md")], env)
    assert "No notes yet" in run(["notes", "list"], env).stdout


def test_notes_remove_of_an_unknown_path_fails_and_removes_nothing(env, tmp_path):
    notes = _team_notes(tmp_path / "notes")
    run(["notes", "load", str(notes)], env)
    proc = run(
        ["notes", "remove", str(notes / "certs.md"), str(tmp_path / "elsewhere")], env, check=False
    )
    assert proc.returncode == 1
    assert f"no notes loaded from {tmp_path / 'elsewhere'}" in proc.stderr
    assert len(run(["notes", "list", "--json"], env).stdout.splitlines()) == 2


def test_notes_load_computes_the_embeddings_when_it_stores_the_chunks(env, tmp_path):
    notes = tmp_path / "ops.md"
    notes.write_text("# Ops\n\n- rotate certs: `certbot renew`\n- drain a node: `kubectl drain`\n")
    out = run(["notes", "load", str(notes)], env).stdout
    assert "computed 2 embeddings" in out
    again = run(["notes", "load", str(notes)], env).stdout  # unchanged: nothing to encode
    assert "computed" not in again and "1 unchanged" in again
    top = json.loads(run(["ask", "--json", "renew tls certificates"], env).stdout)["results"][0]
    assert "certbot renew" in top["text"]


def _on_a_terminal(args, env):
    """Run the CLI with stderr on a pseudo-terminal (as a person at a shell sees it)."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    stdout = proc.communicate(timeout=120)[0].decode()
    os.close(leader)
    return proc.returncode, stdout, seen.decode(errors="replace")


def test_notes_load_shows_progress_on_a_terminal_and_none_when_piped(env, tmp_path):
    folder = tmp_path / "runbooks"
    folder.mkdir()
    for i in range(3):
        (folder / f"r{i}.md").write_text(
            f"# Runbook {i}\n\n- restart service {i}: `systemctl restart s{i}`\n"
        )
    code, stdout, terminal = _on_a_terminal(["notes", "load", str(folder)], env)
    assert code == 0 and "loaded 3 files" in stdout
    assert "notes" in terminal and "3/3" in terminal  # the bar, with its position
    (folder / "r0.md").write_text("# Runbook 0\n\n- changed: `true`\n")
    piped = run(["notes", "load", str(folder)], env)
    assert "/3" not in piped.stderr and "loaded 1 files" in piped.stdout
