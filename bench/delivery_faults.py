"""Announcements under faults, on loopback: replicas, kill -9, and Slack 429/500/timeouts.

    .venv/bin/python bench/delivery_faults.py [--database-url postgresql+psycopg://…]
                                              [--entries 12] [--kills 10] [--interval 1.0]

A feed of `--entries` entries is subscribed in two channels with a backfill of all of them, so
every entry is owed to both channels. A local fake Slack Web API records each
chat.postMessage as it arrives (its own clock, so replicas in other processes are compared on
one timeline). Scenarios:

  replicas-N  N processes (1, 2, 3) each run the bot's delivery loop on the same database;
              PostgreSQL when --database-url is given (one fresh schema per run), else SQLite.
  kill-9      one process delivers while Slack answers slowly; it is killed with SIGKILL at a
              random moment, then a second process finishes after the claim lease has run out.
  slack-*     one process delivers while Slack answers 429 (Retry-After: 2), HTTP 500, or
              accepts a post and answers after the client's timeout; deliveries are re-run until
              nothing is owed (the bench moves the clock forward instead of waiting).
              slack-429-then-500: 48 answers 429 (Retry-After: 1), then one HTTP 500 (before
              issue 8.9 the 429s counted as tries, and the 500 was the one too many).
              slack-timeout-noscope: the timeouts again, with conversations.history answering
              missing_scope (a token without channels:history: the bot cannot look).

The fake keeps what it accepted, with its message metadata, and serves it back through
conversations.history (newest first, `oldest`, `limit`, cursors), as Slack does.

For each: duplicates (an entry posted twice to one channel), losses (owed, never posted),
misorders (a channel got an entry before an older one), and the minimum gap between two posts
in one channel (target ≥ 0.9 × DEVOPSBOT_POST_INTERVAL). The guid-rewrite case has its own
script, bench/guid_rewrite.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import fresh_database  # noqa: E402

CHANNELS = ("C0FAULTS1", "C0FAULTS2")
CHANNEL_LEASE_S = 20  # bot.db.channel_leases.CHANNEL_LEASE, read by the bot processes
_TITLE = re.compile(r"Fault entry (\d+)")


# -- the feed and the fake Slack ---------------------------------------------------------------


def feed_xml(entries: int) -> bytes:
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    items = "".join(
        f"<item><title>Fault entry {i:02d}</title><link>https://faults.example/p/{i}</link>"
        f'<guid isPermaLink="false">fault-{i}</guid>'
        f"<pubDate>{format_datetime(start + timedelta(hours=i))}</pubDate>"
        f"<description>Body of entry {i}.</description></item>"
        for i in range(entries)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Faults</title>'
        f"<link>https://faults.example/</link>{items}</channel></rss>"
    ).encode()


@dataclass
class Post:
    at: float
    channel: str
    entry: int


@dataclass
class Slack:
    """Fake Web API. `plan` answers the next calls of chat.postMessage: ("ok"), ("429", secs),
    ("500"), ("slow", secs: accepted and recorded, answered after `secs`). `history_error`
    makes conversations.history answer that error instead of the accepted messages."""

    posts: list[Post] = field(default_factory=list)
    plan: list[tuple[str, float]] = field(default_factory=list)
    delay: float = 0.0
    history_error: str | None = None
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def history(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.history_error:
            return {"ok": False, "error": self.history_error}
        with self.lock:
            found = list(self.messages.get(str(args.get("channel")), []))
        oldest = float(args.get("oldest") or 0)
        found = [m for m in reversed(found) if float(m["ts"]) > oldest]
        if str(args.get("include_all_metadata")).lower() not in ("1", "true"):
            found = [{k: v for k, v in m.items() if k != "metadata"} for m in found]
        start = int(args.get("cursor") or 0)
        limit = int(args.get("limit") or 100)
        page = found[start : start + limit]
        more = start + limit < len(found)
        cursor = str(start + limit) if more else ""
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": cursor},
        }

    def answer(self, method: str, args: dict[str, Any]) -> tuple[int, dict, dict, float]:
        if method == "conversations.history":
            return 200, self.history(args), {}, 0.0
        if method != "chat.postMessage":
            return 200, {"ok": True}, {}, 0.0
        with self.lock:
            step = self.plan.pop(0) if self.plan else ("ok", 0.0)
        if step[0] == "429":
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(step[1])}, 0.0
        if step[0] == "500":
            return 500, {"ok": False, "error": "internal_error"}, {}, 0.0
        match = _TITLE.search(str(args.get("text", "")))
        with self.lock:
            if match:
                self.posts.append(Post(time.monotonic(), str(args["channel"]), int(match[1])))
            ts = f"{time.time():.6f}"
            message = {"type": "message", "ts": ts, "text": args.get("text"), "bot_id": "BBENCH"}
            if args.get("metadata"):
                message["metadata"] = args["metadata"]
            self.messages.setdefault(str(args["channel"]), []).append(message)
        wait = step[1] if step[0] == "slow" else self.delay
        return 200, {"ok": True, "channel": args["channel"], "ts": ts}, {}, wait


def serve(slack: Slack, feed: bytes) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            return

        def do_GET(self) -> None:
            if urlsplit(self.path).path.startswith("/api/"):
                self.do_POST()  # conversations.history is a GET
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(feed)))
            self.end_headers()
            self.wfile.write(feed)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if "json" in self.headers.get("Content-Type", ""):
                args = json.loads(raw or "{}")
            else:
                args = {k: v[0] for k, v in parse_qs(raw).items()}
            query = urlsplit(self.path).query
            args.update({k: v[0] for k, v in parse_qs(query).items()})
            method = urlsplit(self.path).path.removeprefix("/api/")
            status, body, headers, wait = slack.answer(method, args)
            if wait:
                time.sleep(wait)
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout) or was killed

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, *a: Any) -> None:
            return

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


# -- stores ------------------------------------------------------------------------------------


def env_for(db_url: str, port: int, interval: float, timeout: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DEVOPSBOT_"))}
    env.update(
        DEVOPSBOT_DATABASE_URL=db_url,
        SLACK_BOT_TOKEN="xoxb-bench-token",
        SLACK_API_URL=f"http://127.0.0.1:{port}/api/",
        DEVOPSBOT_ALLOW_PRIVATE_URLS="true",
        DEVOPSBOT_SAMPLE_DATA="false",
        DEVOPSBOT_POST_INTERVAL=str(interval),
        DEVOPSBOT_HTTP_TIMEOUT=str(timeout),
        DEVOPSBOT_LOG_LEVEL="ERROR",
    )
    return env


def prepare(env: dict[str, str], port: int, entries: int) -> None:
    """Subscribe both channels with a backfill of every entry, so all are owed to both."""
    code = f"""
