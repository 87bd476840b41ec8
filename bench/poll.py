"""Poll 500 feeds served on loopback: a cold poll (every entry new) and a warm poll (all 304).

    .venv/bin/python bench/poll.py [--feeds 500] [--database-url URL] [--workers N] [--profile]

The feeds are built from the four real seed feeds (full-content entries, 10-20 per feed, each
feed with its own ids, links and titles) and served with ETags by a ThreadingHTTPServer in a
child process, so the CPU time measured (time.process_time) is the bot's alone. The feeds are
subscribed index-only while they are empty, then filled: the cold poll stores, chunks and
indexes every entry; the warm poll gets 304 for every feed. Targets on a 2-core machine:
cold ≤ 30 s, warm ≤ 5 s (wall).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import multiprocessing as mp
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_settings
from bot.db.models import utcnow
from bot.runtime import open_runtime
from bot.scheduler import poll_once
from bot.subscriptions import subscribe

SEEDS = Path(__file__).resolve().parent.parent / "bot" / "sample_data" / "feeds"


def seed_entries() -> list[list[dict]]:
    """The entries of each seed feed: title, link, date, HTML content, tags."""
    feeds = []
    for path in sorted(SEEDS.glob("*.xml")):
        parsed = feedparser.parse(path.read_bytes())
        entries = []
        for e in parsed.entries:
            content = (e.get("content") or [{}])[0].get("value") or e.get("summary", "")
            entries.append(
                {
                    "title": e.get("title", ""),
                    "link": e.get("link", ""),
                    "date": e.get("published_parsed") or e.get("updated_parsed"),
                    "html": content,
                    "tags": [t.get("term", "") for t in e.get("tags", [])],
                }
            )
        feeds.append(entries)
    return feeds


def build_feed(i: int, seeds: list[list[dict]], empty: bool) -> bytes:
    """RSS 2.0 for feed `i`: 10-20 full-content entries with ids of its own."""
    entries = seeds[i % len(seeds)]
    count = 0 if empty else 10 + i % 11
    items = []
    for j in range(count):
        e = entries[j % len(entries)]
        date = format_datetime(datetime(*e["date"][:6], tzinfo=UTC) - timedelta(days=j))
        tags = "".join(f"<category>{escape(t)}</category>" for t in e["tags"])
        items.append(
            f"<item><title>{escape(e['title'])} (feed {i}, #{j})</title>"
            f"<link>{escape(e['link'])}?feed={i}&amp;n={j}</link>"
            f'<guid isPermaLink="false">bench-{i}-{j}</guid><pubDate>{date}</pubDate>{tags}'
            f"<description>{escape(e['html'])}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {i}</title><link>https://bench{i}.example/</link>"
        f"<description>feed {i}</description>{''.join(items)}</channel></rss>"
    ).encode()


def serve(port_out: mp.Queue, full: mp.Event, count: int) -> None:
    """Child process: serve /feed/<i>.xml, empty until `full` is set, with ETag/304."""
    seeds = seed_entries()
    bodies = {False: {}, True: {}}
    for i in range(count):
        for state in (False, True):
            body = build_feed(i, seeds, empty=not state)
            bodies[state][i] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            try:
                i = int(self.path.removeprefix("/feed/").removesuffix(".xml"))
                body, etag = bodies[full.is_set()][i]
            except (ValueError, KeyError):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    port_out.put((server.server_address[1], sum(len(b) for b, _ in bodies[True].values())))
    server.serve_forever()


def measure(label: str, fn, profile: bool) -> tuple[float, float, object]:
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    result = fn()
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler:
        print(f"--- profile: {label}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return wall, cpu, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--database-url")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    ctx = mp.get_context("fork")
    port_q: mp.Queue = ctx.Queue()
    full = ctx.Event()
    child = ctx.Process(target=serve, args=(port_q, full, args.feeds), daemon=True)
    child.start()
    port, total_bytes = port_q.get(timeout=120)

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.db"
    overrides = {} if args.workers is None else {"devopsbot_poll_workers": args.workers}
    settings = load_settings(
        env_file=None,
        devopsbot_database_url=url,
        devopsbot_allow_private_urls=True,
        **overrides,
    )
    rt = open_runtime(settings)
    t0 = time.perf_counter()
    for i in range(args.feeds):
        with rt.sessions.begin() as session:
            subscribe(session, f"http://127.0.0.1:{port}/feed/{i}.xml", None, settings)
    print(f"subscribed {args.feeds} empty feeds (index-only) in {time.perf_counter() - t0:.1f}s")

    full.set()
    cold_now = utcnow() + timedelta(days=1)
    cold = measure("cold", lambda: poll_once(rt, None, now=cold_now), args.profile)

    def build_index() -> int:
        with rt.sessions() as session:
            return rt.answerer.sync(session)

    index = measure("index", build_index, args.profile)
    warm_now = cold_now + timedelta(days=1)
    warm = measure("warm", lambda: poll_once(rt, None, now=warm_now), args.profile)

    cold_report, warm_report = cold[2], warm[2]
    new = cold_report.new
    errors = len(cold_report.errors) + len(warm_report.errors)
    statuses = {o.status for o in warm_report.outcomes}
    print(
        f"feeds: {args.feeds}, entries: {new}, bytes served cold: {total_bytes / 1e6:.1f} MB, "
        f"workers: {settings.devopsbot_poll_workers}, database: {rt.engine.url.get_backend_name()}"
    )
    print(f"cold poll (all new): wall {cold[0]:.2f}s  cpu {cold[1]:.2f}s   (target wall ≤ 30 s)")
    print(
        f"answer index of the {index[2]} new sources (done by the bot's tick after a poll): "
        f"wall {index[0]:.2f}s  cpu {index[1]:.2f}s"
    )
    print(f"warm poll (all 304): wall {warm[0]:.2f}s  cpu {warm[1]:.2f}s   (target wall ≤ 5 s)")
    print(
        f"errors: {errors}; warm statuses: {sorted(statuses)}; indexed chunks: "
        f"{len(rt.answerer.index)}"
    )
    child.terminate()
    rt.engine.dispose()
    tmp.cleanup()
    if errors or statuses != {"not_modified"} or len(cold_report.outcomes) != args.feeds:
        sys.exit(1)


if __name__ == "__main__":
    main()
