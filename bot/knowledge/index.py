"""In-memory ranked index over chunks: BM25F with typo correction, synonyms and an honest
"no answer". Pure: chunks in, ranked hits out — no database, no network, no Slack.

The index is split into one segment per source so that re-loading a notes file or adding a
feed's articles rebuilds only that source's postings, never the whole index.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.knowledge.analysis import SYNONYMS, content_words, stem, words
from bot.knowledge.chunk import SECTION_SEP

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
# A question is answered when the best chunk covers more than half of the question's
# information (IDF mass of its content words): one known word next to one unknown is not enough.
ANSWER_THRESHOLD = 0.55
MAX_QUESTION_WORDS = 32
MAX_CORRECTIONS = 4

_MD_LINK_TARGET = re.compile(r"\]\((?:[^()\s]+)\)")
_URL = re.compile(r"https?://[^\s)\]>]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT_URL = re.compile(r"[^a-z0-9]+")
_URL_NOISE = frozenset(
    [
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
    ]
)
_COMMAND_PREFIX = re.compile(r"^\s*/devops\b", re.IGNORECASE)


@dataclass(frozen=True)
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
    score: float  # 0..1 confidence
    coverage: float  # share of the question's information the chunk matches


@dataclass(frozen=True)
class SearchResult:
    question: str
    answered: bool
    hits: list[Hit]


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
class _Segment:
    revision: int
    chunks: list[IndexedChunk]
    term_ids: np.ndarray  # sorted unique term ids
    indptr: np.ndarray
    docs: np.ndarray
    tfs: np.ndarray
    doc_len: np.ndarray
    term_df: dict[int, int]
    surface_df: Counter[str]
    total_len: float


@dataclass
class _Group:
    """One content word of the question with its accepted variants and their weights."""

    word: str
    variants: dict[int, float] = field(default_factory=dict)
    idf_term: int | None = None  # the term whose rarity measures this word's information


class KnowledgeIndex:
    """Segments of BM25F postings, one per source, with shared collection statistics."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._vocab: dict[str, int] = {}
        self._segments: dict[int, _Segment] = {}
        self._df: Counter[int] = Counter()
        self._surface_df: Counter[str] = Counter()
        self._by_length: dict[int, list[str]] | None = None
        self._n_docs = 0
        self._total_len = 0.0

    # -- maintenance -------------------------------------------------------------------------

    def revisions(self) -> dict[int, int]:
        """Source id → revision currently indexed."""
        with self._lock:
            return {sid: seg.revision for sid, seg in self._segments.items()}

    def __len__(self) -> int:
        return self._n_docs

    def _term_id(self, term: str) -> int:
        tid = self._vocab.get(term)
        if tid is None:
            tid = len(self._vocab)
            self._vocab[term] = tid
        return tid

    def replace_source(self, source_id: int, revision: int, chunks: Iterable[IndexedChunk]) -> None:
        """Index a source's chunks, replacing what was indexed for it before."""
        chunk_list = list(chunks)
        term_rows: list[np.ndarray] = []
        doc_rows: list[np.ndarray] = []
        tf_rows: list[np.ndarray] = []
        doc_len = np.zeros(len(chunk_list), dtype=np.float32)
        surface: Counter[str] = Counter()
        with self._lock:
            for doc, chunk in enumerate(chunk_list):
                weights: dict[int, float] = {}
                seen_words: set[str] = set()
                prose, link_words = index_text(chunk.text)
                # A title inherited from the heading is already counted as the section.
                own_title = chunk.title if chunk.title != _last_section(chunk.section) else ""
                for text, weight in (
                    (own_title, W_TITLE),
                    (chunk.section, W_SECTION),
                    (prose, W_BODY),
                    (link_words, W_LINK),
                ):
                    for word in words(text):
                        seen_words.add(word)
                        tid = self._term_id(stem(word))
                        weights[tid] = weights.get(tid, 0.0) + weight
                surface.update(seen_words)
                if not weights:
                    continue
                ids = np.fromiter(weights.keys(), dtype=np.int32, count=len(weights))
                tfs = np.fromiter(weights.values(), dtype=np.float32, count=len(weights))
                term_rows.append(ids)
                tf_rows.append(tfs)
                doc_rows.append(np.full(len(ids), doc, dtype=np.int32))
                doc_len[doc] = float(tfs.sum())
            segment = _build_segment(revision, chunk_list, term_rows, doc_rows, tf_rows, doc_len)
            segment.surface_df = surface
            self._drop(source_id)
            self._segments[source_id] = segment
            self._df.update(segment.term_df)
            self._surface_df.update(surface)
            self._n_docs += len(chunk_list)
            self._total_len += segment.total_len
            self._by_length = None

    def remove_source(self, source_id: int) -> None:
        """Forget a source's chunks."""
        with self._lock:
            self._drop(source_id)
            self._by_length = None

    def _drop(self, source_id: int) -> None:
        old = self._segments.pop(source_id, None)
        if old is None:
            return
        self._df.subtract(old.term_df)
        self._surface_df.subtract(old.surface_df)
        self._n_docs -= len(old.chunks)
        self._total_len -= old.total_len
        # Counter.subtract leaves zero entries behind; they would look like known words.
        for tid in old.term_df:
            if self._df[tid] <= 0:
                del self._df[tid]
        for word in old.surface_df:
            if self._surface_df[word] <= 0:
                del self._surface_df[word]

    # -- querying ----------------------------------------------------------------------------

    def _idf(self, df: int) -> float:
        n = max(self._n_docs, 1)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def _corrections(self, word: str) -> list[str]:
        """Index words within one typo of `word` (two for long words), closest first."""
        if len(word) < 4 or not word.isalpha():
            return []
        max_dist = 1 if len(word) < 8 else 2
        if self._by_length is None:
            # The synonym table's words are vocabulary too, even when no chunk uses them:
            # `tial` must reach `tail` to find the notes that only say `tailer`.
            by_length: dict[int, list[str]] = {}
            for w in self._surface_df.keys() | SYNONYMS.keys():
                if w.isalpha():
                    by_length.setdefault(len(w), []).append(w)
            self._by_length = by_length
        candidates: list[tuple[int, int, str]] = []
        for length in range(len(word) - max_dist, len(word) + max_dist + 1):
            pool = self._by_length.get(length)
            if not pool:
                continue
            for cand, dist, _ in process.extract(
                word, pool, scorer=OSA.distance, score_cutoff=max_dist, limit=MAX_CORRECTIONS
            ):
                candidates.append((int(dist), -self._surface_df.get(cand, 0), cand))
        candidates.sort()
        best = candidates[0][0] if candidates else 0
        return [c for d, _, c in candidates if d == best][:MAX_CORRECTIONS]

    def _known(self, term: str) -> int | None:
        tid = self._vocab.get(term)
        return tid if tid is not None and self._df.get(tid, 0) > 0 else None

    def _groups(self, question: str) -> list[_Group]:
        groups: list[_Group] = []
        for word in content_words(question)[:MAX_QUESTION_WORDS]:
            group = _Group(word)
            tid = self._known(stem(word))
            if tid is not None:
                group.variants[tid] = 1.0
                group.idf_term = tid
                spellings = [word]
            else:
                # Keep every equally close correction: the other words of the question decide
                # which one was meant (`tial multple pods` → tail, not trial).
                spellings = [word, *self._corrections(word)]
                for fixed in spellings[1:]:
                    fid = self._known(stem(fixed))
                    if fid is not None:
                        group.variants.setdefault(fid, TYPO_WEIGHT)
                        if group.idf_term is None:
                            group.idf_term = fid
            for spelling in spellings:
                for syn in SYNONYMS.get(spelling, ()) + SYNONYMS.get(stem(spelling), ()):
                    sid = self._known(stem(syn))
                    if sid is not None and sid not in group.variants:
                        base = 1.0 if spelling == word else TYPO_WEIGHT
                        group.variants[sid] = base * SYNONYM_WEIGHT
                        if group.idf_term is None:
                            group.idf_term = sid
            groups.append(group)
        # A word the question says outright is not also a synonym of another of its words:
        # `tailing ... logs` must not count `log` twice.
        exact = {t for g in groups for t, w in g.variants.items() if w == 1.0}
        for g in groups:
            for tid in [t for t, w in g.variants.items() if w < 1.0 and t in exact]:
                del g.variants[tid]
        return groups

    def search(self, question: str, limit: int = 3) -> SearchResult:
        """Rank chunks for a question; `answered` is False when nothing covers it well enough."""
        question = question.strip()
        query = _COMMAND_PREFIX.sub("", question)
        with self._lock:
            groups = self._groups(query)
            segments = list(self._segments.values())
            if not groups or not self._n_docs:
                return SearchResult(question, False, [])
            avg_len = self._total_len / max(self._n_docs, 1)
            # An unknown word weighs like the rarest known one: it is information the corpus
            # lacks, and it must pull the coverage of every chunk down.
            rare_idf = self._idf(1)
            group_idf = [
                self._idf(self._df[g.idf_term]) if g.idf_term is not None else rare_idf
                for g in groups
            ]
            total_idf = sum(group_idf)
            idf_of = {t: self._idf(self._df[t]) for g in groups for t in g.variants}

            candidates: list[tuple[float, float, IndexedChunk]] = []
            for seg in segments:
                n = len(seg.chunks)
                if n == 0:
                    continue
                norm = K1 * (1 - B + B * seg.doc_len / avg_len)
                score = np.zeros(n, dtype=np.float32)
                cover = np.zeros(n, dtype=np.float32)
                for g, g_idf in zip(groups, group_idf, strict=True):
                    best = None
                    best_w = None
                    for tid, weight in g.variants.items():
                        pos = int(np.searchsorted(seg.term_ids, tid))
                        if pos >= len(seg.term_ids) or seg.term_ids[pos] != tid:
                            continue
                        lo, hi = seg.indptr[pos], seg.indptr[pos + 1]
                        docs = seg.docs[lo:hi]
                        tf = seg.tfs[lo:hi]
                        contrib = idf_of[tid] * weight * tf * (K1 + 1) / (tf + norm[docs])
                        if best is None:
                            best = np.zeros(n, dtype=np.float32)
                            best_w = np.zeros(n, dtype=np.float32)
                        best[docs] = np.maximum(best[docs], contrib)
                        # Coverage asks "is this word's meaning there?": a synonym or a
                        # corrected typo answers yes, only a little less surely.
                        best_w[docs] = np.maximum(best_w[docs], 1.0 if weight == 1.0 else 0.9)
                    if best is not None:
                        score += best
                        cover += best_w * g_idf
                k = min(limit * 4 + 8, n)
                # Coordination: among chunks with similar BM25, the one that matches more of
                # the question's distinct words ranks first.
                ranked = score * (cover / total_idf)
                top = np.argpartition(-ranked, k - 1)[:k] if k < n else np.arange(n)
                for doc in top:
                    if score[doc] > 0:
                        candidates.append(
                            (float(ranked[doc]), float(cover[doc]) / total_idf, seg.chunks[doc])
                        )
        candidates.sort(key=lambda c: (-c[0], c[2].id))
        hits = _distinct(candidates, limit)
        if not hits:
            return SearchResult(question, False, [])
        top_score = hits[0][0]
        result = [
            Hit(chunk, round(min(1.0, cov * (0.5 + 0.5 * s / top_score)), 3), round(cov, 3))
            for s, cov, chunk in hits
        ]
        return SearchResult(question, result[0].coverage >= ANSWER_THRESHOLD, result)