from bot.config import load_settings
from bot.runtime import open_runtime
from bot.subscriptions import subscribe
s = load_settings(); rt = open_runtime(s)
for ch in {list(CHANNELS)!r}:
    with rt.sessions.begin() as session:
        subscribe(session, "http://127.0.0.1:{port}/feed.xml", ch, s, backfill={entries})
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)


WORKER = """
import sys, time
from datetime import timedelta
from bot.config import load_settings
from bot.db.models import utcnow
from bot.runtime import open_runtime
from bot.slack.announce import ChannelPacer, deliver_pending, make_client, pending_posts
shift = timedelta(minutes=float(sys.argv[1]))
s = load_settings(); rt = open_runtime(s); client = make_client(s)
pacer = ChannelPacer(s.devopsbot_post_interval)
idle_since = time.monotonic()
while time.monotonic() - idle_since < float(sys.argv[2]):
    report = deliver_pending(rt.sessions, client, s, now=utcnow() + shift, pacer=pacer)
    if report.posted or report.retrying:
        idle_since = time.monotonic()
    time.sleep(0.2)
"""


def worker(env: dict[str, str], shift_minutes: float = 0.0, idle: float = 3.0) -> subprocess.Popen:
    """A replica's delivery loop (the scheduler tick's), until nothing has moved for `idle` s."""
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(shift_minutes), str(idle)], env=env, cwd=REPO
    )


# -- scoring -----------------------------------------------------------------------------------


@dataclass
class Score:
    duplicates: int
    losses: int
    misorders: int
    min_gap: float

    def line(self, name: str, interval: float, extra: str = "") -> str:
        gap_ok = "ok" if self.min_gap >= 0.9 * interval else "BELOW 0.9×"
        return (
            f"{name:21} duplicates {self.duplicates:3d}  losses {self.losses:3d}  misorders "
            f"{self.misorders:3d}  min gap {self.min_gap:5.2f} s ({gap_ok}){extra}"
        )


