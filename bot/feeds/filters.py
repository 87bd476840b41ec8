"""Per-subscription include/exclude filters: pure functions over an entry's title, summary, tags.

A filter is a keyword or phrase matched case-insensitively on word boundaries (`k8s`, `release
notes`), or a regular expression written `/pattern/` or `re:pattern` (also case-insensitive).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.db.models import Article, Subscription

MAX_FILTERS = 50
MAX_FILTER_LENGTH = 200


class FilterError(ValueError):
    """A filter cannot be used; the message says which one and why."""


@dataclass(frozen=True)
class Filter:
    """One compiled filter, keeping the text the user wrote."""

    raw: str
    pattern: re.Pattern[str]

    def matches(self, text: str) -> bool:
        """True when the filter finds its keyword or pattern in `text`."""
        return self.pattern.search(text) is not None


def compile_filter(spec: str) -> Filter:
    """Compile one filter spec; raises FilterError with a readable message."""
    raw = spec.strip()
    if not raw:
        raise FilterError("an empty filter matches nothing; give a keyword or /regex/")
    if len(raw) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter {raw[:40]!r}… is longer than {MAX_FILTER_LENGTH} characters")
    if raw.startswith("re:") or (len(raw) > 2 and raw.startswith("/") and raw.endswith("/")):
        source = raw[3:] if raw.startswith("re:") else raw[1:-1]
        try:
            return Filter(raw, re.compile(source, re.IGNORECASE))
        except re.error as exc:
            raise FilterError(f"filter {raw!r} is not a valid regular expression: {exc}") from None
    # Word boundaries that also work for keywords starting or ending in punctuation (`c++`).
    words = r"\s+".join(re.escape(w) for w in raw.split())
    return Filter(raw, re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE))


def compile_filters(specs: Iterable[str]) -> list[Filter]:
    """Compile every spec (blank ones skipped); raises FilterError on the first bad one."""
    cleaned = [s.strip() for s in specs if s and s.strip()]
    if len(cleaned) > MAX_FILTERS:
        raise FilterError(f"at most {MAX_FILTERS} filters per subscription")
    return [compile_filter(s) for s in cleaned]


def filter_text(title: str, summary: str, tags: str) -> str:
    """The text filters look at: title, summary and tags, one per line."""
    return f"{title}\n{summary}\n{tags}"


def keep(text: str, include: Sequence[Filter], exclude: Sequence[Filter]) -> bool:
    """Kept when some include filter matches (or there are none) and no exclude filter does."""
    if include and not any(f.matches(text) for f in include):
        return False
    return not any(f.matches(text) for f in exclude)


def dump_specs(specs: Sequence[str]) -> str:
    """Filters as stored in the database (a JSON list)."""
    return json.dumps([s.strip() for s in specs if s and s.strip()])


def load_specs(stored: str | None) -> list[str]:
    """Filters read back from the database; unreadable values count as none."""
    try:
        value = json.loads(stored or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def article_filter(sub: Subscription) -> Callable[[Article], bool]:
    """Whether an article passes the subscription's include/exclude filters (compiled once)."""
    include = compile_filters(load_specs(sub.include_filters))
    exclude = compile_filters(load_specs(sub.exclude_filters))

    def passes(article: Article) -> bool:
        text = filter_text(article.title, article.summary or article.text[:2000], article.tags)
        return keep(text, include, exclude)

    return passes
