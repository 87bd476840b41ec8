"""In-memory ranked index over chunks: BM25F with typo correction fused with sentence-embedding
similarity, and a calibrated probability that the best hit answers the question.

Pure: chunks and vectors in, ranked hits out — no database, no network, no Slack, no model
(the caller encodes the question). The whole index is one immutable snapshot (one postings
structure and one vector matrix for every source); updates build the next snapshot aside and
swap it in, so questions never wait for indexing.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import json
import math
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA
from threadpoolctl import threadpool_limits

from bot.chunks import SECTION_SEP
from bot.knowledge.analysis import (
    STOP_WORDS,
    SYNONYMS,
    content_words,
    dictionary_words,
    stem,
    words,
)
from bot.knowledge.calibration import (
    Calibration,
    Evidence,
    Signals,
    default_calibration,
    shown_in_full,
)

# A question's one big product (every chunk vector × the question's) is bound by memory, not
# arithmetic, and numpy's OpenBLAS ran it on a thread per core whose waking and idling made one
# question in 30-100 take ~0.1 s more on two cores (10,000 chunks: p99 105-109 ms against
# 13-17 ms on one thread, in alternating runs; the median is the same). One thread for the
# process: at 100,000 chunks the median goes from 20-24 to 30 ms and p99 from 120 to 39-46 ms.
threadpool_limits(1, user_api="blas")

# BM25 constants and field weights: a word in a chunk's title counts like several in its body;
# the section path is shared by many chunks, so it counts less.
K1 = 1.2
B = 0.75
W_TITLE = 3.0
W_SECTION = 1.0
W_BODY = 1.0
W_LINK = 0.5
TYPO_WEIGHT = 0.85
SYNONYM_WEIGHT = 0.6
MAX_QUESTION_WORDS = 32
MAX_CORRECTIONS = 4
MAX_COMPLETIONS = 8
MAX_CACHED_CORRECTIONS = 20_000
# Past this many distinct letters (notes in several scripts), or for words longer than this,
# spelling out a word's one-edit variants costs more than scanning the candidates (their number
# grows with the word's length and the alphabet, their size with the word's length).
MAX_EDIT_ALPHABET = 80
MAX_EDIT_WORD = 30
# Words of a question spell-checked for the model, which reads its first ~256 word pieces: a
# pasted wall of text must not cost a correction per word.
MAX_SPELLED_WORDS = 64
MAX_SUFFIX = 4  # `tail` reaches `tailer` and `tailing`, not `tailormade`
# Candidates taken from each ranking before fusion: enough for the right answer to be among them
# when either ranking alone puts it in its top few dozen.
LEXICAL_POOL = 40
DENSE_POOL = 40
DIM = 384

_MD_LINK_TARGET = re.compile(r"\]\((?:[^()\s]+)\)")
_URL = re.compile(r"https?://[^\s)\]>]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT_URL = re.compile(r"[^a-z0-9]+")
_URL_NOISE = frozenset(
    (
        "www",
        "com",
        "org",
        "net",
        "dev",
        "html",
        "htm",
        "php",
        "aspx",
        "questions",
        "question",
        "blog",
        "blogs",
        "posts",
        "post",
        "wiki",
        "watch",
        "list",
        "index",
        "item",
        "tree",
        "blob",
        "master",
        "main",
        "docs",
        "doc",
        "latest",
        "current",
        "reference",
        "comments",
        "discussions",
        "issues",
        "pull",
        "status",
        "en-us",
        "utm_source",
    )
)
# The snapshot's NumPy fields, in the order `dump` writes them.
_ARRAY_FIELDS = (
    "doc_source",
    "doc_len",
    "p_docs",
    "p_tfs",
    "p_own",
    "term_ids",
    "indptr",
    "vectors",
    "has_vector",
)
_ALPHA_WORD = re.compile(r"[A-Za-z]{4,}")
_COMMAND_PREFIX = re.compile(r"^\s*/devops\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)  # slots: 100,000 of these must not carry a dict each
class IndexedChunk:
    """What a hit shows: a chunk with its source's display name."""

    id: int
    source_id: int
    kind: str
    title: str
    section: str
    text: str
    url: str | None = None
    source_name: str = ""
    article_id: int | None = None
    line_start: int | None = None
    line_end: int | None = None


