"""Shared fixtures: real SQLite files, a real PostgreSQL schema, loopback servers."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeSlack, FeedServer

from bot.config import Settings, load_settings
from bot.db.session import make_engine, session_factory, upgrade

SEEDS = Path(__file__).resolve().parent.parent / "bot" / "sample_data"
PG_ENV = "DEVOPSBOT_TEST_POSTGRES_URL"


@pytest.fixture
def seed_notes() -> str:
    """The team's real DevOps notes (bundled copy of the seed)."""
    return (SEEDS / "devops-notes.md").read_text("utf-8")


@pytest.fixture
def seed_feed() -> callable:
    """Bytes of one bundled seed feed by file name."""
    return lambda name: (SEEDS / "feeds" / name).read_bytes()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'devopsbot.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL server, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base and os.environ.get("DEVOPSBOT_REQUIRE_POSTGRES"):
        pytest.fail(f"DEVOPSBOT_REQUIRE_POSTGRES is set but {PG_ENV} is empty")
    if not base:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on the parametrized database."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings for tests that serve feeds on 127.0.0.1 (private URLs allowed)."""
    return load_settings(
        env_file=None,
        devopsbot_database_url=db_url,
        devopsbot_allow_private_urls=True,
        devopsbot_http_timeout=2.0,
    )


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A loopback HTTP server whose feeds the test can change between polls."""
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A local fake of the Slack Web API, reached through SLACK_API_URL."""
    server = FakeSlack().start()
    yield server
    server.stop()
