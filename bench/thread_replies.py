"""What closing the loop costs: every channel message reaches the bot, and Home lists the
questions nobody could answer.

    .venv/bin/python bench/thread_replies.py [--threads 10000] [--asked 100000]
                                             [--database-url URL]

Stores `--threads` threads where the bot said "I don't know" and `--asked` asked questions
(over 5,000 questions and 300 people; a fifth of the questions never answered), then times per
call (median of 2,000, or of 15 for the lists): a top-level channel message (filtered in
memory), a reply in a thread the bot did not answer (one UPDATE that matches nothing),
`AskedQuestions.unanswered()` (what each Home opening adds) and `AskedQuestions.top()` (the
"most asked" list Home already had). A PostgreSQL URL is used in a fresh schema, dropped
afterwards; the default is a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bench.common import fresh_database
from bot.db.models import AskedQuestion, UnansweredThread
from bot.db.session import make_engine, session_factory, upgrade
from bot.slack.asked import AskedQuestions
from bot.slack.thread_offers import ThreadOffers


def fill(sessions: Any, threads: int, asked: int) -> None:
    with sessions.begin() as session:
        session.execute(
            insert(UnansweredThread),
            [
                {
                    "channel_id": f"C{n % 50:08d}",
                    "thread_ts": f"1700{n:06d}.000100",
                    "asker_id": f"U{n % 300:08d}",
                    "question": f"question {n}",
                }
                for n in range(threads)
            ],
        )
        session.execute(
            insert(AskedQuestion),
            [
                {
                    "question": f"question {n % 5000}",
                    "question_key": f"question {n % 5000}",
                    "user_id": f"U{n % 300:08d}",
                    "channel_id": "C00000001",
                    "surface": "command",
                    # A fifth of the questions never answered, the rest answered two times in three.
                    "answered": n % 5000 < 4000 and n % 3 != 0,
                }
                for n in range(asked)
            ],
        )


def per_call(fn: Callable[[], object], runs: int) -> float:
    """Median seconds per call."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--asked", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with fresh_database(args.database_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        runtime: Any = SimpleNamespace(sessions=session_factory(engine))
        fill(runtime.sessions, args.threads, args.asked)
        offers, asked = ThreadOffers(runtime), AskedQuestions(runtime)
        client: Any = None  # never reached: no message here earns an offer
        base = {"channel_type": "channel", "channel": "C00000001", "user": "U00000001"}
        top_level = {**base, "ts": "1800000000.000100", "text": "deploying now"}
        reply = {**top_level, "thread_ts": "1799999999.000100"}
        kind = url.split(":", 1)[0]
        print(f"{kind}: {args.threads} unanswered threads, {args.asked} asked questions")
        cost = per_call(lambda: offers.on_reply(top_level, bot_user_id="UBOT", client=client), 2000)
        print(f"  top-level channel message: {cost * 1e6:8.1f} µs")
        cost = per_call(lambda: offers.on_reply(reply, bot_user_id="UBOT", client=client), 2000)
        print(f"  reply in another thread:   {cost * 1e3:8.2f} ms")
        listed: list[tuple[str, int]] = []
        cost = per_call(lambda: listed.extend(asked.unanswered()), 15)
        print(f"  unanswered() for Home:     {cost * 1e3:8.2f} ms ({len(listed) // 15} listed)")
        cost = per_call(asked.top, 15)
        print(f"  top() for Home (before):   {cost * 1e3:8.2f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
