"""Migration 0007 on SQLite and PostgreSQL: entry keys stored by the older parser (raw URLs)
become the canonical keys the parser now gives, so nothing stored is announced again; two rows
that become one key keep one mapping and the migration does not fail."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from feedkit import Bot, posted_title, rss, rss_item
from sqlalchemy import inspect, select

from bot.db.models import Article, Base, Chunk, Source
from bot.db.session import alembic_config, upgrade
from bot.db.store import get_or_create_source
from bot.feeds.identity import digest
from bot.feeds.ingest import store_parsed_feed
from bot.feeds.parse import parse_feed

FEED_URL = "https://ops.example/feed.xml"
LONG = "http://ops.example/" + "long/" * 120  # over 512 characters: stored as its digest
# (title, guid, link) as the feed wrote them: the older parser stored these spellings raw.
ENTRIES = [
    ("Posts one", "http://www.ops.example/posts/1/", "http://www.ops.example/posts/1/"),
    ("Posts two", None, "http://ops.example/posts/2"),
    ("Tagged", "tag:ops.example,2024:3", "http://ops.example/posts/3"),
    ("Dup one", "same", "http://ops.example/d1"),
    ("Dup two", "same", "http://ops.example/d2"),
    ("Long", None, LONG),
    ("Bare", None, None),
]


def document(entries=ENTRIES) -> bytes:
    return rss(
        [rss_item(t, link=link, guid=guid, description=f"about {t}") for t, guid, link in entries]
    )


def old_key(title: str, guid: str | None, link: str | None) -> str | None:
    """The key the parser before 0007 stored (None: a content hash, unchanged since)."""
    identity = (guid or "").strip() or link
    if identity is None:
        return None
    if guid and sum(1 for _, g, _ in ENTRIES if g == guid) > 1:
        identity = f"{identity}#{digest(link or '', title)[:16]}"
    return identity if len(identity) <= 512 else "sha256:" + digest(identity)


ARTICLES = sa.table(
    "articles",
    *(sa.column(c) for c in ("id", "source_id", "entry_key", "url", "title")),
    *(sa.column(c) for c in ("summary", "text", "tags", "content_hash", "first_seen_at")),
)


def chunks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(sa.func.count()).select_from(Chunk))


def as_stored_before_0007(engine: sa.Engine, extra: tuple[tuple[int, str, str], ...] = ()) -> None:
    """Downgrade to 0006 and give the stored articles the keys the older parser gave them;
    `extra` adds (source id, entry key, url) rows, oldest first."""
    indexed = chunks(engine)
    command.downgrade(alembic_config(engine), "0006")
    assert chunks(engine) == indexed > 0  # going back loses no article text
    assert "link_key" not in {c["name"] for c in inspect(engine).get_columns("articles")}
    with engine.begin() as conn:
        for title, guid, link in ENTRIES:
            if (key := old_key(title, guid, link)) is not None:
                conn.execute(
                    ARTICLES.update().where(ARTICLES.c.title == title).values(entry_key=key)
                )
        for n, (source_id, key, url) in enumerate(extra):
            conn.execute(
                ARTICLES.insert().values(
                    source_id=source_id,
                    entry_key=key,
                    url=url,
                    title=f"extra {n}",
                    summary="",
                    text="",
                    tags="",
                    content_hash="x",
                    first_seen_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=n),
                )
            )


def test_stored_keys_become_the_parsers_keys_and_a_collision_keeps_one(engine, sessions, caplog):
    parsed = parse_feed(document(), FEED_URL)
    with sessions.begin() as s:
        source = get_or_create_source(s, "feed", FEED_URL, parsed.title)
        other = get_or_create_source(s, "feed", "https://other.example/feed.xml", "Other")
        store_parsed_feed(s, source, parsed)
        sid, oid = source.id, other.id
    as_stored_before_0007(
        engine,
        (
            # The older parser stored an http → https move twice: the newest row takes the key.
            (sid, "http://ops.example/moved", "http://ops.example/moved"),
            (sid, "https://www.ops.example/moved/", "https://www.ops.example/moved/"),
            # A row already in canonical form keeps it against a newer raw spelling.
            (sid, "https://ops.example/kept", "https://ops.example/kept"),
            (sid, "http://ops.example/kept/", "http://ops.example/kept/"),
            # The same key in another feed is no collision.
            (oid, "http://ops.example/posts/2", "http://ops.example/posts/2"),
        ),
    )
    with caplog.at_level(logging.WARNING, logger="bot.db.migrations"):
        upgrade(engine, "head")

    with sessions() as s:
        rows = {a.title: a for a in s.scalars(select(Article).where(Article.source_id == sid))}
        for entry in parsed.entries:
            (article,) = [a for a in rows.values() if a.url == entry.url]
            assert (article.entry_key, article.link_key) == (entry.key, entry.link_key)
        assert rows["Posts one"].entry_key == "https://ops.example/posts/1"
        assert rows["Long"].entry_key == "sha256:" + digest(LONG.replace("http:", "https:")[:-1])
        keys = {a.title: (a.entry_key, a.link_key) for a in rows.values()}
        assert keys["extra 0"] == ("http://ops.example/moved", None)
        assert keys["extra 1"] == ("https://ops.example/moved", "https://ops.example/moved")
        assert keys["extra 2"] == ("https://ops.example/kept", "https://ops.example/kept")
        assert keys["extra 3"] == ("http://ops.example/kept/", None)
        (in_other,) = s.scalars(select(Article.entry_key).where(Article.source_id == oid))
        assert in_other == "https://ops.example/posts/2"
    skipped = [r.getMessage() for r in caplog.records if "keeps its key" in r.getMessage()]
    assert len(skipped) == 2
    assert any("'http://ops.example/moved'" in m for m in skipped)

    # Nothing stored is new to the parser now, and the schema is the models'.
    with sessions.begin() as s:
        again = store_parsed_feed(s, s.get(Source, sid), parsed)
    assert again.new == [] and again.edited == []
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    command.downgrade(alembic_config(engine), "0006")
    assert "link_key" not in {c["name"] for c in inspect(engine).get_columns("articles")}


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


def test_a_store_from_before_0007_announces_only_news_after_an_https_move(
    bot, feed_server, fake_slack
):
    url = feed_server.serve("/ops.xml", document())
    bot.subscribe(url, "C0OPS")
    as_stored_before_0007(bot.runtime.engine)
    upgrade(bot.runtime.engine, "head")
    moved = [
        (t, g and g.replace("http://www.", "https://"), link and link.replace("http:", "https:"))
        for t, g, link in ENTRIES
    ]
    news = rss_item("Fresh", link="https://ops.example/posts/9", guid="https://ops.example/p/9")
    feed_server.serve("/ops.xml", document(moved).replace(b"<item>", news.encode() + b"<item>", 1))
    assert bot.poll().new == 1
    assert bot.poll().new == 0
    assert [posted_title(p) for p in fake_slack.posted()] == ["Fresh"]
