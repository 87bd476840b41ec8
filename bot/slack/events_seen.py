"""Slack retries an event it thinks we missed: each event id is claimed once, by one replica."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot.db.models import HandledEvent, utcnow
from bot.runtime import Runtime

log = logging.getLogger(__name__)

EVENT_MEMORY = timedelta(days=1)  # Slack retries for minutes; a day is more than enough
_PRUNE_EVERY = 200


class EventClaims:
    """Claims event ids in the database, forgetting those older than EVENT_MEMORY."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._claims = 0
        self._lock = threading.Lock()

    def claim(self, event_id: str | None) -> bool:
        """True the first time any replica sees this event_id; False for a retry already taken."""
        if not event_id:
            return True
        try:
            with self.runtime.sessions.begin() as session:
                session.add(HandledEvent(event_id=event_id[:64]))
        except IntegrityError:
            log.info("event %s already handled; ignoring the retry", event_id)
            return False
        with self._lock:
            self._claims += 1
            prune = self._claims % _PRUNE_EVERY == 1
        if prune:
            self._forget_old()
        return True

    def _forget_old(self) -> None:
        try:
            with self.runtime.sessions.begin() as session:
                cutoff = utcnow() - EVENT_MEMORY
                session.execute(delete(HandledEvent).where(HandledEvent.received_at < cutoff))
        except Exception:
            log.exception("could not prune handled events")
