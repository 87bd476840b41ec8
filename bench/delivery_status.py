"""What the delivery status lines cost: `feeds list` / App Home and `feeds log` over a big outbox.

    .venv/bin/python bench/delivery_status.py [--feeds 50] [--channels 4] [--articles 1000]
                                              [--database-url URL]

Builds `--feeds` feeds of `--articles` posted articles each, subscribed in `--channels`
channels (200,000 delivery rows by default), a few posts waiting behind a rate limit and one
given up; then times `list_subscriptions` (what `feeds list`, `/devops feeds` and the Home tab
call, delivery status included) and `delivery_log` (`feeds log`), best of 15 runs each.
A PostgreSQL URL is used in a fresh schema, dropped afterwards; the default is a temporary
SQLite file.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text, update

from bench.common import fresh_database
from bot.db.models import Article, Delivery, Feed, Source, Subscription, utcnow
from bot.db.session import make_engine, session_factory, upgrade
from bot.delivery_log import delivery_log
from bot.subscriptions import list_subscriptions


def fill(sessions, feeds: int, channels: int, articles: int) -> int:
    now = utcnow()
    with sessions.begin() as session:
        for f in range(feeds):
            source = Source(kind="feed", key=f"https://feeds.example/{f}", title=f"Feed {f}")
            session.add(source)
            session.flush()
            feed = Feed(source_id=source.id, url=source.key, title=source.title)
            session.add(feed)
            session.flush()
            session.execute(
                insert(Article),
                [
                    {"source_id": source.id, "entry_key": f"{f}-{a}", "content_hash": "h"}
                    for a in range(articles)
                ],
            )
            ids = session.scalars(select(Article.id).where(Article.source_id == source.id)).all()
            for c in range(channels):
                sub = Subscription(feed_id=feed.id, channel_id=f"C0CHAN{c:03d}", status="active")
                session.add(sub)
                session.flush()
                rows = [
                    {
                        "subscription_id": sub.id,
                        "article_id": a,
                        "state": "posted",
                        "posted_at": now - timedelta(minutes=i),
                        "sort_at": now - timedelta(minutes=i),
                        "created_at": now - timedelta(minutes=i),
                        "next_attempt_at": now,
                        "attempts": 1,
                    }
                    for i, a in enumerate(ids)
                ]
                session.execute(insert(Delivery), rows)
        # Channel 0 is rate limited with three posts waiting; one post was given up.
        first = session.scalars(select(Delivery.id).order_by(Delivery.id).limit(4)).all()
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(first[:3]))
            .values(
                state="pending",
                posted_at=None,
                next_attempt_at=now + timedelta(minutes=5),
                last_error="Slack rate limit (HTTP 429, Retry-After 300s)",
                last_error_kind="rate_limited",
            )
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == first[3])
            .values(state="failed", posted_at=None, claimed_at=now, last_error="invalid_blocks")
        )
        return int(session.scalar(select(Delivery.id).order_by(Delivery.id.desc()).limit(1)))


def best_ms(action: Callable[[], object], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with fresh_database(args.database_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        rows = fill(sessions, args.feeds, args.channels, args.articles)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))

        def listed() -> object:
            with sessions() as session:
                return list_subscriptions(session)

        def logged() -> object:
            with sessions() as session:
                return delivery_log(session, utcnow(), limit=20)

        views = listed()
        assert any(v.delivery and v.delivery.waiting == 3 for v in views)
        print(f"{engine.dialect.name}: {rows} deliveries, {len(views)} subscriptions")
        print(f"  list_subscriptions (feeds list, Home): {best_ms(listed):.1f} ms")
        print(f"  delivery_log, newest 20 (feeds log):   {best_ms(logged):.1f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