@dataclass(frozen=True)
class Hit:
    chunk: IndexedChunk
    score: float  # calibrated probability that this chunk answers the question
    coverage: float  # share of the question's information the chunk matches word for word
    signals: Signals | None = None


@dataclass(frozen=True)
class SearchResult:
    question: str
    answered: bool
    hits: list[Hit]

    @property
    def shows_best(self) -> bool:
        """The best hit is shown in full: stated as the answer, or as the closest match."""
        return bool(self.hits) and shown_in_full(self.answered, self.hits[0].score)


def index_text(markdown: str) -> tuple[str, str]:
    """Split text into (prose, link words): URLs become the words of their host and path."""
    links: list[str] = []

    def keep_words(match: re.Match[str]) -> str:
        links.append(url_words(match.group(0)))
        return " "

    prose = _URL.sub(keep_words, _MD_LINK_TARGET.sub(lambda m: "] " + m.group(0)[2:-1], markdown))
    return prose, " ".join(links)


def url_words(url: str) -> str:
    """The meaningful words of a URL: `.../AccessLogs.html` → `access logs`."""
    parts = urlsplit(url)
    raw = (parts.hostname or "") + " " + unquote(parts.path)
    raw = _CAMEL.sub(" ", raw)
    out = []
    for word in _SPLIT_URL.split(raw.lower()):
        if len(word) > 2 and not word.isdigit() and word not in _URL_NOISE:
            out.append(word)
    return " ".join(out)


@dataclass
class _Group:
    """One content word of the question with its accepted variants and their weights."""

    word: str
    variants: dict[int, float] = field(default_factory=dict)
    idf_term: int | None = None  # the term whose rarity measures this word's information


