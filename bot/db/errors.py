"""Database failures as one sentence that says what is wrong and what to do about it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

SETTING = "DEVOPSBOT_DATABASE_URL"
POSTGRES_EXTRA = "pip install 'devopsbot[postgres]'"
_NO_DATABASE = re.compile(r'database "([^"]+)" does not exist')
_NO_ROLE = re.compile(r'role "([^"]+)" does not exist')


class StoreUnavailable(Exception):
    """The database cannot be opened or written; the message is one sentence for the user."""


def _url(url: str | URL) -> URL | None:
    try:
        return make_url(url)
    except ArgumentError:
        return None


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = _url(url)
    if parsed is None or not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def _where(parsed: URL) -> str:
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


def driver_missing(url: str | URL) -> StoreUnavailable:
    """The driver for a PostgreSQL URL could not be imported."""
    parsed = _url(url)
    driver = parsed.get_driver_name() if parsed is not None else "psycopg"
    # The extra installs psycopg 3, which plain postgresql:// URLs use (see bot.config).
    fix = f"install it with {POSTGRES_EXTRA}"
    if driver != "psycopg":
        fix = f"install psycopg with {POSTGRES_EXTRA} and write the URL as postgresql://…"
    return StoreUnavailable(
        f"{SETTING} is a PostgreSQL URL but the PostgreSQL driver ({driver}) is not installed: "
        f"{fix}, or use a sqlite:/// URL."
    )


def check_sqlite_writable(path: Path) -> None:
    """Raise StoreUnavailable unless the SQLite file (and its folder, for the WAL and journal
    files SQLite creates beside it) can be written, creating the folder when it is missing."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot create the folder {folder} for the SQLite database ({exc.strerror}): "
            f"create it with write access for this user, or point {SETTING} elsewhere."
        ) from exc
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreUnavailable(
            f"the SQLite database {path} is read-only for this user: make it writable "
            f"(chmod u+rw), or point {SETTING} at a writable file."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreUnavailable(
            f"the folder {folder} of the SQLite database is not writable (SQLite keeps its "
            f"journal files beside the database): make it writable, or point {SETTING} elsewhere."
        )


@contextmanager
def store_errors(url: str | URL | None) -> Iterator[None]:
    """Turn a failure to reach or write the database into StoreUnavailable (one sentence)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        message = explain(exc, url)
        if message is None:
            raise
        raise StoreUnavailable(message) from exc


def _first_line(text: str) -> str:
    text = text.removeprefix("connection failed: ")
    return text.strip().splitlines()[0].strip() if text.strip() else "no details"


def explain(exc: BaseException, url: str | URL | None = None) -> str | None:
    """One sentence for a failure to reach or write the database, or None for other errors
    (programming errors keep their traceback)."""
    if isinstance(exc, StoreUnavailable):
        return str(exc)
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    detail = _first_line(str(exc.orig) if exc.orig is not None else str(exc))
    parsed = _url(url) if url is not None else None
    if parsed is not None and parsed.drivername.startswith("postgresql"):
        return _explain_postgres(detail, parsed)
    path = sqlite_path(url) if url is not None else None
    lowered = detail.lower()
    if "readonly" in lowered or "read-only" in lowered:
        where = f" {path}" if path else ""
        return (
            f"the SQLite database{where} is read-only ({detail}): make it and its folder "
            f"writable, or point {SETTING} at a writable file."
        )
    if "unable to open database file" in lowered:
        where = f" {path}" if path else ""
        return (
            f"cannot open the SQLite database{where} ({detail}): make sure its folder exists "
            f"and is writable, or point {SETTING} elsewhere."
        )
    if "locked" in lowered:
        return (
            f"the SQLite database is locked by another process ({detail}): wait for it to "
            "finish (or stop it) and try again."
        )
    return f"the database failed ({detail}): check {SETTING} and that the database is reachable."


def _explain_postgres(detail: str, url: URL) -> str:
    where = _where(url)
    if match := _NO_DATABASE.search(detail):
        name = match.group(1)
        return (
            f'PostgreSQL at {where} has no database "{name}": create it (createdb {name}) or '
            f"fix the database name in {SETTING}."
        )
    if (match := _NO_ROLE.search(detail)) or "authentication failed" in detail:
        user = match.group(1) if match else url.username
        return (
            f'PostgreSQL at {where} refused user "{user}" ({_after_failed(detail)}): check the '
            f"user and password in {SETTING}."
        )
    reason = _after_failed(detail)
    return (
        f"cannot connect to PostgreSQL at {where} ({reason}): make sure the server is running "
        f"and reachable, and that {SETTING} names the right host and port."
    )


def _after_failed(detail: str) -> str:
    """psycopg's 'connection to server at "h", port p failed: REASON' → REASON."""
    reason = detail.split(" failed: ", 1)[-1].strip()
    return reason.removeprefix("FATAL:").strip() or detail
