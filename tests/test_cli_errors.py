"""A database that cannot be reached or written stops every command with one sentence saying
what to do and a non-zero exit, never a traceback (those only with DEVOPSBOT_LOG_LEVEL=DEBUG).

Each case runs the real CLI in a subprocess against the real failure: a closed port, the real
PostgreSQL server asked for a database it lacks, files and folders without write permission.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from bot.cli import cli

BOT_TOKEN = "xoxb-0000-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BLOCK_PSYCOPG = "import sys; sys.modules['psycopg'] = None; from bot.cli import main; main()"

# Every command that opens the store; `run` in HTTP mode opens it before calling Slack.
COMMANDS = [
    pytest.param(["ask", "how do I tail multiple pods"], id="ask"),
    pytest.param(["notes", "list"], id="notes-list"),
    pytest.param(["notes", "load", "{notes}"], id="notes-load"),
    pytest.param(["feeds", "list"], id="feeds-list"),
    pytest.param(["feeds", "export"], id="feeds-export"),
    pytest.param(["poll", "--once"], id="poll"),
    pytest.param(["db", "upgrade"], id="db-upgrade"),
    pytest.param(["run", "--host", "127.0.0.1", "--port", "0"], id="run"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def devopsbot(
    args: list[str],
    db_url: str,
    tmp_path: Path,
    *,
    code: str | None = None,
    preexec_fn: Callable[[], None] | None = None,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """`devopsbot ARGS` in a subprocess with a clean environment (`code`: run it via -c)."""
    notes = tmp_path / "notes.md"
    notes.write_text("# Ops\n\n- drain a node: `kubectl drain NODE`\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVOPSBOT_", "SLACK_"))}
    env.update(
        HOME=str(tmp_path),
        DEVOPSBOT_DATABASE_URL=db_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",  # the store fails first
        **extra,
    )
    entry = ["-c", code] if code else ["-m", "bot.cli"]
    return subprocess.run(
        [sys.executable, *entry, *(a.format(notes=notes) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        preexec_fn=preexec_fn,
    )


def in_process(args: list[str], db_url: str, tmp_path: Path, monkeypatch) -> Result:
    """`devopsbot ARGS` through click's CliRunner (same environment as `devopsbot`)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    notes = tmp_path / "notes.md"
    notes.write_text("# Ops\n\n- drain a node: `kubectl drain NODE`\n")
    env: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("DEVOPSBOT_", "SLACK_"))
    }
    env.update(
        HOME=str(tmp_path),
        DEVOPSBOT_DATABASE_URL=db_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
    )
    return CliRunner().invoke(cli, [a.format(notes=notes) for a in args], env=env)


