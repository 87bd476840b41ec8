"""A daily digest through a restart and two replicas, on loopback (target: 1 message, or its
numbered parts, listing every entry exactly once).

    .venv/bin/python bench/digests.py [--entries 50] [--database-url URL]

A channel subscribes to a loopback feed with `--digest daily@09:00`; `--entries` new entries
arrive before 09:00 and are collected. The replica that collected them stops (a restart);
at 09:00 two new replicas (own engines, like two processes) tick at the same instant, and a
third tick follows. Counted from what the local fake Slack Web API received: digest
messages, entries listed, entries listed more than once, entries never listed.
A PostgreSQL URL is used in a fresh schema, dropped afterwards; the default is a temporary
SQLite file.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from fakes import FakeSlack, FeedServer  # noqa: E402

from bench.common import fresh_database  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.db.models import utcnow  # noqa: E402
from bot.runtime import Runtime, open_runtime  # noqa: E402
from bot.scheduler import PollReport, poll_once  # noqa: E402
from bot.slack.announce import ChannelPacer, make_client  # noqa: E402
from bot.subscriptions import subscribe  # noqa: E402

CHANNEL = "C0BENCH01"
LINE = re.compile(r"^• <[^|>]+\|Entry (\d+)>$", re.M)


def feed(entries: int) -> bytes:
    """RSS 2.0 with an old entry and `entries` new ones, newest first."""
    items = [
        f"<item><title>Entry {n}</title><link>https://ops.example/e/{n}</link>"
        f'<guid isPermaLink="false">e-{n}</guid></item>'
        for n in reversed(range(entries))
    ]
    old = '<item><title>Old</title><guid isPermaLink="false">old</guid></item>'
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Ops Blog</title><link>https://ops.example/</link><description>bench</description>"
        f"{''.join(items)}{old}</channel></rss>"
    ).encode()


def replica(url: str, slack: FakeSlack) -> Runtime:
    settings = load_settings(
        env_file=None,
        devopsbot_database_url=url,
        devopsbot_allow_private_urls=True,
        devopsbot_post_interval=0,
        slack_bot_token="xoxb-bench",
        slack_api_url=slack.api_url,
    )
    return open_runtime(settings)


def tick(runtime: Runtime, when: datetime) -> PollReport:
    client = make_client(runtime.settings)
    return poll_once(runtime, client, now=when, pacer=ChannelPacer(0))


def run(entries: int, database_url: str | None) -> dict[str, object]:
    feeds, slack = FeedServer().start(), FakeSlack().start()
    try:
        with fresh_database(database_url) as url:
            first = replica(url, slack)
            feed_url = feeds.serve("/ops.xml", feed(0))
            with first.sessions.begin() as session:
                subscribe(session, feed_url, CHANNEL, first.settings, digest="daily@09:00")
            day = (utcnow() + timedelta(days=2)).date()
            nine = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
            feeds.serve("/ops.xml", feed(entries))
            collected = tick(first, nine - timedelta(hours=1)).new
            first.engine.dispose()  # the restart: this replica is gone

            replicas = [replica(url, slack) for _ in range(2)]
            barrier = threading.Barrier(2)
            reports: list[PollReport | None] = [None, None]

            def go(i: int) -> None:
                barrier.wait()
                reports[i] = tick(replicas[i], nine)

            started = time.perf_counter()
            threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            elapsed = time.perf_counter() - started
            tick(replicas[0], nine + timedelta(minutes=5))  # a later tick posts nothing more
            for r in replicas:
                r.engine.dispose()
        posts = [p for p in slack.posted() if p.get("channel") == CHANNEL]
        listed = Counter(
            int(n)
            for p in posts
            for b in p.get("blocks") or []
            if isinstance(b, dict) and b.get("type") == "section"
            for n in LINE.findall(b["text"]["text"])
        )
        return {
            "entries": entries,
            "collected": collected,
            "digests made": sum(r.digests for r in reports if r),
            "messages": len(posts),
            "parts": [p["blocks"][0]["text"]["text"].rsplit("*", 1)[-1].strip() for p in posts]
            if len(posts) > 1
            else "one message, not split",
            "entries listed": sum(listed.values()),
            "listed twice": sum(1 for c in listed.values() if c > 1),
            "never listed": entries - len(listed),
            "two-replica tick s": round(elapsed, 2),
        }
    finally:
        feeds.stop()
        slack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    result = run(args.entries, args.database_url)
    store = "postgresql" if (args.database_url or "").startswith("postgresql") else "sqlite"
    print(f"store: {store}")
    for key, value in result.items():
        print(f"{key:>20}: {value}")
    ok = result["listed twice"] == 0 and result["never listed"] == 0
    sys.exit(0 if ok and result["digests made"] == 1 else 1)


if __name__ == "__main__":
    main()
