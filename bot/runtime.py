"""The composition root's parts: settings, engine (migrated), sessions and the answerer."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from bot.config import Settings, load_settings
from bot.db.errors import store_errors
from bot.db.session import make_engine, session_factory, upgrade
from bot.knowledge.service import Answerer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


@dataclass
class Runtime:
    """Everything a command or the bot needs, built once at start."""

    settings: Settings
    engine: Engine
    answerer: Answerer = field(default_factory=Answerer)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """ORM sessions on the engine; made on first use, since a cold `ask` on a current
        cached index reads through a bare Connection and never imports the ORM."""
        return session_factory(self.engine)


def open_runtime(settings: Settings | None = None, migrate: bool = True) -> Runtime:
    """Read settings, connect, and apply migrations (idempotent) before anything else runs.

    A database that cannot be reached or written raises StoreUnavailable (one sentence).
    """
    settings = settings or load_settings()
    url = settings.devopsbot_database_url
    with store_errors(url):
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
    return Runtime(settings=settings, engine=engine)
