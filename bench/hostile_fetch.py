"""Fetch hostile feeds served on loopback: wall time against the deadline, outcome, peak RSS.

    .venv/bin/python bench/hostile_fetch.py [--timeout 2] [--code PATH] [--only CASE ...]

Each case runs `fetch_feed` (then `parse_feed` when the fetch succeeds) in a fresh child
process, so its peak RSS (getrusage ru_maxrss) is the fetch's own plus the ~imports; the
servers run in this process. A child still running 30 s past the deadline is killed and
reported as a hang. `--code PATH` runs the children against another checkout (e.g. the code
before the hardening) to compare. Targets: no case past the deadline, peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 5_000_000  # DEVOPSBOT_MAX_FEED_BYTES' default
HANG_GRACE = 30.0


def rss_feed(items: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<link>https://ops.example/</link>" + "".join(items) + "</channel></rss>"
    ).encode()


def gzip_zeros(size: int) -> bytes:
    """`size` zero bytes gzipped at level 9, compressed piece by piece."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    piece = b"\0" * 4_000_000
    return b"".join(squeezer.compress(piece) for _ in range(size // len(piece))) + squeezer.flush()


class Bodies:
    """Everything the servers send, built once."""

    def __init__(self) -> None:
        self.feed = rss_feed(
            [f"<item><title>post {n}</title><guid>p{n}</guid></item>" for n in range(20)]
        )
        self.bomb = gzip_zeros(2_000_000_000)  # 2 GB of zeros in about 2 MB
        self.stacked = gzip.compress(self.bomb, 9)  # and in about 2 KB
        self.many = rss_feed([f"<item><guid>{n}</guid></item>" for n in range(100_000)])
        self.many_gz = gzip.compress(
            rss_feed([f"<item><title>t{n}</title><guid>{n}</guid></item>" for n in range(300_000)])
        )
        title = "devops " * 14_600  # about 100 KB
        self.titles = rss_feed(
            [f"<item><title>{n} {title}</title><guid>t{n}</guid></item>" for n in range(40)]
        )


def make_handler(bodies: Bodies, timeout: float, internal_hits: list[str]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:
            pass

        def handle(self) -> None:
            # Clients hang up mid-request on purpose (caps, deadlines): not worth a traceback.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        def send(self, status: int, body: bytes, **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.server.server_address[0] == "127.0.0.2":
                internal_hits.append(self.path)
                return self.send(200, rss_feed(["<item><title>internal secret</title></item>"]))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.route()

        def route(self) -> None:
            path = self.path
            if path == "/feed":
                if self.headers.get("If-None-Match") == '"v1"':
                    return self.send(304, b"", ETag='"v1"')
                return self.send(
                    200, gzip.compress(bodies.feed), ETag='"v1"', Content_Encoding="gzip"
                )
            if path == "/slow-headers":  # status line and headers at 1 byte per second
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                head += b"X-Padding: " + b"." * 200 + b"\r\n\r\n"
                for i in range(len(head)):
                    self.wfile.write(head[i : i + 1])
                    self.wfile.flush()
                    time.sleep(1.0)
                return None
            if path == "/slow-body":  # a byte every half timeout, forever
                self.send_response(200)
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                for _ in range(1_000_000):
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(timeout / 2)
                return None
            if path.startswith("/slow-redirect/"):  # each hop just under the read timeout
                n = int(path.rsplit("/", 1)[1])
                time.sleep(timeout * 0.9)
                return self.send(302, b"", Location=f"/slow-redirect/{n + 1}")
            if path == "/loop":
                return self.send(302, b"", Location="/loop")
            if path == "/gzip-bomb":
                return self.send(200, bodies.bomb, Content_Encoding="gzip")
            if path == "/stacked-gzip":
                return self.send(200, bodies.stacked, Content_Encoding="gzip, gzip")
            if path == "/brotli":
                return self.send(200, b"\x8b\x02\x80hello\x03", Content_Encoding="br")
            if path == "/100k-entries":
                return self.send(200, bodies.many)
            if path == "/300k-entries-gzip":
                return self.send(200, bodies.many_gz, Content_Encoding="gzip")
            if path == "/100kb-titles":
                return self.send(200, bodies.titles)
            if path == "/rebind":
                return self.send(200, bodies.feed)
            return self.send(404, b"no such case")

    return Handler


CASES = {
    # name: (path, what it is)
    "normal-gzip": ("/feed", "small gzip feed, then the same with its ETag (304)"),
    "slow-headers": ("/slow-headers", "status line and headers at 1 byte/s"),
    "slow-body": ("/slow-body", "1 MB body at 1 byte per half timeout"),
    "slow-redirects": ("/slow-redirect/0", "redirect hops each just under the read timeout"),
    "redirect-loop": ("/loop", "302 to itself"),
    "gzip-bomb": ("/gzip-bomb", "2 MB gzip of 2 GB of zeros"),
    "stacked-gzip": ("/stacked-gzip", "Content-Encoding: gzip, gzip; 2 KB for 2 GB"),
    "brotli": ("/brotli", "Content-Encoding: br (never asked for)"),
    "100k-entries": ("/100k-entries", "100,000 minimal items, under the cap: fetch + parse"),
    "300k-entries-gzip": ("/300k-entries-gzip", "300,000 items gzipped: cap on decoded bytes"),
    "100kb-titles": ("/100kb-titles", "40 items with 100 KB titles: fetch + parse"),
    "rebinding": ("/rebind", "rebind.test answers public, then 127.0.0.2 (internal)"),
}


def child(case: str, url: str, timeout: float) -> None:
    """Run one case in this (fresh) process and print one JSON line."""
    from bot.feeds import fetch
    from bot.feeds.parse import parse_feed

    allow_private = True
    if case == "rebinding":
        # The first answer stands for a public address (our loopback server), the next one
        # for an internal service; 127.0.0.1 counts as public for this case only.
        real_getaddrinfo = socket.getaddrinfo
        answers = ["127.0.0.1", "127.0.0.2"]

        def getaddrinfo(host, port, *args, **kwargs):
            if host == "rebind.test":
                host = answers.pop(0) if len(answers) > 1 else answers[0]
            return real_getaddrinfo(host, port, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo
        real_is_public = fetch._is_public
        fetch._is_public = lambda a: str(a) == "127.0.0.1" or real_is_public(a)
        allow_private = False

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    parse_s = None
    try:
        result = fetch.fetch_feed(
            url, timeout=timeout, max_bytes=MAX_BYTES, allow_private=allow_private
        )
        outcome = f"HTTP {result.status}, {len(result.body):,} bytes"
        if case == "normal-gzip":
            again = fetch.fetch_feed(url, timeout=timeout, etag=result.etag, allow_private=True)
            outcome += f"; then HTTP {again.status}"
        wall = time.monotonic() - started
        if result.body:
            parse_started = time.monotonic()
            parsed = parse_feed(result.body, result.final_url)
            parse_s = time.monotonic() - parse_started
            titles = [e.title for e in parsed.entries][:1]
            outcome += f"; parsed {len(parsed.entries):,} entries"
            if case == "rebinding":
                outcome += f" (first title {titles[0]!r})" if titles else ""
    except fetch.FetchError as exc:
        wall = time.monotonic() - started
        outcome = exc.message
    except Exception as exc:  # the bench reports what a user would otherwise see as a crash
        wall = time.monotonic() - started
        outcome = f"CRASH {type(exc).__name__}: {exc}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"wall": wall, "parse": parse_s, "outcome": outcome, "rss": peak, "base": base})
    )


def run_case(case: str, url: str, timeout: float, code: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, __file__, "--child", case, "--url", url, "--timeout", str(timeout)]
    limit = timeout * 3 + HANG_GRACE
    started = time.monotonic()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        wall = time.monotonic() - started
        return {
            "wall": wall,
            "parse": None,
            "outcome": f"HANG: killed after {wall:.0f} s",
            "rss": None,
        }
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {
            "wall": time.monotonic() - started,
            "parse": None,
            "rss": None,
            "outcome": f"child failed: {done.stderr.strip().splitlines()[-1:]}",
        }
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.0, help="DEVOPSBOT_HTTP_TIMEOUT")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose bot/ to test")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="cases to run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.url, args.timeout)

    built = time.monotonic()
    bodies = Bodies()
    print(f"bodies built in {time.monotonic() - built:.1f} s", file=sys.stderr)
    internal_hits: list[str] = []
    handler = make_handler(bodies, args.timeout, internal_hits)
    public = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = public.server_address[1]
    internal = ThreadingHTTPServer(("127.0.0.2", port), handler)
    for httpd in (public, internal):
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()

    deadline = args.timeout * 3
    print(
        f"code: {args.code}; timeout {args.timeout:g} s per phase, deadline {deadline:g} s; "
        f"cap {MAX_BYTES:,} bytes\n"
    )
    print("| case | what | wall (s) | past deadline | peak RSS, MB (after imports) | outcome |")
    print("|---|---|---|---|---|---|")
    worst_rss, hangs = 0.0, 0
    for case in args.only or CASES:
        path, what = CASES[case]
        host = "rebind.test" if case == "rebinding" else "127.0.0.1"
        before = len(internal_hits)
        result = run_case(case, f"http://{host}:{port}{path}", args.timeout, args.code)
        outcome = result["outcome"]
        if case == "rebinding":
            reached = len(internal_hits) - before
            outcome += f" — internal server reached {reached}×"
        late = result["wall"] > deadline + 0.5
        hangs += late
        rss = result["rss"]
        worst_rss = max(worst_rss, rss or 0.0)
        wall = f"{result['wall']:.2f}"
        if result.get("parse") is not None:
            wall += f" (+ parse {result['parse']:.2f})"
        shown_rss = "—" if rss is None else f"{rss:.0f} ({result['base']:.0f})"
        print(
            f"| {case} | {what} | {wall} | {'**yes**' if late else 'no'} | {shown_rss} | "
            f"{outcome[:160]} |",
            flush=True,
        )
    print(
        f"\npast the deadline: {hangs}; worst peak RSS: {worst_rss:.0f} MB "
        "(targets: 0 and <= 300 MB)"
    )
    public.shutdown()
    internal.shutdown()


if __name__ == "__main__":
    main()