@dataclass(frozen=True)
class _Snapshot:
    """Everything a question reads, never mutated once built (readers need no lock)."""

    chunks: list[IndexedChunk]
    doc_source: np.ndarray  # source id per doc
    doc_len: np.ndarray  # BM25F field-weighted length per doc
    # Postings sorted by term (doc, weighted tf, own): term_ids[i]'s are indptr[i]:indptr[i+1].
    # No term id per posting: an update re-derives them (14 MB at 100,000 chunks otherwise).
    p_docs: np.ndarray
    p_tfs: np.ndarray
    p_own: np.ndarray  # the term is in the chunk's own title or text, not only its heading path
    term_ids: np.ndarray  # sorted distinct term ids, with their posting ranges
    indptr: np.ndarray
    vectors: np.ndarray  # (docs × DIM) unit vectors, float32; zero rows: not embedded yet
    has_vector: np.ndarray
    revisions: dict[int, int]
    surface_df: Counter[str]
    source_words: dict[int, tuple[str, ...]]  # distinct surface words per source
    total_len: float

    @property
    def n(self) -> int:
        return len(self.chunks)

    def df(self, tid: int) -> int:
        pos = int(np.searchsorted(self.term_ids, tid))
        if pos < len(self.term_ids) and self.term_ids[pos] == tid:
            return int(self.indptr[pos + 1] - self.indptr[pos])
        return 0

    def postings(self, tid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        pos = int(np.searchsorted(self.term_ids, tid))
        if pos >= len(self.term_ids) or self.term_ids[pos] != tid:
            return None
        lo, hi = self.indptr[pos], self.indptr[pos + 1]
        return self.p_docs[lo:hi], self.p_tfs[lo:hi], self.p_own[lo:hi]


def _empty_snapshot() -> _Snapshot:
    return _Snapshot(
        chunks=[],
        doc_source=np.zeros(0, dtype=np.int64),
        doc_len=np.zeros(0, dtype=np.float32),
        p_docs=np.zeros(0, dtype=np.int32),
        p_tfs=np.zeros(0, dtype=np.float32),
        p_own=np.zeros(0, dtype=bool),
        term_ids=np.zeros(0, dtype=np.int32),
        indptr=np.zeros(1, dtype=np.int64),
        vectors=np.zeros((0, DIM), dtype=np.float32),
        has_vector=np.zeros(0, dtype=bool),
        revisions={},
        surface_df=Counter(),
        source_words={},
        total_len=0.0,
    )


@dataclass(frozen=True)
class _WordPools:
    snapshot: _Snapshot  # held, not its id: a new snapshot may reuse a freed one's address
    by_length: dict[int, list[str]]  # correction candidates (no stop words)
    in_order: list[str]  # sorted, for prefix completion
    known: frozenset[str]  # every correction candidate, for the one-edit lookups
    alphabet: str  # the letters the candidates are spelled with
    # Corrections already worked out against this snapshot: a question is corrected twice (its
    # embedding reads the corrected text, the lexical ranking every close spelling), and the
    # same typos recur. Bounded, cleared when full; it dies with the snapshot.
    corrections: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SourceUpdate:
    """A source's new content: its revision, chunks, and their vectors: one row per chunk (a
    matrix, with `has_vector` marking the rows that exist) or a list with None for missing."""

    revision: int
    chunks: list[IndexedChunk]
    vectors: np.ndarray | list[np.ndarray | None] | None = None
    has_vector: np.ndarray | None = None

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows × DIM vectors, which rows exist), whatever form they were given in."""
        n = len(self.chunks)
        if isinstance(self.vectors, np.ndarray):
            has = self.has_vector if self.has_vector is not None else np.ones(n, dtype=bool)
            return self.vectors, has
        mat = np.zeros((n, DIM), dtype=np.float32)
        has = np.zeros(n, dtype=bool)
        for row, vec in enumerate(self.vectors or []):
            if vec is not None:
                mat[row] = vec
                has[row] = True
        return mat, has


class KnowledgeIndex:
    """One snapshot of BM25F postings and embeddings over every source, swapped on update."""

    def __init__(self, calibration: Calibration | None = None) -> None:
        self._write_lock = threading.Lock()
        self._vocab: dict[str, int] = {}
        self._snap = _empty_snapshot()
        self._pools: _WordPools | None = None
        self.calibration = calibration or default_calibration()

    # -- maintenance -------------------------------------------------------------------------

    def revisions(self) -> dict[int, int]:
        """Source id → revision currently indexed."""
        return dict(self._snap.revisions)

    def __len__(self) -> int:
        return self._snap.n

    def dump(self) -> bytes:
        """The whole index as bytes (NumPy arrays and JSON, no pickle), for `load`."""
        snap = self._snap
        meta = {
            "vocab": self._vocab,
            "chunks": [dataclasses.astuple(c) for c in snap.chunks],
            "revisions": {str(k): v for k, v in snap.revisions.items()},
            "surface_df": dict(snap.surface_df),
            "source_words": {str(k): list(v) for k, v in snap.source_words.items()},
            "total_len": snap.total_len,
        }
        arrays = {name: getattr(snap, name) for name in _ARRAY_FIELDS}
        arrays["vectors"] = snap.vectors.astype(np.float16)  # as stored: exact, half the size
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8), **arrays)
        return buffer.getvalue()

    @classmethod
    def load(cls, data: bytes, calibration: Calibration | None = None) -> KnowledgeIndex:
        """An index restored from `dump` output."""
        index = cls(calibration)
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            meta = json.loads(stored["meta"].tobytes().decode("utf-8"))
            arrays = {name: stored[name] for name in _ARRAY_FIELDS}
        arrays["vectors"] = arrays["vectors"].astype(np.float32)
        index._vocab = meta["vocab"]
        index._snap = _Snapshot(
            chunks=[IndexedChunk(*row) for row in meta["chunks"]],
            revisions={int(k): v for k, v in meta["revisions"].items()},
            surface_df=Counter(meta["surface_df"]),
            source_words={int(k): tuple(v) for k, v in meta["source_words"].items()},
            total_len=float(meta["total_len"]),
            **arrays,
        )
        return index

    def sources_missing_vectors(self) -> set[int]:
        """Sources with at least one chunk indexed without its embedding."""
        snap = self._snap
        # A set of the ids, not np.unique: that imports numpy.ma (7 ms of a cold `ask`).
        return set(snap.doc_source[~snap.has_vector].tolist())

    def snapshot_vectors(self) -> tuple[list[IndexedChunk], np.ndarray]:
        """The indexed chunks and their embedding matrix (rows align; zero rows: no vector)."""
        snap = self._snap
        return snap.chunks, snap.vectors

    def replace_source(
        self,
        source_id: int,
        revision: int,
        chunks: Iterable[IndexedChunk],
        vectors: list[np.ndarray | None] | None = None,
    ) -> None:
        """Index a source's chunks, replacing what was indexed for it before."""
        self.update({source_id: SourceUpdate(revision, list(chunks), vectors)})

    def remove_source(self, source_id: int) -> None:
        """Forget a source's chunks."""
        self.update({}, removed=[source_id])

    def update(self, changed: Mapping[int, SourceUpdate], removed: Iterable[int] = ()) -> None:
        """Build the next snapshot with these sources replaced or removed, then swap it in.

        The updates' vector rows are consumed (released once copied), to bound peak memory.
        """
        with self._write_lock:
            old = self._snap
            drop = set(changed) | set(removed)
            keep = ~np.isin(old.doc_source, np.fromiter(drop, dtype=np.int64, count=len(drop)))
            remap = np.cumsum(keep) - 1
            chunks = [c for c, k in zip(old.chunks, keep.tolist(), strict=True) if k]
            keep_post = keep[old.p_docs] if len(old.p_docs) else np.zeros(0, dtype=bool)
            terms = [np.repeat(old.term_ids, np.diff(old.indptr))[keep_post]]
            docs = [remap[old.p_docs[keep_post]].astype(np.int32)]
            tfs = [old.p_tfs[keep_post]]
            owns = [old.p_own[keep_post]]
            doc_len = [old.doc_len[keep]]
            doc_source = [old.doc_source[keep]]
            # One allocation for the next vector matrix: at 100,000 chunks a temporary copy per
            # step would double the peak memory of a rebuild.
            n_keep = int(keep.sum())
            n_total = n_keep + sum(len(u.chunks) for u in changed.values())
            vectors = np.empty((n_total, DIM), dtype=np.float32)
            np.compress(keep, old.vectors, axis=0, out=vectors[:n_keep])
            has_vector = [old.has_vector[keep]]
            surface = old.surface_df.copy()
            source_words = dict(old.source_words)
            revisions = {s: r for s, r in old.revisions.items() if s not in drop}
            for sid in drop:
                for word in source_words.pop(sid, ()):
                    surface[word] -= 1
                    if surface[word] <= 0:
                        del surface[word]
            for sid, upd in changed.items():
                base = len(chunks)
                t, d, f, own, lengths, seen = self._tokenize(upd.chunks)
                terms.append(t)
                docs.append(d + base)
                tfs.append(f)
                owns.append(own)
                doc_len.append(lengths)
                doc_source.append(np.full(len(upd.chunks), sid, dtype=np.int64))
                mat, has = upd.matrix()
                vectors[base : base + len(upd.chunks)] = mat
                # Consumed: the copy is in the new matrix, the source's own rows can go now.
                upd.vectors = upd.has_vector = mat = None
                has_vector.append(has)
                chunks.extend(upd.chunks)
                revisions[sid] = upd.revision
                source_words[sid] = tuple(seen)
                surface.update(seen)
            all_terms = np.concatenate(terms)
            del terms
            order = np.argsort(all_terms, kind="stable")
            all_terms = all_terms[order]
            p_docs = np.concatenate(docs)[order]
            del docs
            p_tfs = np.concatenate(tfs)[order]
            p_own = np.concatenate(owns)[order]
            del tfs, owns, order
            term_ids, counts = np.unique(all_terms, return_counts=True)
            del all_terms
            indptr = np.zeros(len(term_ids) + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            lengths_all = np.concatenate(doc_len)
            snap = _Snapshot(
                chunks=chunks,
                doc_source=np.concatenate(doc_source),
                doc_len=lengths_all,
                p_docs=p_docs,
                p_tfs=p_tfs,
                p_own=p_own,
                term_ids=term_ids.astype(np.int32),
                indptr=indptr,
                vectors=vectors,
                has_vector=np.concatenate(has_vector),
                revisions=revisions,
                surface_df=surface,
                source_words=source_words,
                total_len=float(lengths_all.sum()),
            )
            # Built here, aside, so that the first questions after the swap do not wait for
            # them (30-40 ms at 10,000 chunks).
            pools = _word_pools(snap)
            dictionary_words()  # read once (~15 ms), here too, not by the first typo's question
            self._snap, self._pools = snap, pools

    def _term_id(self, term: str) -> int:
        tid = self._vocab.get(term)
        if tid is None:
            tid = len(self._vocab)
            self._vocab[term] = tid
        return tid

    def _tokenize(
        self, chunks: list[IndexedChunk]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, set[str]]:
        """Postings of these chunks as columns (term, doc, weighted tf, in own title or text),
        their field-weighted lengths, and the distinct words seen."""
        # Plain lists, turned into arrays once per source: an array per chunk would leave
        # hundreds of thousands of small allocations behind at 100,000 chunks.
        term_col: list[int] = []
        doc_col: list[int] = []
        tf_col: list[float] = []
        own_col: list[bool] = []
        doc_len = np.zeros(len(chunks), dtype=np.float32)
        seen_words: set[str] = set()
        for doc, chunk in enumerate(chunks):
            weights: dict[int, float] = {}
            own: set[int] = set()
            prose, link_words = index_text(chunk.text)
            # A title inherited from the heading is already counted as the section.
            inherited = chunk.title == _last_section(chunk.section)
            for text, weight, is_own in (
                ("" if inherited else chunk.title, W_TITLE, True),
                (chunk.section, W_SECTION, False),
                (prose, W_BODY, True),
                (link_words, W_LINK, True),
            ):
                for word in words(text):
                    # Interned: a word shared by a thousand sources is stored once, not once each.
                    seen_words.add(sys.intern(word))
                    tid = self._term_id(stem(word))
                    weights[tid] = weights.get(tid, 0.0) + weight
                    if is_own:
                        own.add(tid)
            if inherited:  # still the chunk's own title, even if weighted as its section
                own.update(self._term_id(stem(word)) for word in words(chunk.title))
            term_col.extend(weights.keys())
            tf_col.extend(weights.values())
            own_col.extend(tid in own for tid in weights)
            doc_col.extend([doc] * len(weights))
            doc_len[doc] = sum(weights.values())
        return (
            np.array(term_col, dtype=np.int32),
            np.array(doc_col, dtype=np.int32),
            np.array(tf_col, dtype=np.float32),
            np.array(own_col, dtype=bool),
            doc_len,
            seen_words,
        )

    # -- querying ----------------------------------------------------------------------------

    def _word_pools(self, snap: _Snapshot) -> _WordPools:
        """The snapshot's words arranged for typo correction and completion, built once."""
        pools = self._pools
        if pools is None or pools.snapshot is not snap:
            pools = self._pools = _word_pools(snap)
        return pools

    def _corrections(self, snap: _Snapshot, word: str) -> list[str]:
        """Index words within one typo of `word` (two for long words), closest first; none for
        a real word the notes do not use (`peek` is not a typo of `week`)."""
        if len(word) < 4 or not word.isalpha() or word in dictionary_words():
            return []
        pools = self._word_pools(snap)
        known = pools.corrections.get(word)
        if known is None:
            known = self._closest(snap, pools, word)
            if len(pools.corrections) >= MAX_CACHED_CORRECTIONS:
                pools.corrections.clear()
            pools.corrections[word] = known
        return list(known)

    def _closest(self, snap: _Snapshot, pools: _WordPools, word: str) -> list[str]:
        if word in pools.known:
            return [word]
        max_dist = 1 if len(word) < 8 else 2
        if len(pools.alphabet) <= MAX_EDIT_ALPHABET and len(word) <= MAX_EDIT_WORD:
            # Most typos are one edit away: spelling out every one-edit variant and looking
            # each up is ~50x faster than comparing the word with every candidate, and finds
            # the same words. Only a long word with no one-edit neighbour needs the scan.
            near = _one_edit(word, pools.alphabet) & pools.known
            if near or max_dist == 1:
                ranked = sorted(near, key=lambda w: (-snap.surface_df.get(w, 0), w))
                return ranked[:MAX_CORRECTIONS]
        by_length = pools.by_length
        candidates: list[tuple[int, int, str]] = []
        for length in range(len(word) - max_dist, len(word) + max_dist + 1):
            pool = by_length.get(length)
            if not pool:
                continue
            for cand, dist, _ in process.extract(
                word, pool, scorer=OSA.distance, score_cutoff=max_dist, limit=MAX_CORRECTIONS
            ):
                candidates.append((int(dist), -snap.surface_df.get(cand, 0), cand))
        candidates.sort()
        best = candidates[0][0] if candidates else 0
        return [c for d, _, c in candidates if d == best][:MAX_CORRECTIONS]

    def spelled(self, question: str) -> str:
        """The question with words the index has never seen replaced by their closest index
        word (`tial multple pods` → `tail multiple pods`), within its first MAX_SPELLED_WORDS
        words: what the embedding model should read, since a misspelled word means nothing to
        it."""
        snap = self._snap
        if not snap.n:
            return question

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            low = word.lower()
            if low in STOP_WORDS or self._known(snap, stem(low)) is not None:
                return word
            found = self._corrections(snap, low)
            return found[0] if found else word

        return _ALPHA_WORD.sub(fix, question, count=MAX_SPELLED_WORDS)

    def _completions(self, snap: _Snapshot, word: str) -> list[str]:
        """Index words that extend `word` by a suffix the stemmer does not strip (`tail` →
        `tailer`, `tailing`), most used first: what a search box's prefix match would find."""
        if len(word) < 4 or not word.isalpha():
            return []
        pool = self._word_pools(snap).in_order
        found = []
        for i in range(bisect.bisect_left(pool, word), len(pool)):
            cand = pool[i]
            if not cand.startswith(word):
                break
            if cand != word and len(cand) <= len(word) + MAX_SUFFIX:
                found.append(cand)
        found.sort(key=lambda w: -snap.surface_df.get(w, 0))
        return found[:MAX_COMPLETIONS]

    def _known(self, snap: _Snapshot, term: str) -> int | None:
        tid = self._vocab.get(term)
        return tid if tid is not None and snap.df(tid) > 0 else None

    def _groups(self, snap: _Snapshot, question: str) -> list[_Group]:
        groups: list[_Group] = []
        for word in content_words(question)[:MAX_QUESTION_WORDS]:
            group = _Group(word)
            tid = self._known(snap, stem(word))
            if tid is not None:
                group.variants[tid] = 1.0
                group.idf_term = tid
                spellings = [word]
                # Longer forms the stemmer keeps apart count too, a little less (`tail` finds
                # the note that only says `tailer`).
                for longer in self._completions(snap, word):
                    lid = self._known(snap, stem(longer))
                    if lid is not None:
                        group.variants.setdefault(lid, TYPO_WEIGHT)
            else:
                # Keep every equally close correction: the other words of the question decide
                # which one was meant (`tial multple pods` → tail, not trial).
                spellings = [word, *self._corrections(snap, word), *self._completions(snap, word)]
                for fixed in spellings[1:]:
                    fid = self._known(snap, stem(fixed))
                    if fid is not None:
                        group.variants.setdefault(fid, TYPO_WEIGHT)
                        if group.idf_term is None:
                            group.idf_term = fid
            for spelling in spellings:
                for syn in SYNONYMS.get(spelling, ()) + SYNONYMS.get(stem(spelling), ()):
                    sid = self._known(snap, stem(syn))
                    if sid is not None and sid not in group.variants:
                        base = 1.0 if spelling == word else TYPO_WEIGHT
                        group.variants[sid] = base * SYNONYM_WEIGHT
                        if group.idf_term is None:
                            group.idf_term = sid
            groups.append(group)
        # A word the question says outright is not also a synonym of another of its words.
        exact = {t for g in groups for t, w in g.variants.items() if w == 1.0}
        for g in groups:
            for tid in [t for t, w in g.variants.items() if w < 1.0 and t in exact]:
                del g.variants[tid]
        return groups

    def _lexical(
        self, snap: _Snapshot, groups: list[_Group]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        """Per doc: BM25F score, idf-weighted coverage, and share of the question's words in its
        own title or text; then the question's total and unknown idf."""
        n = snap.n
        score = np.zeros(n, dtype=np.float32)
        cover = np.zeros(n, dtype=np.float32)
        own_hits = np.zeros(n, dtype=np.float32)
        if not groups:
            return score, cover, own_hits, 0.0, 0.0
        idf = _idf_fn(n)
        avg_len = snap.total_len / max(n, 1)
        rare_idf = idf(1)
        total_idf = unknown_idf = 0.0
        for g in groups:
            g_idf = idf(snap.df(g.idf_term)) if g.idf_term is not None else rare_idf
            total_idf += g_idf
            if g.idf_term is None:
                # An unknown word is information the corpus lacks: it pulls every coverage down.
                unknown_idf += g_idf
                continue
            parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
            for tid, weight in g.variants.items():
                found = snap.postings(tid)
                if found is None:
                    continue
                docs, tf, own = found
                norm = K1 * (1 - B + B * snap.doc_len[docs] / avg_len)
                contrib = idf(snap.df(tid)) * weight * tf * (K1 + 1) / (tf + norm)
                # Coverage asks "is this word's meaning there?": a synonym or a corrected typo
                # answers yes, only a little less surely.
                sure = np.full(len(docs), 1.0 if weight == 1.0 else 0.9, dtype=np.float32)
                parts.append((docs, contrib.astype(np.float32), sure, own))
            if not parts:
                continue
            if len(parts) == 1:
                docs, contrib, sure, own = parts[0]
                score[docs] += contrib
                cover[docs] += sure * g_idf
                own_hits[docs[own]] += 1
                continue
            g_score = np.zeros(n, dtype=np.float32)
            g_sure = np.zeros(n, dtype=np.float32)
            g_own = np.zeros(n, dtype=bool)
            for docs, contrib, sure, own in parts:
                np.maximum.at(g_score, docs, contrib)
                np.maximum.at(g_sure, docs, sure)
                g_own[docs[own]] = True
            score += g_score
            cover += g_sure * g_idf
            own_hits += g_own
        return (
            score,
            cover / max(total_idf, 1e-9),
            own_hits / len(groups),
            total_idf,
            unknown_idf,
        )

    def candidates(
        self, question: str, query_vector: np.ndarray | None = None
    ) -> tuple[list[tuple[Signals, IndexedChunk]], dict[int, np.ndarray]]:
        """Every chunk either ranking puts in its pool, with what was measured about it; and the
        embeddings of those compared with the question (by chunk id), from the same snapshot."""
        query = _COMMAND_PREFIX.sub("", question.strip())
        snap = self._snap
        if not snap.n or not query.strip():
            return [], {}
        groups = self._groups(snap, query)
        lex, cover, own_share, total_idf, unknown_idf = self._lexical(snap, groups)
        ranked = lex * cover  # coordination: matching more of the question's words ranks first
        pool: dict[int, None] = {}
        lex_order = _top(ranked, LEXICAL_POOL)
        lex_order = lex_order[ranked[lex_order] > 0]
        pool.update(dict.fromkeys(lex_order.tolist()))
        dense = None
        dense_order = np.zeros(0, dtype=np.int64)
        if query_vector is not None and snap.has_vector.any():
            dense = snap.vectors @ np.asarray(query_vector, dtype=np.float32)
            dense_order = _top(dense, DENSE_POOL)
            dense_order = dense_order[snap.has_vector[dense_order]]
            pool.update(dict.fromkeys(dense_order.tolist()))
        if not pool:
            return [], {}
        docs = list(pool)
        lex_rank = _ranks(lex_order, docs)
        dense_rank = _ranks(dense_order, docs)
        best_lex = float(ranked[lex_order[0]]) if len(lex_order) else 0.0
        best_dense = float(dense[dense_order[0]]) if dense is not None and len(dense_order) else 0.0
        unknown = unknown_idf / total_idf if total_idf else 0.0
        out = []
        vectors: dict[int, np.ndarray] = {}
        for doc, lr, dr in zip(docs, lex_rank, dense_rank, strict=True):
            has = dense is not None and bool(snap.has_vector[doc])
            if has:
                vectors[snap.chunks[doc].id] = snap.vectors[doc]
            signals = Signals(
                dense=float(dense[doc]) if has and dense is not None else 0.0,
                dense_best=best_dense,
                dense_rank=dr,
                lexical=float(ranked[doc]) / best_lex if best_lex else 0.0,
                lexical_rank=lr,
                coverage=float(cover[doc]),
                unknown=unknown,
                words=len(groups),
                has_vector=has,
                own_words=float(own_share[doc]),
            )
            out.append((signals, snap.chunks[doc]))
        return out, vectors

    def search(
        self,
        question: str,
        limit: int = 3,
        query_vector: np.ndarray | None = None,
        boosts: Mapping[int, float] | None = None,
    ) -> SearchResult:
        """Rank chunks for a question; `answered` is False when the best hit is not likely right.

        `query_vector` is the question's embedding (None: words only); `boosts` multiplies the
        probability of chunks people voted on (bounded by the caller).
        """
        question = question.strip()
        found, vectors = self.candidates(question, query_vector)
        if not found:
            return SearchResult(question, False, [])
        probs = self.calibration.probabilities([sig for sig, _ in found])
        if boosts:
            # Votes move a chunk within a bounded factor; the probability stays below 1.
            factor = np.array([boosts.get(chunk.id, 1.0) for _, chunk in found])
            probs = np.clip(probs * factor, 0.0, 0.999)
        order = sorted(range(len(found)), key=lambda i: (-probs[i], found[i][1].id))
        ranked = [(float(probs[i]), found[i][0], found[i][1]) for i in order]
        chosen = distinct(ranked, max(limit, 2))
        p_top, top_signals, _ = chosen[0]
        p_second, second_signals, _ = chosen[1] if len(chosen) > 1 else (0.0, top_signals, None)
        confidence = self.calibration.answer_probability(
            p_top,
            p_second,
            top_signals,
            second_signals,
            evidence(ranked, chosen, vectors),
        )
        # The best hit carries the probability that it answers the question; the others their
        # own, never above it.
        hits = [
            Hit(
                chunk,
                round(confidence if i == 0 else min(p, confidence), 3),
                round(sig.coverage, 3),
                sig,
            )
            for i, (p, sig, chunk) in enumerate(chosen[:limit])
        ]
        answered = confidence >= self.calibration.threshold
        return SearchResult(question, answered, hits)


def _word_pools(snap: _Snapshot) -> _WordPools:
    """A snapshot's words arranged for typo correction and completion."""
    alpha = [w for w in snap.surface_df if w.isalpha()]
    by_length: dict[int, list[str]] = {}
    # The synonym table's words are vocabulary too, even when no chunk uses them. Sorted:
    # rapidfuzz keeps the first of equally close words, and a set's order changes with the
    # process's hash seed (the same question must get the same corrections).
    candidates = sorted({*alpha, *(w for w in SYNONYMS if w.isalpha())} - STOP_WORDS)
    for w in candidates:
        by_length.setdefault(len(w), []).append(w)
    letters = "".join(sorted(set().union(*candidates)))
    return _WordPools(snap, by_length, sorted(alpha), frozenset(candidates), letters)


def _one_edit(word: str, alphabet: str) -> set[str]:
    """Every string one edit from `word` (optimal string alignment: a deletion, an insertion,
    a substitution or a swap of neighbours), spelled with `alphabet`."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    out.update(a + c + b[1:] for a, b in splits if b for c in alphabet)
    out.update(a + c + b for a, b in splits for c in alphabet)
    out.discard(word)
    return out


def _idf_fn(n: int) -> Callable[[int], float]:
    n = max(n, 1)

    def idf(df: int) -> float:
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    return idf


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first."""
    if len(values) <= k:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.argsort(-values[part], kind="stable")]


def _ranks(order: np.ndarray, docs: list[int]) -> list[int]:
    """Position of each doc in `order` (past the pool's end when absent)."""
    where = {d: r for r, d in enumerate(order.tolist())}
    missing = max(LEXICAL_POOL, DENSE_POOL) + 1
    return [where.get(d, missing) for d in docs]


def _last_section(section: str) -> str:
    return section.rsplit(SECTION_SEP, 1)[-1].strip()


Ranked = list[tuple[float, Signals, IndexedChunk]]


def evidence(
    ranked: Ranked, chosen: Ranked, vectors: Mapping[int, np.ndarray] | None = None
) -> Evidence:
    """How crowded the best answer's own source is among the best candidates, and how alike
    the best and the runner-up are (`vectors`: embeddings by chunk id; a chunk without one
    claims nothing)."""
    source = chosen[0][2].source_id
    pair = 0.0
    if len(chosen) > 1 and vectors:
        a, b = vectors.get(chosen[0][2].id), vectors.get(chosen[1][2].id)
        if a is not None and b is not None:
            pair = float(np.dot(a, b))
    return Evidence(
        same_source=len(chosen) > 1 and chosen[1][2].source_id == source,
        source_share=sum(c.source_id == source for _, _, c in ranked[:5]) / 5,
        pair_cosine=pair,
    )


def distinct(candidates: Ranked, limit: int) -> Ranked:
    """Best chunk per article, and no note chunk nested in (or around) one already chosen."""
    chosen: list[tuple[float, Signals, IndexedChunk]] = []
    for cand in candidates:
        chunk = cand[2]
        if any(_overlaps(chunk, other[2]) for other in chosen):
            continue
        chosen.append(cand)
        if len(chosen) == limit:
            break
    return chosen


def _overlaps(a: IndexedChunk, b: IndexedChunk) -> bool:
    if a.article_id is not None or b.article_id is not None:
        return a.article_id == b.article_id
    if a.source_id != b.source_id or a.line_start is None or b.line_start is None:
        return False
    return a.line_start <= (b.line_end or b.line_start) and b.line_start <= (
        a.line_end or a.line_start
    )