def _last_section(section: str) -> str:
    return section.rsplit(SECTION_SEP, 1)[-1].strip()


def _distinct(
    candidates: list[tuple[float, float, IndexedChunk]], limit: int
) -> list[tuple[float, float, IndexedChunk]]:
    """Best chunk per article, and no note chunk nested in (or around) one already chosen."""
    chosen: list[tuple[float, float, IndexedChunk]] = []
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


def _build_segment(
    revision: int,
    chunks: list[IndexedChunk],
    term_rows: list[np.ndarray],
    doc_rows: list[np.ndarray],
    tf_rows: list[np.ndarray],
    doc_len: np.ndarray,
) -> _Segment:
    if term_rows:
        terms = np.concatenate(term_rows)
        docs = np.concatenate(doc_rows)
        tfs = np.concatenate(tf_rows)
        order = np.argsort(terms, kind="stable")
        terms, docs, tfs = terms[order], docs[order], tfs[order]
        term_ids, counts = np.unique(terms, return_counts=True)
    else:
        term_ids = counts = np.zeros(0, dtype=np.int32)
        docs = np.zeros(0, dtype=np.int32)
        tfs = np.zeros(0, dtype=np.float32)
    indptr = np.zeros(len(term_ids) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return _Segment(
        revision=revision,
        chunks=chunks,
        term_ids=term_ids.astype(np.int32),
        indptr=indptr,
        docs=docs,
        tfs=tfs,
        doc_len=doc_len,
        term_df={int(t): int(c) for t, c in zip(term_ids, counts, strict=True)},
        surface_df=Counter(),
        total_len=float(doc_len.sum()),
    )
