"""Entry identity that survives URL rewrites: one canonical form for every spelling of a URL.

Pure functions shared by the parser (new entries) and the migration that normalized stored keys.
A site moving to https, adding or dropping `www.`, or adding a trailing slash keeps each entry's
identity, so nothing is announced again.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

MAX_KEY = 512
_DEFAULT_PORTS = {"http": 80, "https": 443}


def digest(*parts: str) -> str:
    """sha256 hex of the parts, joined by a separator no feed text carries."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def bounded(key: str) -> str:
    """A key that fits the column: longer ones become their digest."""
    return key if len(key) <= MAX_KEY else "sha256:" + digest(key)


def canonical_url(value: str) -> str:
    """The identity form of an http(s) URL: https, lowercase host without `www.` or default
    port, no trailing slash on the path (the root stays `/`). Anything else comes back stripped.

    `http://www.Ops.example/a/` and `https://ops.example/a` are one entry; a guid that is not an
    http(s) URL (`tag:…`, `urn:uuid:…`, `post-12`) is an opaque, case-sensitive string.
    """
    value = value.strip()
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in _DEFAULT_PORTS:
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:  # a bad port or bracketed host: not a URL we can reason about
        return value
    if not host:
        return value
    host = host.removeprefix("www.")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme.lower()]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"https://{host}{path}{query}{fragment}"


def link_key(url: str | None) -> str | None:
    """What an entry's link is compared by when its guid changed (None without a link)."""
    return bounded(canonical_url(url)) if url else None


def duplicate_suffix(url: str | None, raw_title: str) -> str:
    """Tells apart entries repeating one guid in a document; stable across URL rewrites."""
    return digest(canonical_url(url) if url else "", raw_title)[:16]
