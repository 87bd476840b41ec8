"""Answering: keep the in-memory index in step with the store, then rank."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from bot.db.store import indexed_chunks, source_revisions
from bot.knowledge.index import KnowledgeIndex, SearchResult


class Answerer:
    """Owns one KnowledgeIndex; re-indexes only the sources whose revision moved."""

    def __init__(self, index: KnowledgeIndex | None = None) -> None:
        self.index = index or KnowledgeIndex()
        self._sync_lock = threading.Lock()

    def sync(self, session: Session) -> int:
        """Bring the index up to date with the store; returns how many sources were re-read."""
        with self._sync_lock:
            wanted = source_revisions(session)
            have = self.index.revisions()
            changed = [sid for sid, rev in wanted.items() if have.get(sid) != rev]
            for sid in changed:
                self.index.replace_source(sid, wanted[sid], indexed_chunks(session, sid))
            for sid in have.keys() - wanted.keys():
                self.index.remove_source(sid)
            return len(changed)

    def ask(self, session: Session, question: str, limit: int = 3) -> SearchResult:
        """Answer one question from the current store."""
        self.sync(session)
        return self.index.search(question, limit=limit)
