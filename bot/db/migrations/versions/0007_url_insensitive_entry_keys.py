"""entry keys survive URL rewrites: canonical URL keys, and a link key per article

Stored entry keys that are URLs (guids or links) are rewritten to the canonical form the parser
now produces (https, no `www.`, no trailing slash), and every article gets the canonical form
of its link, which finds it again when a feed rewrites its guids. Two stored entries whose keys
become one (the old code stored an http→https move twice) keep one mapping: the newest takes
the canonical key, the other keeps its old key and no link key, and is logged.

Downgrading drops the link key; entry keys stay canonical (the raw spellings are gone).

Revision ID: 0007
Revises: 0006
"""

import hashlib
import logging
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("bot.db.migrations")

# Same rules as bot.feeds.identity, frozen here so this migration never changes.
_MAX_KEY = 512
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BATCH = 1000


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _bounded(key: str) -> str:
    return key if len(key) <= _MAX_KEY else "sha256:" + _digest(key)


def _canonical_url(value: str) -> str:
    value = value.strip()
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in _DEFAULT_PORTS:
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return value
    if not host:
        return value
    host = host.removeprefix("www.")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme.lower()]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"https://{host}{path}{query}{fragment}"


def _link_key(url: str | None) -> str | None:
    return _bounded(_canonical_url(url)) if url else None


def canonical_key(key: str, url: str | None, title: str) -> str:
    """The key the parser now gives the entry stored as `key` (with this link and title)."""
    if key.startswith("hash:"):
        return key  # a content hash: no URL in it
    if key.startswith("sha256:"):
        # An over-long key stored as its digest: only one made from the link can be made again.
        if url and key == "sha256:" + _digest(url):
            return _bounded(_canonical_url(url))
        return key
    # A guid repeated in one document was stored as `guid#<16 hex of link and raw title>`. The
    # stored link and title reproduce that suffix for plain titles: then it is made again from
    # the canonical link; otherwise it is left as it is.
    ident, sep, suffix = key.rpartition("#")
    if sep and len(suffix) == 16 and suffix == _digest(url or "", title)[:16]:
        canonical = _canonical_url(url) if url else ""
        return _bounded(f"{_canonical_url(ident)}#{_digest(canonical, title)[:16]}")
    return _bounded(_canonical_url(key))


_articles = sa.table(
    "articles",
    sa.column("id", sa.Integer),
    sa.column("source_id", sa.Integer),
    sa.column("entry_key", sa.String),
    sa.column("url", sa.String),
    sa.column("title", sa.String),
    sa.column("link_key", sa.String),
)


def _normalize_source(conn: sa.Connection, source_id: int) -> list[dict[str, object]]:
    rows = conn.execute(
        sa.select(_articles.c.id, _articles.c.entry_key, _articles.c.url, _articles.c.title)
        .where(_articles.c.source_id == source_id)
        .order_by(_articles.c.id.desc())  # newest first: it takes a contested canonical key
    ).all()
    taken = {r.entry_key for r in rows}
    updates: list[dict[str, object]] = []
    for r in rows:
        key = canonical_key(r.entry_key, r.url, r.title or "")
        link = _link_key(r.url)
        if key != r.entry_key:
            if key in taken:
                # Its canonical key is another stored row's: the same entry stored twice.
                log.warning(
                    "article %s of source %s keeps its key %r: %r is already stored",
                    r.id,
                    source_id,
                    r.entry_key,
                    key,
                )
                key, link = r.entry_key, None
            else:
                taken.add(key)  # its old key stays taken too: never reused in this pass
        updates.append({"aid": r.id, "k": key, "l": link})
    return updates


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_key", sa.String(length=512), nullable=True))
        batch_op.create_index(
            "ix_articles_source_id_link_key", ["source_id", "link_key"], unique=False
        )
    conn = op.get_bind()
    statement = (
        _articles.update()
        .where(_articles.c.id == sa.bindparam("aid"))
        .values(entry_key=sa.bindparam("k"), link_key=sa.bindparam("l"))
    )
    sources = conn.scalars(sa.select(_articles.c.source_id).distinct()).all()
    for source_id in sources:
        updates = _normalize_source(conn, source_id)
        for start in range(0, len(updates), _BATCH):
            conn.execute(statement, updates[start : start + _BATCH])


def downgrade() -> None:
    # Not in batch mode: recreating `articles` on SQLite would drop the table, and with foreign
    # keys on that deletes every chunk and delivery of its articles. SQLite ≥ 3.35 drops columns.
    op.drop_index("ix_articles_source_id_link_key", table_name="articles")
    op.drop_column("articles", "link_key")