def score(posts: list[Post], entries: int) -> Score:
    dup = loss = mis = 0
    gap = float("inf")
    for ch in CHANNELS:
        got = sorted((p for p in posts if p.channel == ch), key=lambda p: p.at)
        seen = [p.entry for p in got]
        dup += len(seen) - len(set(seen))
        loss += len(set(range(entries)) - set(seen))
        first_seen = list(dict.fromkeys(seen))
        mis += sum(1 for a, b in itertools.pairwise(first_seen) if b < a)
        gap = min([gap] + [b.at - a.at for a, b in itertools.pairwise(got)])
    return Score(dup, loss, mis, gap if gap != float("inf") else float("nan"))


def run_replicas(args, n: int, tmp: str) -> Score:
    slack = Slack(delay=0.05)
    server, port = serve(slack, feed_xml(args.entries))
    try:
        with fresh_database(args.database_url) as db:
            env = env_for(db, port, args.interval, 5.0)
            prepare(env, port, args.entries)
            procs = [worker(env) for _ in range(n)]
            for p in procs:
                p.wait(timeout=600)
            return score(slack.posts, args.entries)
    finally:
        server.shutdown()


def run_kills(args, tmp: str) -> Score:
    """Kill -9 mid-delivery, then recover after the lease; totals over `--kills` runs."""
    rng = random.Random(7)
    totals = Score(0, 0, 0, float("inf"))
    for _ in range(args.kills):
        slack = Slack(delay=0.3)
        server, port = serve(slack, feed_xml(args.entries))
        try:
            with fresh_database(args.database_url) as db:
                env = env_for(db, port, args.interval, 5.0)
                prepare(env, port, args.entries)
                victim = worker(env, idle=30)
                time.sleep(rng.uniform(1.0, args.entries * args.interval))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                # The claim lease (10 min) is over for the second process: its clock is ahead.
                # The channel lease of the killed one is real time: the survivor waits it out.
                worker(env, shift_minutes=11, idle=CHANNEL_LEASE_S + 5).wait(timeout=600)
                s = score(slack.posts, args.entries)
                totals = Score(
                    totals.duplicates + s.duplicates,
                    totals.losses + s.losses,
                    totals.misorders + s.misorders,
                    min(totals.min_gap, s.min_gap),
                )
        finally:
            server.shutdown()
    return totals


def run_slack_faults(
    args, plan: list[tuple[str, float]], tmp: str, timeout: float, history_error: str | None
) -> Score:
    slack = Slack(plan=list(plan), delay=0.02, history_error=history_error)
    server, port = serve(slack, feed_xml(args.entries))
    try:
        with fresh_database(args.database_url) as db:
            env = env_for(db, port, args.interval, timeout)
            prepare(env, port, args.entries)
            # Retry delays of 30 s and more: each later run's clock is further ahead.
            for shift in (0, 2, 10, 30, 90, 300):
                worker(env, shift_minutes=shift, idle=2.5).wait(timeout=600)
            return score(slack.posts, args.entries)
    finally:
        server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", help="PostgreSQL base URL (default: SQLite files)")
    ap.add_argument("--entries", type=int, default=12)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--skip", default="", help="comma-separated scenario names to skip")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    db = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{args.entries} entries × {len(CHANNELS)} channels, {db}, "
        f"DEVOPSBOT_POST_INTERVAL={args.interval}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2, 3):
            if f"replicas-{n}" not in skip:
                print(run_replicas(args, n, tmp).line(f"replicas-{n}", args.interval), flush=True)
        if "kill-9" not in skip:
            totals = run_kills(args, tmp)
            print(
                totals.line(
                    "kill-9",
                    args.interval,
                    f"  ({args.kills} kills; a post in flight is looked up in the channel first)",
                ),
                flush=True,
            )
        timeouts: list[tuple[str, float]] = [("ok", 0), ("slow", 4.0), ("ok", 0), ("slow", 4.0)]
        faults: dict[str, tuple[list[tuple[str, float]], str | None]] = {
            "slack-429": ([("429", 2)] * 8, None),
            "slack-429-then-500": ([("429", 1)] * 48 + [("500", 0)], None),
            "slack-500": ([("ok", 0), ("500", 0), ("500", 0), ("ok", 0), ("500", 0)], None),
            "slack-timeout": (timeouts, None),
            "slack-timeout-noscope": (timeouts, "missing_scope"),
        }
        for name, (plan, history_error) in faults.items():
            if name not in skip:
                s = run_slack_faults(args, plan, tmp, 2.0, history_error)
                print(s.line(name, args.interval), flush=True)


if __name__ == "__main__":
    main()
