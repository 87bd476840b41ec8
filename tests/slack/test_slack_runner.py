"""`devopsbot run` as a real process: HTTP mode, /healthz, an answer, and a clean SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from click.testing import CliRunner
from slack_harness import BOT_TOKEN, SIGNING_SECRET, SlackClientSim, block_texts, wait_for

from bot.cli import cli
from bot.slack.app import create_app
from bot.slack.runner import HttpServer, health_check, make_wsgi


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bot_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEVOPSBOT_"))}
    env.update(extra)
    return env


def test_run_serves_slack_and_health_then_stops_cleanly_on_sigterm(
    tmp_path, fake_slack, sample_db_url
):
    port = free_port()
    env = bot_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        DEVOPSBOT_DATABASE_URL=sample_db_url,
        DEVOPSBOT_HOST="127.0.0.1",
        DEVOPSBOT_PORT=str(port),
        DEVOPSBOT_LOG_LEVEL="DEBUG",  # the noisiest level must still hide the secrets
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return httpx.get(base + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None  # stop waiting if it died

        wait_for(healthy, timeout=20)
        assert proc.poll() is None
        health = httpx.get(base + "/healthz").json()
        assert health == {"ok": True, "database": "ok", "scheduler": "running", "mode": "http"}

        sim = SlackClientSim(base, fake_slack)
        assert sim.command("how do I tail multiple pods", response="run1").status_code == 200
        [answer] = sim.wait_response("run1")
        assert "stern" in block_texts(answer)
        sim.close()

        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "shutting down" in output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output


def test_run_without_a_bot_token_says_what_to_set(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("SLACK_", "DEVOPSBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 1
    assert "SLACK_BOT_TOKEN is not set" in result.output
    assert "OAuth & Permissions" in result.output


def test_socket_mode_opens_its_connection_through_slack_api_url(slack_runtime, fake_slack):
    from bot.slack.socket_mode import socket_mode_handler

    fake_slack.handlers["apps.connections.open"] = lambda args: {
        "ok": True,
        "url": "wss://socket.invalid/link",
    }
    app = create_app(slack_runtime, socket_mode=True)
    handler, _ = socket_mode_handler(app, "xapp-1-A111-test")
    assert handler.client.issue_new_wss_url() == "wss://socket.invalid/link"
    [call] = [c for c in fake_slack.calls if c.method == "apps.connections.open"]
    assert call.headers["Authorization"] == "Bearer xapp-1-A111-test"


def test_socket_mode_serves_only_health(slack_runtime):
    health = health_check(slack_runtime.engine, lambda: False, "socket", lambda: True)
    server = HttpServer(make_wsgi(None, health), "127.0.0.1", 0).start()
    try:
        response = httpx.get(server.url + "/healthz")
        assert response.status_code == 503  # the scheduler is not running
        assert response.json()["scheduler"] == "stopped"
        assert response.json()["socket_mode_connected"] is True
        assert httpx.post(server.url + "/slack/events", content=b"{}").status_code == 404
    finally:
        server.stop()


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_events_path_only_takes_posts(slack_sim, method):
    response = httpx.request(method, slack_sim.url)
    assert response.status_code == 404


def test_run_in_socket_mode_with_a_rejected_app_token_says_where_to_get_one(
    tmp_path, monkeypatch, fake_slack, sample_db_url
):
    for name in list(os.environ):
        if name.startswith(("SLACK_", "DEVOPSBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    fake_slack.queue("apps.connections.open", {"ok": False, "error": "invalid_auth"})
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": "xapp-1-revoked",
        "SLACK_API_URL": fake_slack.api_url,
        "DEVOPSBOT_DATABASE_URL": sample_db_url,
        "DEVOPSBOT_HOST": "127.0.0.1",
        "DEVOPSBOT_PORT": str(free_port()),
    }
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 1, result.output
    assert "Slack rejected SLACK_APP_TOKEN (invalid_auth)" in result.output
    assert "App-Level Tokens" in result.output
    assert "xapp-1-revoked" not in result.output


def test_run_on_a_port_in_use_says_so_in_one_sentence(tmp_path, fake_slack, sample_db_url):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = bot_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake_slack.api_url,
            DEVOPSBOT_DATABASE_URL=sample_db_url,
            DEVOPSBOT_HOST="127.0.0.1",
            DEVOPSBOT_PORT=str(port),
        )
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error: cannot listen on 127.0.0.1:{port}: the port is already")
    assert "DEVOPSBOT_PORT or --port" in lines[0]
