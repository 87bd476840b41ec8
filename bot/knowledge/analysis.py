"""Text analysis shared by indexing and querying: tokens, stems, stop words, synonyms."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import snowballstemmer

# Words carry dots, dashes and underscores inside (`kubectl`, `m5a`, `systemd-nspawn`,
# `proxy_pass`); we split those into parts as well so both forms match.
_WORD = re.compile(r"[a-z0-9]+(?:[._\-'][a-z0-9]+)*", re.I)
_PARTS = re.compile(r"[a-z0-9]+")
# Identifiers written in CamelCase (`KubePodCrashLooping`, `StatefulSet`, `etcdNoLeader`,
# `CPUThrottlingHigh`) are split into their words too, so "pod crash looping" finds the alert.
_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_TRAILING = re.compile(r"[\s?!.]+$")

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "can't",
        "cannot",
        "could",
        "couldn't",
        "did",
        "didn't",
        "do",
        "does",
        "doesn't",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "getting",
        "had",
        "hadn't",
        "has",
        "hasn't",
        "have",
        "haven't",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "i'd",
        "i'm",
        "i've",
        "if",
        "in",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "let's",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "need",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "please",
        "same",
        "shall",
        "she",
        "should",
        "shouldn't",
        "so",
        "some",
        "such",
        "than",
        "that",
        "that's",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "there's",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "use",
        "using",
        "very",
        "via",
        "vs",
        "versus",
        "was",
        "wasn't",
        "we",
        "were",
        "weren't",
        "what",
        "what's",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "won't",
        "would",
        "wouldn't",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "thing",
        "things",
        "way",
        "ways",
        "want",
        "wanted",
        "tell",
        "show",
        "know",
        "explain",
        "help",
        "make",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "devops",
        "difference",
        "between",
    ]
)

# Contractions lose their apostrophe when tokenized (`what's` → `whats`); their stop-word status
# must survive that. `i'd` is left out: `id` is a word DevOps questions use.
STOP_WORDS = STOP_WORDS | frozenset(
    w.replace("'", "") for w in STOP_WORDS if "'" in w and w.replace("'", "") != "id"
)

# True abbreviations only: meaning beyond spelling (tail ≈ follow, price ≈ cost) is the
# embedding model's job, and a hand-made table tuned on one team's notes does not carry over.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "k8s": ("kubernetes",),
    "kube": ("kubernetes",),
    "kubernetes": ("k8s",),
    "pg": ("postgresql", "postgres"),
    "postgres": ("postgresql",),
    "tf": ("terraform",),
    "gh": ("github",),
    "gha": ("github", "actions"),
    "db": ("database",),
    "repo": ("repository",),
    "auth": ("authentication",),
    "config": ("configuration",),
    "js": ("javascript",),
    "vm": ("virtual", "machine"),
}


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Porter2 stem of one lower-case word; cached, since vocabularies repeat."""
    if not word.isalpha() or len(word) <= 3:
        return word
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def dictionary_words() -> frozenset[str]:
    """The words the embedding model's vocabulary holds whole (~22,500, lower case): real words
    of the language (`peek`, `broke`, `lands`), which a question may use although no note does,
    so never typos to correct into an index word (`week`, `broker`, `hands`). Misspellings
    (`multple`, `dokcer`) are not among them: the model only knows those in pieces."""
    vocab = resources.files("bot.knowledge") / "model" / "vocab.txt"
    return frozenset(filter(str.isalpha, vocab.read_text(encoding="utf-8").split()))


def question_key(question: str) -> str:
    """A question's normalized form, by which the same question asked twice is recognised:
    lower case, single spaces, no trailing '?', '!' or '.'."""
    return _TRAILING.sub("", " ".join(question.lower().split()))[:255]


def words(text: str) -> list[str]:
    """Lower-case words of `text`, compound words followed by their parts."""
    out: list[str] = []
    for raw in _WORD.findall(text):
        word = raw.lower().replace("'", "")
        out.append(word)
        parts = _PARTS.findall(word) if not word.isalnum() else [word]
        if _CAMEL.search(raw):
            camel = _CAMEL_PARTS.findall(raw)
            # `IPv6`, `iOS`: a one-letter piece means the capitals are no word boundaries.
            if all(len(p) > 1 or p.isdigit() for p in camel):
                parts = [p.lower() for p in camel]
        if len(parts) > 1:
            out.extend(parts)
    return out


def terms(text: str) -> list[str]:
    """Index terms: stemmed words without stop words (for documents)."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


def content_words(text: str) -> list[str]:
    """The words of a question that carry meaning, in order, without duplicates."""
    seen: dict[str, None] = {}
    for w in words(text):
        if w not in STOP_WORDS and w not in seen:
            seen[w] = None
    return list(seen)
