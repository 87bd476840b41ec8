"""Reposts after a feed rewrites its entry URLs, on loopback (target: 0 duplicates, 0 losses).

    .venv/bin/python bench/guid_rewrite.py [--entries 12]

For each scenario: a fresh SQLite store, a loopback feed server and the local fake Slack Web
API. A channel subscribes to an `--entries`-entry feed whose guids and links are http URLs,
with every entry backfilled (so each one is posted once), and a poll posts them. Then the
feed rewrites every guid and link as the scenario says, adds one genuinely new entry, and a
second and a third poll run. Counted from what the fake Slack received:

  duplicates  posts of entries the channel had already been sent
  losses      new entries that were never posted

Only uses APIs older than this bench, so it also measures older code:
`PYTHONPATH=/path/to/old/checkout python bench/guid_rewrite.py`.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakes import FakeSlack, FeedServer  # noqa: E402

from bot.config import load_settings  # noqa: E402
from bot.db.models import utcnow  # noqa: E402
from bot.runtime import open_runtime  # noqa: E402
from bot.scheduler import poll_once  # noqa: E402
from bot.slack.announce import make_client  # noqa: E402
from bot.subscriptions import subscribe  # noqa: E402

CHANNEL = "C0BENCH01"
TITLE = re.compile(r"\bPost (\d+)\b")
DAY = datetime(2025, 3, 1, tzinfo=UTC)
Spelling = Callable[[int], tuple[str, str]]  # entry number → (guid, link)

SCENARIOS: dict[str, Spelling] = {
    "http → https": lambda n: (f"https://ops.example/posts/{n}",) * 2,
    "http → https, www. added": lambda n: (f"https://www.ops.example/posts/{n}",) * 2,
    "trailing slash added": lambda n: (f"http://ops.example/posts/{n}/",) * 2,
    "guid scheme changed, link → https": lambda n: (
        f"tag:ops.example,2025:post-{n}",
        f"https://ops.example/posts/{n}",
    ),
}


def before(n: int) -> tuple[str, str]:
    return (f"http://ops.example/posts/{n}",) * 2


def feed(numbers: range, spelling: Spelling) -> bytes:
    """RSS 2.0 with entries `numbers`, newest first, titled by their number."""
    items = []
    for n in reversed(numbers):
        guid, link = spelling(n)
        items.append(
            f"<item><title>Post {n}</title><link>{link}</link>"
            f'<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>{format_datetime(DAY + timedelta(days=n))}</pubDate>"
            f"<description>Body of post {n}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Ops Blog</title><link>http://ops.example/</link><description>bench</description>"
        f"{''.join(items)}</channel></rss>"
    ).encode()


def posted_numbers(slack: FakeSlack) -> list[int]:
    """The entry number of every announcement the fake Slack received, in order."""
    return [
        int(m.group(1))
        for post in slack.posted()
        if post.get("channel") == CHANNEL and (m := TITLE.search(post["text"]))
    ]


def run(entries: int, spelling: Spelling, tmp: Path) -> tuple[int, int, int]:
    """Posts after the rewrite, duplicates and losses for one scenario."""
    server, slack = FeedServer().start(), FakeSlack().start()
    try:
        settings = load_settings(
            env_file=None,
            devopsbot_database_url=f"sqlite:///{tmp / 'bench.db'}",
            devopsbot_allow_private_urls=True,
            devopsbot_sample_data=False,
            devopsbot_post_interval=0,
            slack_bot_token="xoxb-bench",
            slack_api_url=slack.api_url,
        )
        rt = open_runtime(settings)
        client = make_client(settings)
        url = server.serve("/ops.xml", feed(range(1, entries + 1), before))
        with rt.sessions.begin() as session:
            subscribe(session, url, CHANNEL, settings, backfill=entries)
        now = utcnow()
        poll_once(rt, client, now=now)
        first = len(posted_numbers(slack))
        assert first == entries, f"the backfill posted {first} of {entries}"

        server.serve("/ops.xml", feed(range(1, entries + 2), spelling))  # one new entry on top
        for hours in (1, 2):
            poll_once(rt, client, now=now + timedelta(hours=hours))
        rt.engine.dispose()
    finally:
        server.stop()
        slack.stop()
    counts = Counter(posted_numbers(slack))
    duplicates = sum(c - 1 for c in counts.values())
    losses = 0 if counts[entries + 1] else 1
    return sum(counts.values()) - first, duplicates, losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=12)
    args = ap.parse_args()
    print(f"{args.entries} entries posted once, then every guid and link rewritten plus 1 new")
    print(f"{'scenario':<36}{'posts after':>12}{'duplicates':>12}{'losses':>8}")
    totals = [0, 0]
    for name, spelling in SCENARIOS.items():
        with tempfile.TemporaryDirectory() as tmp:
            posts, duplicates, losses = run(args.entries, spelling, Path(tmp))
        totals[0] += duplicates
        totals[1] += losses
        print(f"{name:<36}{posts:>12}{duplicates:>12}{losses:>8}")
    print(f"{'total':<36}{'':>12}{totals[0]:>12}{totals[1]:>8}   (target: 0 and 0)")


if __name__ == "__main__":
    main()