def one_sentence(proc: subprocess.CompletedProcess[str] | Result) -> str:
    """The single line on stderr of a command that failed cleanly."""
    code = proc.returncode if isinstance(proc, subprocess.CompletedProcess) else proc.exit_code
    assert code == 1, (code, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    if isinstance(proc, Result):
        assert proc.exception is None or isinstance(proc.exception, SystemExit)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", COMMANDS)
def test_an_unreachable_postgresql_server_is_one_sentence(tmp_path, monkeypatch, args):
    port = free_port()  # nothing listens there
    result = in_process(args, f"postgresql://postgres@127.0.0.1:{port}/test", tmp_path, monkeypatch)
    line = one_sentence(result)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in line
    assert "Connection refused" in line and "DEVOPSBOT_DATABASE_URL" in line


def test_the_installed_command_says_the_same(tmp_path):
    port = free_port()
    proc = devopsbot(["ask", "x"], f"postgresql://postgres@127.0.0.1:{port}/test", tmp_path)
    line = one_sentence(proc)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in line
    assert "Connection refused" in line and "DEVOPSBOT_DATABASE_URL" in line


@pytest.mark.parametrize("args", [COMMANDS[0], COMMANDS[5], COMMANDS[6], COMMANDS[7]])
def test_a_missing_postgresql_database_names_it(tmp_path, postgres_url, args):
    name = f"devopsbot_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    line = one_sentence(devopsbot(args, url, tmp_path))
    assert f'has no database "{name}"' in line and f"createdb {name}" in line


@pytest.mark.parametrize("args", [COMMANDS[0], COMMANDS[3], COMMANDS[6], COMMANDS[7]])
def test_a_postgresql_url_without_the_driver_names_the_extra(tmp_path, args):
    # psycopg cannot be uninstalled from the test environment: the child process is made to
    # fail importing it, exactly where SQLAlchemy loads the driver.
    proc = devopsbot(args, "postgresql://postgres@127.0.0.1/test", tmp_path, code=BLOCK_PSYCOPG)
    line = one_sentence(proc)
    assert "PostgreSQL driver (psycopg) is not installed" in line
    assert "pip install 'devopsbot[postgres]'" in line


def test_debug_logging_shows_the_traceback_too(tmp_path):
    port = free_port()
    proc = devopsbot(
        ["ask", "x"],
        f"postgresql://postgres@127.0.0.1:{port}/test",
        tmp_path,
        DEVOPSBOT_LOG_LEVEL="DEBUG",
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "OperationalError" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("Error: cannot connect to PostgreSQL")


# -- SQLite ----------------------------------------------------------------------------------


def _drop_root_override() -> None:
    """In the child: lose CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so even root obeys file
    permissions (prctl PR_CAPBSET_DROP before exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def unprivileged(tmp_path) -> Callable[[], None] | None:
    """A preexec_fn under which file permissions hold (None when not root); skips if unable."""
    if os.geteuid() != 0:
        return None
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        check = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}, 'a')"],
            preexec_fn=_drop_root_override,
            capture_output=True,
        )
    except (OSError, subprocess.SubprocessError):
        check = None
    if check is None or check.returncode == 0:
        pytest.skip("cannot make root obey file permissions here")
    return _drop_root_override


@pytest.fixture
def stored(tmp_path) -> Path:
    """A migrated SQLite store in its own folder."""
    path = tmp_path / "data" / "devopsbot.db"
    proc = devopsbot(["db", "upgrade"], f"sqlite:///{path}", tmp_path)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.mark.parametrize("args", [COMMANDS[0], COMMANDS[2], COMMANDS[7]])
def test_a_read_only_sqlite_file_is_one_sentence(tmp_path, stored, unprivileged, args):
    stored.chmod(0o444)
    try:
        proc = devopsbot(args, f"sqlite:///{stored}", tmp_path, preexec_fn=unprivileged)
    finally:
        stored.chmod(0o644)
    line = one_sentence(proc)
    assert f"the SQLite database {stored} is read-only" in line


@pytest.mark.parametrize("args", [COMMANDS[0], COMMANDS[6]])
def test_a_read_only_sqlite_folder_is_one_sentence(tmp_path, stored, unprivileged, args):
    stored.parent.chmod(0o555)
    try:
        proc = devopsbot(args, f"sqlite:///{stored}", tmp_path, preexec_fn=unprivileged)
    finally:
        stored.parent.chmod(0o755)
    assert f"the folder {stored.parent} of the SQLite database is not writable" in one_sentence(
        proc
    )


def test_a_sqlite_folder_that_cannot_be_created_is_one_sentence(tmp_path, unprivileged):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    path = parent / "sub" / "devopsbot.db"
    try:
        proc = devopsbot(["ask", "x"], f"sqlite:///{path}", tmp_path, preexec_fn=unprivileged)
    finally:
        parent.chmod(0o755)
    line = one_sentence(proc)
    assert f"cannot create the folder {path.parent}" in line and "Permission denied" in line


def test_a_sqlite_path_through_a_file_is_one_sentence(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = devopsbot(["db", "upgrade"], f"sqlite:///{blocker / 'devopsbot.db'}", tmp_path)
    assert f"cannot create the folder {blocker}" in one_sentence(proc)


def test_a_missing_sqlite_folder_is_created(tmp_path):
    path = tmp_path / "new" / "deeper" / "devopsbot.db"
    proc = devopsbot(["db", "upgrade"], f"sqlite:///{path}", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert path.exists()
