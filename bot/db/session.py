"""Engine creation, migrations on start, and the session factory used at the edges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from bot.db.errors import check_sqlite_writable, driver_missing, sqlite_path
from bot.db.schema_version import MIGRATIONS_DIR, VERSION_SQL, head_revision

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets its parent folder, foreign keys, WAL and a busy timeout.

    Raises StoreUnavailable when the SQLite file or folder cannot be written, or the driver
    of a PostgreSQL URL is not installed.
    """
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        target: str | URL = url
        if path is not None:
            check_sqlite_writable(path)
            # The file just checked (`~` expanded: sqlite3 would take it literally).
            target = make_url(url).set(database=str(path))
        engine = create_engine(target, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except ImportError as exc:  # SQLAlchemy imports the driver here
        raise driver_missing(url) from exc


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at our bundled migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser treats % as interpolation; URLs carry %-escapes (search_path options).
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["engine"] = engine
    return cfg


def schema_is_current(engine: Engine) -> bool:
    """True when the database is already at the newest migration (no Alembic import needed)."""
    try:
        with engine.connect() as conn:
            version = conn.execute(text(VERSION_SQL)).scalar()
    except SQLAlchemyError:
        return False
    return version == head_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent; safe to call on every start)."""
    if revision == "head" and schema_is_current(engine):
        return  # Alembic costs ~0.2 s to import: a CLI call on a current store skips it
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions are opened by callers at the edges and passed down."""
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine, expire_on_commit=False)
