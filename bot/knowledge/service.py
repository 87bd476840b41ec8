"""Answering: embed what the store holds, keep the in-memory index in step, then rank.

Questions never wait for indexing once the index has been built: a change in the store is
picked up by a background refresh that builds the next index snapshot aside and swaps it in.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.db.reads import Reader, answer_votes, cached_index, source_revisions
from bot.knowledge.analysis import question_key
from bot.knowledge.embed import (
    DIM,
    MODEL_ID,
    Encoder,
    embedding_text,
    shared_encoder,
    to_bytes,
)
from bot.knowledge.feedback import Vote, rank_factors
from bot.knowledge.index import IndexedChunk, KnowledgeIndex, SearchResult, SourceUpdate
from bot.knowledge.sample import shipped_vectors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.db.sql import Store

# What writes vectors, the cache or reads whole sources (bot.db.index_store, SQLAlchemy Core) is
# imported where it runs: answering from a current cached index needs none of it.

log = logging.getLogger(__name__)

EMBED_BATCH = 256
_QUESTION_CACHE = 512
INDEX_CACHE_NAME = "answers"
# Larger indexes are rebuilt rather than cached: the bot builds once per process anyway, and the
# cache is for the CLI's cold starts on a team's notes.
INDEX_CACHE_MAX_CHUNKS = 20_000


@lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the code that shapes the index: a changed tokenizer never reads an old cache."""
    digest = hashlib.sha256(MODEL_ID.encode())
    here = Path(__file__).parent
    for path in (
        here / "index.py",
        here / "analysis.py",
        here / "embed.py",
        here.parent / "chunks.py",
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _fingerprint(revisions: dict[int, int]) -> str:
    state = json.dumps(sorted(revisions.items()))
    return hashlib.sha256((_code_version() + state).encode()).hexdigest()


def store_shipped_vectors(store: Store) -> int:
    """Chunk texts that are the bundled sample's get its shipped vectors: no model needed, so
    even a start-up that encodes nothing indexes them complete. Returns how many it stored."""
    from bot.db.index_store import hashes_without_embedding, save_embeddings

    shipped = shipped_vectors()
    missing = hashes_without_embedding(store, MODEL_ID, shipped.keys()) if shipped else set()
    save_embeddings(store, MODEL_ID, [(h, to_bytes(shipped[h])) for h in missing])
    return len(missing)


def embed_missing(store: Store, encoder: Encoder, limit: int | None = None) -> int:
    """Give every stored chunk text a vector for the current model; returns how many it stored.

    Each text is encoded once, whatever how many chunks share it.
    """
    from bot.db.index_store import chunks_without_embedding, save_embeddings

    if not chunks_without_embedding(store, MODEL_ID, 1):
        return 0  # the usual start: every text has its vector, no shipped ones to look up
    done = store_shipped_vectors(store)
    while limit is None or done < limit:
        batch = chunks_without_embedding(store, MODEL_ID, EMBED_BATCH)
        if not batch:
            break
        vectors = encoder.encode([embedding_text(t, s, x) for _, t, s, x in batch])
        save_embeddings(
            store, MODEL_ID, [(h, to_bytes(v)) for (h, *_), v in zip(batch, vectors, strict=True)]
        )
        done += len(batch)
    return done


class Answerer:
    """Owns one KnowledgeIndex and the encoder; re-reads only sources whose revision moved."""

    def __init__(self, index: KnowledgeIndex | None = None, encoder: Encoder | None = None) -> None:
        self.index = index or KnowledgeIndex()
        self.encoder = encoder or shared_encoder()
        # Background ingests encode on one thread, so a question always finds a free core.
        self.ingest_encoder = shared_encoder(threads=1) if encoder is None else encoder
        self._sync_lock = threading.Lock()
        self._synced_once = False
        self._vectors_pending = False
        self._background: threading.Thread | None = None
        self._questions: OrderedDict[str, np.ndarray] = OrderedDict()
        self._questions_lock = threading.Lock()
        # Questions people voted on, by key: read for every question asked, so never evicted
        # (their number is that of distinct voted questions).
        self._voted: dict[str, np.ndarray] = {}

    # -- keeping the index in step ------------------------------------------------------------

    def sync(self, store: Store, embed: bool = True, encoder: Encoder | None = None) -> int:
        """Bring the index up to date with the store; returns how many sources were re-read.

        With `embed`, chunk texts without a vector are encoded first (in the same transaction).
        """
        with self._sync_lock:
            wanted = source_revisions(store)
            have = self.index.revisions()
            changed = {sid for sid, rev in wanted.items() if have.get(sid) != rev}
            if embed:
                embed_missing(store, encoder or self.encoder)
                # Sources indexed before their vectors existed are read again, now complete.
                changed |= self.index.sources_missing_vectors() & wanted.keys()
                self._vectors_pending = False
            else:
                store_shipped_vectors(store)
                self._vectors_pending = True
            removed = have.keys() - wanted.keys()
            if changed or removed:
                self.index.update(_source_updates(store, sorted(changed), wanted), removed)
                _release_free_memory()
            self._synced_once = True
            return len(changed)

    def load_cached(self, store: Reader) -> bool:
        """Start from the index cached for exactly this store state, if any (CLI cold starts)."""
        data = cached_index(store, INDEX_CACHE_NAME, _fingerprint(source_revisions(store)))
        if data is None:
            return False
        try:
            loaded = KnowledgeIndex.load(data, self.index.calibration)
        except (ValueError, KeyError, TypeError, OSError):
            return False  # an unreadable cache is only a missed shortcut
        self.index = loaded
        self._synced_once = True
        return True

    def save_cache(self, store: Store) -> bool:
        """Cache the index when it is complete and small enough; True when it did."""
        from bot.db.index_store import save_index_cache

        if len(self.index) > INDEX_CACHE_MAX_CHUNKS or self.index.sources_missing_vectors():
            return False
        revisions = self.index.revisions()
        if revisions != source_revisions(store):
            return False
        save_index_cache(store, INDEX_CACHE_NAME, _fingerprint(revisions), self.index.dump())
        return True

    def refresh_in_background(self, sessions: Callable[[], Session]) -> bool:
        """Start a sync in a thread unless one is running; questions keep the current index."""
        if self._background is not None and self._background.is_alive():
            return False

        def run() -> None:
            try:
                self.ingest(sessions)
            except Exception:  # a failed refresh must not kill the bot; the next one retries
                log.exception("refreshing the answer index failed")

        self._background = threading.Thread(target=run, name="index-refresh", daemon=True)
        self._background.start()
        return True

    def embed_pending(
        self,
        sessions: Callable[[], Session],
        encoder: Encoder | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Encode every chunk text still without a vector, one committed batch at a time (the
        store's write lock is never held for long); returns how many were stored."""
        done = 0
        while True:
            with sessions() as session, session.begin():
                count = embed_missing(session, encoder or self.encoder, limit=EMBED_BATCH)
            if not count:
                return done
            done += count
            if progress is not None:
                progress(done)

    def ingest(self, sessions: Callable[[], Session]) -> int:
        """For jobs: vectors for new chunk texts (on the ingest encoder's one thread, so a
        question always finds a free core), then re-index; returns sources re-read."""
        self.embed_pending(sessions, self.ingest_encoder)
        with sessions() as session, session.begin():
            return self.sync(session, encoder=self.ingest_encoder)

    def refreshing(self) -> bool:
        """True while a background refresh is running."""
        return self._background is not None and self._background.is_alive()

    def stale(self, store: Reader) -> bool:
        """True when the store holds sources, revisions or vectors the index has not read yet."""
        return self._vectors_pending or source_revisions(store) != self.index.revisions()

    # -- answering ----------------------------------------------------------------------------

    def question_vector(self, question: str) -> np.ndarray | None:
        """The question's embedding (cached), or None when the model cannot be loaded."""
        # The model is uncased and ignores spacing: this key changes nothing it would read.
        key = " ".join(question.lower().split())
        with self._questions_lock:
            cached = self._questions.get(key)
            if cached is not None:
                self._questions.move_to_end(key)
                return cached
        try:
            vector = self.encoder.encode([question])[0]
        except Exception:  # lexical answers beat no answers when the model is broken
            log.exception("encoding the question failed; answering by words only")
            return None
        with self._questions_lock:
            self._questions[key] = vector
            while len(self._questions) > _QUESTION_CACHE:
                self._questions.popitem(last=False)
        return vector

    def forget_questions(self) -> None:
        """Empty the question-vector cache (benchmarks time the encoding, not the cache)."""
        with self._questions_lock:
            self._questions.clear()

    def query_vector(self, question: str) -> np.ndarray | None:
        """What the index is searched with: the embedding of the spell-corrected question."""
        return self.question_vector(self.index.spelled(question))

    def ask(
        self,
        store: Store,
        question: str,
        limit: int = 3,
        sessions: Callable[[], Session] | None = None,
    ) -> SearchResult:
        """Answer one question from the current index.

        The first question builds the index; later ones never wait: when the store moved on,
        a background refresh is started (given `sessions`), else the index syncs inline.
        """
        if sessions is None:
            self.sync(store)
        elif not self._synced_once:
            # Index what the store holds now; vectors still missing are computed aside.
            self.sync(store, embed=False)
            self.refresh_in_background(sessions)
        elif self.stale(store):
            self.refresh_in_background(sessions)
        return self.answer(store, question, limit)

    def answer(self, store: Reader, question: str, limit: int = 3) -> SearchResult:
        """Answer from the index as it is, never syncing it: for a caller that has checked the
        index is current (a cold `ask` reading through sqlite3 alone)."""
        vector = self.query_vector(question)
        boosts = self._boosts(store, question, vector)
        return self.index.search(question, limit=limit, query_vector=vector, boosts=boosts)

    def _boosts(self, store: Reader, question: str, vector: np.ndarray | None) -> dict[int, float]:
        rows = answer_votes(store)
        if not rows:
            return {}
        key = question_key(question)
        voted = {question_key(q): q for q, *_ in rows}
        if vector is not None:
            new = [k for k in voted if k not in self._voted and k != key]
            if new:
                try:
                    for k, v in zip(new, self.encoder.encode([voted[k] for k in new]), strict=True):
                        self._voted[k] = v
                except Exception:  # votes on other wordings wait; the same question still counts
                    log.exception("encoding voted questions failed")
        votes = []
        for voted_question, chunk_id, user_id, value in rows:
            other = question_key(voted_question)
            if other == key:
                similarity = 1.0
            elif vector is not None and other in self._voted:
                similarity = float(self._voted[other] @ vector)
            else:
                similarity = 0.0
            votes.append(Vote(chunk_id, user_id, value, similarity))
        return rank_factors(votes)


def _release_free_memory() -> None:
    """Hand the heap a rebuild left free back to the system (glibc keeps it otherwise: ~80 MB
    at 100,000 chunks). Best effort: elsewhere this does nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _source_updates(
    store: Store, source_ids: list[int], revisions: dict[int, int]
) -> dict[int, SourceUpdate]:
    from bot.db.index_store import index_rows

    updates: dict[int, SourceUpdate] = {}
    missing = bytes(DIM * 2)  # a zero float16 row for a chunk whose vector is not stored yet
    blobs: list[bytes] = []
    flags: list[bool] = []

    def close(update: SourceUpdate | None) -> None:
        # One matrix per source, straight from the stored bytes: no array object per chunk.
        if update is not None:
            update.vectors = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(-1, DIM)
            update.has_vector = np.array(flags, dtype=bool)
        blobs.clear()
        flags.clear()

    current: SourceUpdate | None = None
    for row in index_rows(store, source_ids, MODEL_ID):
        (cid, sid, kind, title, section, text, url, name, article_id, start, end, blob) = row
        if current is None or sid not in updates:
            close(current)
            current = updates[sid] = SourceUpdate(revisions[sid], [])
        # One string per source name and per heading path (sibling chunks share it), not one
        # per chunk: at 100,000 chunks the copies are megabytes.
        name = sys.intern(name)
        section = sys.intern(section)
        current.chunks.append(
            IndexedChunk(cid, sid, kind, title, section, text, url, name, article_id, start, end)
        )
        blobs.append(blob if blob is not None else missing)
        flags.append(blob is not None)
    close(current)
    for sid in source_ids:  # a source whose chunks are all gone
        updates.setdefault(sid, SourceUpdate(revisions[sid], [], np.zeros((0, DIM)), None))
    return updates
