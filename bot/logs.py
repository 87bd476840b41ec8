"""Logging set-up for the command line and the bot."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """Plain, single-line logs; secrets never reach them because we never log settings."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # Alembic announces every migration step at INFO; that is noise for a CLI user.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # markdown-it logs every block rule it tries at DEBUG: tens of thousands of lines per notes
    # file, which drown the bot's own debug output.
    logging.getLogger("markdown_it").setLevel(logging.INFO)
    # APScheduler logs "Running job" and "executed successfully" every tick at INFO; the bot's
    # own tick logs what happened when something did.
    if logging.getLevelName(level) != logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
