"""Fixtures for the Slack app: a runtime on SQLite with the sample data, the app on loopback."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from slack_harness import BOT_TOKEN, SIGNING_SECRET, SlackClientSim, wait_for

from bot.config import Settings, load_settings
from bot.runtime import Runtime, open_runtime
from bot.slack.app import create_app
from bot.slack.runner import HttpServer, health_check, make_wsgi, prepare_store
from bot.slack.services import SlackServices


def make_settings(db_url: str, api_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "devopsbot_database_url": db_url,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": api_url,
        "devopsbot_allow_private_urls": True,
        "devopsbot_http_timeout": 2.0,
    }
    values.update(overrides)
    return load_settings(env_file=None, **values)


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> Path:
    """A migrated SQLite file holding the sample data, built once (loading it takes ~0.7 s)."""
    path = tmp_path_factory.mktemp("template") / "sample.db"
    runtime = open_runtime(make_settings(f"sqlite:///{path}", "http://127.0.0.1:9/api/"))
    prepare_store(runtime)
    # The index refresh it starts holds a connection; let it finish before the file is copied.
    wait_for(lambda: not runtime.answerer.refreshing(), timeout=60)
    runtime.engine.dispose()
    return path


@pytest.fixture
def sample_db_url(tmp_path, sample_db) -> str:
    """A private copy of the sample database for one test."""
    path = tmp_path / "slack.db"
    # SQLite's backup API, not a file copy: rows still in the -wal file come along.
    with closing(sqlite3.connect(sample_db)) as src, closing(sqlite3.connect(path)) as dst:
        src.backup(dst)
    return f"sqlite:///{path}"


@pytest.fixture
def slack_settings(sample_db_url, fake_slack) -> Settings:
    """Settings pointing at the fake Slack; everyone may manage feeds."""
    return make_settings(sample_db_url, fake_slack.api_url)


@pytest.fixture
def slack_runtime(slack_settings) -> Iterator[Runtime]:
    """A migrated runtime holding the bundled sample notes and feeds."""
    runtime = open_runtime(slack_settings)
    prepare_store(runtime)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def replicas(db_url, fake_slack) -> Iterator[list[SlackServices]]:
    """Two services on separate engines over one database, like two running replicas."""
    runtimes = [open_runtime(make_settings(db_url, fake_slack.api_url)) for _ in range(2)]
    yield [SlackServices(rt) for rt in runtimes]
    for rt in runtimes:
        rt.engine.dispose()


def serve_app(runtime: Runtime) -> HttpServer:
    app = create_app(runtime)
    health = health_check(runtime.engine, lambda: True, "http")
    return HttpServer(make_wsgi(app, health), "127.0.0.1", 0).start()


@pytest.fixture
def slack_sim(slack_runtime, fake_slack) -> Iterator[SlackClientSim]:
    """The app in HTTP mode on a loopback port (waitress), and a signed-request client for it."""
    server = serve_app(slack_runtime)
    sim = SlackClientSim(server.url, fake_slack)
    yield sim
    sim.close()
    server.stop()


@pytest.fixture
def admin_sim(sample_db_url, fake_slack) -> Iterator[tuple[SlackClientSim, Runtime]]:
    """The app in HTTP mode with DEVOPSBOT_ADMINS=UADMIN, its runtime, and a signed client."""
    runtime = open_runtime(
        make_settings(sample_db_url, fake_slack.api_url, devopsbot_admins="UADMIN")
    )
    prepare_store(runtime)
    server = serve_app(runtime)
    sim = SlackClientSim(server.url, fake_slack)
    yield sim, runtime
    sim.close()
    server.stop()
    runtime.engine.dispose()
