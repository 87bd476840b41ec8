"""bot.feeds.fetch against real HTTP servers on loopback (no mocks of httpx)."""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bot.feeds import fetch as fetch_module
from bot.feeds.fetch import BlockedURLError, FetchError, check_url_allowed, fetch_feed

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class FeedServer:
    """A loopback HTTP server whose answers each test sets per path."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    """A route answering with a fixed status, body and headers (Content-Length added)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def redirect(status: int, location: str) -> Route:
    return reply(status, headers={"Location": location})


@pytest.fixture
def server() -> Iterator[FeedServer]:
    state = FeedServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = state.routes.get(self.path, reply(404, b"no route"))
            # The client hangs up on purpose when a cap or deadline trips.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                route(self)

        def log_message(self, format, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything tries to resolve a name."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected DNS lookup: {args[0]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- 200 / 304 -------------------------------------------------------------------------------


def test_200_returns_body_and_validators(server: FeedServer) -> None:
    server.route(
        "/feed.xml",
        reply(
            200,
            FEED,
            {
                "ETag": '"v1"',
                "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
                "Content-Type": "application/rss+xml; charset=utf-8",
                "Cache-Control": "public, max-age=300",
            },
        ),
    )

    result = fetch_feed(server.url("/feed.xml"), allow_private=True)

    assert result.status == 200
    assert not result.not_modified
    assert result.body == FEED
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.cache_max_age == 300
    assert result.retry_after is None
    assert result.url == result.final_url == server.url("/feed.xml")
    assert result.permanent_url is None
    sent = server.seen[0][1]
    assert sent["user-agent"].startswith("devopsbot/")
    assert "application/rss+xml" in sent["accept"]
    assert "if-none-match" not in sent


def test_conditional_get_sends_validators_and_returns_304(server: FeedServer) -> None:
    def conditional(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            reply(304)(h)  # no validators repeated, as many servers do
        else:
            reply(200, FEED, {"ETag": '"v1"'})(h)

    server.route("/feed.xml", conditional)

    result = fetch_feed(
        server.url("/feed.xml"),
        etag='"v1"',
        last_modified="Wed, 21 Oct 2015 07:28:00 GMT",
        allow_private=True,
    )

    assert result.status == 304
    assert result.not_modified
    assert result.body == b""
    # The validators we sent stay current, so the poller can store them as-is.
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    sent = server.seen[0][1]
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_gzip_body_is_decoded(server: FeedServer) -> None:
    server.route("/feed.xml", reply(200, gzip.compress(FEED), {"Content-Encoding": "gzip"}))

    result = fetch_feed(server.url("/feed.xml"), allow_private=True)

    assert result.body == FEED


def test_cache_control_without_max_age(server: FeedServer) -> None:
    server.route("/feed.xml", reply(200, FEED, {"Cache-Control": "no-cache, s-maxage=60"}))

    assert fetch_feed(server.url("/feed.xml"), allow_private=True).cache_max_age is None


# --- redirects -------------------------------------------------------------------------------


def test_chain_of_301_and_308_gives_permanent_url(server: FeedServer) -> None:
    server.route("/old", redirect(301, "/older"))
    server.route("/older", redirect(308, server.url("/feed.xml")))
    server.route("/feed.xml", reply(200, FEED))

    result = fetch_feed(server.url("/old"), allow_private=True)

    assert result.body == FEED
    assert result.url == server.url("/old")
    assert result.final_url == server.url("/feed.xml")
    assert result.permanent_url == server.url("/feed.xml")
    assert server.paths() == ["/old", "/older", "/feed.xml"]


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_any_temporary_hop_means_no_permanent_url(server: FeedServer, temporary: int) -> None:
    server.route("/old", redirect(301, "/moved"))
    server.route("/moved", redirect(temporary, "/feed.xml"))
    server.route("/feed.xml", reply(200, FEED))

    result = fetch_feed(server.url("/old"), allow_private=True)

    assert result.final_url == server.url("/feed.xml")
    assert result.permanent_url is None


def test_redirect_loop_stops_after_max_redirects(server: FeedServer) -> None:
    server.route("/loop", redirect(302, "/loop"))

    with pytest.raises(FetchError, match="redirected more than 3 times"):
        fetch_feed(server.url("/loop"), allow_private=True, max_redirects=3)

    assert len(server.seen) == 4


def test_redirect_without_location_is_an_error(server: FeedServer) -> None:
    server.route("/old", reply(301))

    with pytest.raises(FetchError, match="without a Location") as info:
        fetch_feed(server.url("/old"), allow_private=True)
    assert info.value.status == 301


@pytest.fixture
def only_test_server_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judge 127.0.0.1 (where the test servers listen) public; every other address as usual."""
    real_is_public = fetch_module._is_public

    def is_public(address) -> bool:
        return address == ipaddress.ip_address("127.0.0.1") or real_is_public(address)

    monkeypatch.setattr(fetch_module, "_is_public", is_public)


class FakeResolver:
    """Stands in for DNS: each name answers its lists of addresses in turn (the last repeats)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []

    def answer(self, host: str, *answers: list[str]) -> None:
        self.answers[host] = list(answers)

    def __call__(self, host: str) -> list:
        self.asked.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise FetchError(f"could not resolve host {host}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return [ipaddress.ip_address(a) for a in answer]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeResolver:
    """Replace the module's single resolution function with a resolver the test controls."""
    resolver = FakeResolver()
    monkeypatch.setattr(fetch_module, "resolve", resolver)
    return resolver


@pytest.mark.usefixtures("only_test_server_allowed")
@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.1/feed",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::1]/",
    ],
)
def test_redirect_to_private_address_is_refused(server: FeedServer, target: str) -> None:
    server.route("/feed.xml", redirect(302, target))

    with pytest.raises(BlockedURLError) as info:
        fetch_feed(server.url("/feed.xml"))
    assert info.value.permanent


@pytest.mark.usefixtures("only_test_server_allowed")
def test_redirect_to_loopback_by_name_is_refused(server: FeedServer, dns: FakeResolver) -> None:
    # A name that resolves to loopback: every hop is resolved and checked.
    dns.answer("internal.test", ["127.0.0.2"])
    server.route("/feed.xml", redirect(301, f"http://internal.test:{server.port}/secret"))
    server.route("/secret", reply(200, b"internal"))

    with pytest.raises(BlockedURLError, match="private or local address"):
        fetch_feed(server.url("/feed.xml"))
    assert server.paths() == ["/feed.xml"]


@pytest.mark.usefixtures("only_test_server_allowed")
def test_redirect_to_file_scheme_is_refused(server: FeedServer) -> None:
    server.route("/feed.xml", redirect(301, "file:///etc/passwd"))

    with pytest.raises(FetchError, match="not an http"):
        fetch_feed(server.url("/feed.xml"))


# --- address checks --------------------------------------------------------------------------


def test_fetch_of_loopback_is_blocked_by_default(server: FeedServer) -> None:
    server.route("/", reply(200, FEED))

    with pytest.raises(BlockedURLError, match="DEVOPSBOT_ALLOW_PRIVATE_URLS"):
        fetch_feed(server.url("/"))
    assert server.seen == []


@pytest.mark.usefixtures("no_dns")
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/feed",
        "http://192.168.1.10/feed",
        "http://172.16.0.1/feed",
        "http://100.64.0.1/feed",  # carrier-grade NAT
        "http://127.0.0.1:8080/feed",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[::ffff:169.254.169.254]/",
        "http://[2002:a00:1::]/",  # 6to4 wrapping 10.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 wrapping 169.254.169.254
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
    ],
)
def test_private_and_metadata_addresses_are_refused_without_lookup(url: str) -> None:
    with pytest.raises(BlockedURLError) as info:
        check_url_allowed(url, allow_private=False)
    assert info.value.permanent


@pytest.mark.usefixtures("no_dns")
def test_public_literal_and_allow_private_pass() -> None:
    check_url_allowed("https://93.184.216.34/feed", allow_private=False)
    check_url_allowed("http://[2606:4700::6810:84e5]/feed", allow_private=False)
    check_url_allowed("http://10.0.0.1/feed", allow_private=True)
    check_url_allowed("http://metadata.google.internal/", allow_private=True)


def test_hostname_is_resolved_and_judged() -> None:
    with pytest.raises(BlockedURLError, match="localhost"):
        check_url_allowed("http://localhost/feed", allow_private=False)


def test_unresolvable_host_is_a_clear_temporary_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)

    with pytest.raises(FetchError, match=r"could not resolve host feeds\.example\.invalid") as info:
        check_url_allowed("https://feeds.example.invalid/rss", allow_private=False)
    assert not info.value.permanent
    assert not isinstance(info.value, BlockedURLError)


@pytest.mark.usefixtures("no_dns")
@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/feed.xml", "javascript:alert(1)", "http:///feed", ""],
)
def test_non_http_urls_are_refused(url: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(FetchError, match=r"http\(s\)") as info:
            check_url_allowed(url, allow_private=allow_private)
        assert info.value.permanent
    with pytest.raises(FetchError, match=r"http\(s\)"):
        fetch_feed(url, allow_private=True)


# --- size and time caps ----------------------------------------------------------------------


def test_declared_oversize_body_is_rejected_early(server: FeedServer) -> None:
    server.route("/big", reply(200, b"x" * 5000))

    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        fetch_feed(server.url("/big"), allow_private=True, max_bytes=1000)


def test_streamed_oversize_body_is_aborted(server: FeedServer) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        # No Content-Length: HTTP/1.0 body delimited by close, so only counting can stop it.
        h.send_response(200)
        h.end_headers()
        for _ in range(2000):
            h.wfile.write(b"x" * 1024)
            h.wfile.flush()

    server.route("/endless", endless)

    with pytest.raises(FetchError, match="larger than 10000 bytes"):
        fetch_feed(server.url("/endless"), allow_private=True, max_bytes=10_000)


def test_cap_counts_decoded_bytes(server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * 200_000)
    assert len(bomb) < 10_000
    server.route("/bomb", reply(200, bomb, {"Content-Encoding": "gzip"}))

    with pytest.raises(FetchError, match="larger than 10000 bytes"):
        fetch_feed(server.url("/bomb"), allow_private=True, max_bytes=10_000)


def test_slow_drip_hits_the_overall_deadline(server: FeedServer) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(100):  # each byte beats the 0.5 s read timeout; the total must not
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)

    server.route("/drip", drip)
    started = time.monotonic()

    with pytest.raises(FetchError, match="timed out") as info:
        fetch_feed(server.url("/drip"), allow_private=True, timeout=0.5)

    assert time.monotonic() - started < 2.5
    assert not info.value.permanent


def test_silent_server_hits_the_read_timeout(server: FeedServer) -> None:
    def silent(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)
        reply(200, FEED)(h)

    server.route("/silent", silent)
    started = time.monotonic()

    with pytest.raises(FetchError, match="timed out"):
        fetch_feed(server.url("/silent"), allow_private=True, timeout=0.3)

    assert time.monotonic() - started < 0.9


# --- error statuses --------------------------------------------------------------------------


def test_410_is_permanent(server: FeedServer) -> None:
    server.route("/gone", reply(410))

    with pytest.raises(FetchError) as info:
        fetch_feed(server.url("/gone"), allow_private=True)

    assert info.value.status == 410
    assert info.value.permanent
    assert "gone" in info.value.message
    assert "stops" in info.value.message


def test_429_carries_retry_after_seconds(server: FeedServer) -> None:
    server.route("/busy", reply(429, headers={"Retry-After": "120"}))

    with pytest.raises(FetchError) as info:
        fetch_feed(server.url("/busy"), allow_private=True)

    assert info.value.status == 429
    assert info.value.retry_after == 120
    assert not info.value.permanent
    assert "429" in info.value.message


def test_503_carries_retry_after_http_date(server: FeedServer) -> None:
    later = formatdate(time.time() + 60, usegmt=True)
    server.route("/down", reply(503, headers={"Retry-After": later}))

    with pytest.raises(FetchError) as info:
        fetch_feed(server.url("/down"), allow_private=True)

    assert info.value.status == 503
    assert info.value.retry_after is not None
    assert 55 <= info.value.retry_after <= 61


def test_503_with_garbage_retry_after(server: FeedServer) -> None:
    server.route("/down", reply(503, headers={"Retry-After": "soon-ish"}))

    with pytest.raises(FetchError) as info:
        fetch_feed(server.url("/down"), allow_private=True)
    assert info.value.retry_after is None


def test_404_message_names_status_and_url(server: FeedServer) -> None:
    with pytest.raises(FetchError) as info:
        fetch_feed(server.url("/missing.xml"), allow_private=True)

    assert info.value.status == 404
    assert "404" in info.value.message
    assert server.url("/missing.xml") in info.value.message
    assert not info.value.permanent


def test_500_is_temporary(server: FeedServer) -> None:
    server.route("/broken", reply(500, b"Traceback (most recent call last): secret"))

    with pytest.raises(FetchError) as info:
        fetch_feed(server.url("/broken"), allow_private=True)

    assert info.value.status == 500
    assert not info.value.permanent
    assert "secret" not in info.value.message


def test_credentials_never_reach_the_message(server: FeedServer) -> None:
    url = f"http://reader:hunter2@127.0.0.1:{server.port}/private.xml"

    with pytest.raises(FetchError) as info:
        fetch_feed(url, allow_private=True)

    assert "hunter2" not in info.value.message
    assert f"127.0.0.1:{server.port}/private.xml" in info.value.message


def test_connection_refused_is_a_readable_temporary_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.

    with pytest.raises(FetchError) as info:
        fetch_feed(f"http://127.0.0.1:{port}/feed.xml", allow_private=True, timeout=2)

    assert not info.value.permanent
    assert info.value.status is None
    assert "refused" in info.value.message
    assert "Errno" not in info.value.message
    assert "Traceback" not in info.value.message


# --- shared client ---------------------------------------------------------------------------


def test_a_callers_client_is_left_open(server: FeedServer) -> None:
    server.route("/old", redirect(301, "/feed.xml"))
    server.route("/feed.xml", reply(200, FEED))

    # Accepted for compatibility; connections are the fetch's own, pinned to checked addresses.
    with httpx.Client(follow_redirects=True) as client:
        first = fetch_feed(server.url("/old"), allow_private=True, client=client)
        second = fetch_feed(server.url("/feed.xml"), allow_private=True, client=client)
        assert not client.is_closed

    assert first.permanent_url == server.url("/feed.xml")
    assert second.body == FEED
    assert server.paths() == ["/old", "/feed.xml", "/feed.xml"]


# --- hostile servers: one deadline for the whole fetch ----------------------------------------


def drip(data: bytes, every: float) -> Route:
    """A route writing raw bytes (status line and headers included) one at a time."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        for i in range(len(data)):
            h.wfile.write(data[i : i + 1])
            h.wfile.flush()
            time.sleep(every)

    return handle


def test_slow_headers_hit_the_overall_deadline(server: FeedServer) -> None:
    # Every byte beats the 0.3 s read timeout; the headers alone would take about 10 s.
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 200 + b"\r\nContent-Length: 0\r\n\r\n"
    server.route("/slow-headers", drip(head, 0.05))
    started = time.monotonic()

    with pytest.raises(FetchError, match="timed out") as info:
        fetch_feed(server.url("/slow-headers"), allow_private=True, timeout=0.3)

    assert time.monotonic() - started < 0.9 + 0.4
    assert "0.9s for the whole fetch" in info.value.message
    assert not info.value.permanent


def test_deadline_spans_every_redirect_hop(server: FeedServer) -> None:
    def slow_redirect(target: str) -> Route:
        def handle(h: BaseHTTPRequestHandler) -> None:
            time.sleep(0.35)  # under the 0.5 s read timeout each time
            redirect(302, target)(h)

        return handle

    for n in range(5):
        server.route(f"/hop{n}", slow_redirect(f"/hop{n + 1}"))
    server.route("/hop5", reply(200, FEED))
    started = time.monotonic()

    with pytest.raises(FetchError, match="timed out"):
        fetch_feed(server.url("/hop0"), allow_private=True, timeout=0.5)

    assert time.monotonic() - started < 1.5 + 0.4
    assert len(server.seen) < 6


def test_slow_tls_handshake_hits_the_overall_deadline(dns: FakeResolver) -> None:
    # A TLS record header announcing 16 KB, then a byte every 50 ms: the handshake never ends.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)  # the ClientHello
                conn.sendall(b"\x16\x03\x03\x40\x00")
                for _ in range(400):
                    conn.sendall(b"\x00")
                    time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    dns.answer("feeds.test", ["127.0.0.1"])
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="timed out"):
            fetch_feed(f"https://feeds.test:{port}/feed.xml", allow_private=True, timeout=0.3)
    finally:
        listener.close()

    assert time.monotonic() - started < 0.9 + 0.4


def test_slow_resolver_hits_the_overall_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module, "resolve", lambda host: time.sleep(3) or [])
    started = time.monotonic()

    with pytest.raises(FetchError, match=r"timed out resolving host slow\.test"):
        fetch_feed("http://slow.test/feed.xml", allow_private=True, timeout=0.2)

    assert time.monotonic() - started < 0.6 + 0.4


# --- decoding: streamed, capped on decoded bytes, refusing what we did not ask for -----------


def gzip_stream(size: int, layers: int) -> bytes:
    """`size` zero bytes gzipped `layers` times, compressed piece by piece (cheap to build)."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    piece = b"\0" * 1_000_000
    body = b"".join(squeezer.compress(piece) for _ in range(size // len(piece)))
    body += squeezer.flush()
    for _ in range(layers - 1):
        body = gzip.compress(body, 9)
    return body


def test_stacked_gzip_bomb_costs_little_memory(server: FeedServer) -> None:
    bomb = gzip_stream(200_000_000, layers=2)  # 200 MB of zeros in about 1 KB
    assert len(bomb) < 5_000
    server.route("/bomb", reply(200, bomb, {"Content-Encoding": "gzip, gzip"}))

    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="larger than 1000000 bytes"):
            fetch_feed(server.url("/bomb"), allow_private=True, max_bytes=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4_000_000  # the cap plus a few decoding steps, not the gigabyte


def test_stacked_and_multi_member_gzip_decode(server: FeedServer) -> None:
    twice = gzip.compress(gzip.compress(FEED))
    members = gzip.compress(FEED[:20]) + gzip.compress(FEED[20:])
    server.route("/twice", reply(200, twice, {"Content-Encoding": "gzip, x-gzip"}))
    server.route("/members", reply(200, members, {"Content-Encoding": "gzip"}))

    assert fetch_feed(server.url("/twice"), allow_private=True).body == FEED
    assert fetch_feed(server.url("/members"), allow_private=True).body == FEED
    assert server.seen[0][1]["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_with_and_without_zlib_header(server: FeedServer, wbits: int) -> None:
    squeezer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = squeezer.compress(FEED * 100) + squeezer.flush()
    server.route("/deflate", reply(200, body, {"Content-Encoding": "Deflate"}))

    assert fetch_feed(server.url("/deflate"), allow_private=True).body == FEED * 100


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "identity, snappy"])
def test_encodings_we_did_not_offer_are_refused(server: FeedServer, encoding: str) -> None:
    server.route("/odd", reply(200, b"\x8b\x00binary", {"Content-Encoding": encoding}))

    with pytest.raises(FetchError, match="does not decode") as info:
        fetch_feed(server.url("/odd"), allow_private=True)
    assert "Content-Encoding" in info.value.message
    assert not info.value.permanent


def test_identity_and_too_many_layers(server: FeedServer) -> None:
    server.route("/identity", reply(200, FEED, {"Content-Encoding": "identity"}))
    server.route("/deep", reply(200, FEED, {"Content-Encoding": "gzip, gzip, gzip, gzip"}))

    assert fetch_feed(server.url("/identity"), allow_private=True).body == FEED
    with pytest.raises(FetchError, match="compressed 4 times"):
        fetch_feed(server.url("/deep"), allow_private=True)


def test_corrupt_gzip_is_a_readable_error(server: FeedServer) -> None:
    server.route(
        "/corrupt", reply(200, b"\x1f\x8b\x08\x00garbage" * 10, {"Content-Encoding": "gzip"})
    )

    with pytest.raises(FetchError, match="could not be decompressed"):
        fetch_feed(server.url("/corrupt"), allow_private=True)


# --- DNS: one resolution per hop, the connection goes to the checked address -----------------


@pytest.fixture
def internal_server(server: FeedServer) -> Iterator[FeedServer]:
    """A second server on 127.0.0.2, same port: what a rebinding answer would reach."""
    state = FeedServer(port=server.port)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            reply(200, b"internal secrets")(self)

        def log_message(self, format, *args) -> None:
            pass

    try:
        httpd = ThreadingHTTPServer(("127.0.0.2", server.port), Handler)
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.2:{server.port}: {exc}")
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.usefixtures("only_test_server_allowed")
def test_rebinding_answer_is_never_used(
    server: FeedServer, internal_server: FeedServer, dns: FakeResolver
) -> None:
    # Public (127.0.0.1 here) when checked, loopback when asked again: only one answer is used.
    dns.answer("feeds.test", ["127.0.0.1"], ["127.0.0.2"])
    server.route("/feed.xml", reply(200, FEED))

    result = fetch_feed(f"http://feeds.test:{server.port}/feed.xml")

    assert result.body == FEED
    assert dns.asked == ["feeds.test"]
    assert internal_server.seen == []
    # The request still names the host it was meant for.
    assert server.seen[0][1]["host"] == f"feeds.test:{server.port}"


@pytest.mark.usefixtures("only_test_server_allowed")
def test_private_answer_is_refused_before_connecting(
    server: FeedServer, internal_server: FeedServer, dns: FakeResolver
) -> None:
    dns.answer("feeds.test", ["127.0.0.2"], ["127.0.0.1"])
    dns.answer("mixed.test", ["127.0.0.1", "10.0.0.7"])

    for host in ("feeds.test", "mixed.test"):
        with pytest.raises(BlockedURLError, match="private or local address"):
            fetch_feed(f"http://{host}:{server.port}/feed.xml")
    assert dns.asked == ["feeds.test", "mixed.test"]
    assert server.seen == [] and internal_server.seen == []


@pytest.mark.usefixtures("only_test_server_allowed")
def test_each_redirect_hop_is_resolved_once_and_checked(
    server: FeedServer, internal_server: FeedServer, dns: FakeResolver
) -> None:
    dns.answer("feeds.test", ["127.0.0.1"], ["127.0.0.2"])
    dns.answer("moved.test", ["127.0.0.1"], ["127.0.0.2"])
    server.route("/old", redirect(301, f"http://moved.test:{server.port}/feed.xml"))
    server.route("/feed.xml", redirect(302, f"http://feeds.test:{server.port}/final"))
    server.route("/final", reply(200, FEED))

    # Back on feeds.test, the name now answers loopback: the hop is checked again and refused.
    with pytest.raises(BlockedURLError, match=r"127\.0\.0\.2"):
        fetch_feed(f"http://feeds.test:{server.port}/old")

    assert dns.asked == ["feeds.test", "moved.test", "feeds.test"]
    assert server.paths() == ["/old", "/feed.xml"]
    assert internal_server.seen == []

    dns.asked.clear()
    dns.answer("feeds.test", ["127.0.0.1"])
    dns.answer("moved.test", ["127.0.0.1"])
    assert fetch_feed(f"http://feeds.test:{server.port}/old").body == FEED
    assert dns.asked == ["feeds.test", "moved.test", "feeds.test"]


def test_pinned_even_when_private_urls_are_allowed(
    server: FeedServer, internal_server: FeedServer, dns: FakeResolver
) -> None:
    dns.answer("feeds.test", ["127.0.0.1"], ["127.0.0.2"])
    server.route("/feed.xml", reply(200, FEED))

    assert fetch_feed(f"http://feeds.test:{server.port}/feed.xml", allow_private=True).body == FEED
    assert dns.asked == ["feeds.test"]
    assert internal_server.seen == []


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for feeds.test (and its key), made by the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=feeds.test", "-addext", "subjectAltName=DNS:feeds.test"),
            *("-keyout", key, "-out", cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedServer]:
    """An HTTPS server on 127.0.0.1 holding feeds.test's certificate; records the SNI it gets."""
    cert, key = tls_files
    state = FeedServer(port=0)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda _sock, name, _ctx: state.seen.append(
        ("sni", {"name": name})
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            reply(200, FEED)(self)

        def log_message(self, format, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    client_context = ssl.create_default_context(cafile=cert)
    monkeypatch.setattr(fetch_module, "_ssl_context", lambda: client_context)
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_tls_to_the_pinned_address_verifies_the_hostname(
    tls_server: FeedServer, dns: FakeResolver
) -> None:
    dns.answer("feeds.test", ["127.0.0.1"])
    dns.answer("other.test", ["127.0.0.1"])

    result = fetch_feed(f"https://feeds.test:{tls_server.port}/feed.xml", allow_private=True)

    assert result.body == FEED
    # SNI and the certificate check use the URL's name, though the socket went to 127.0.0.1.
    assert tls_server.seen[0] == ("sni", {"name": "feeds.test"})
    assert tls_server.seen[1][1]["host"] == f"feeds.test:{tls_server.port}"
    with pytest.raises(FetchError, match="TLS error"):
        fetch_feed(f"https://other.test:{tls_server.port}/feed.xml", allow_private=True)


def test_unforeseen_failure_is_a_fetch_error(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args) -> list[str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fetch_module, "_content_codings", explode)
    server.route("/feed.xml", reply(200, FEED))

    with pytest.raises(FetchError, match=r"unexpected error fetching .*RuntimeError") as info:
        fetch_feed(server.url("/feed.xml"), allow_private=True)
    assert not info.value.permanent


def test_endless_headers_are_refused(server: FeedServer) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Junk: ")
        for _ in range(1000):
            h.wfile.write(b"x" * 1024)

    server.route("/endless-headers", endless)

    with pytest.raises(FetchError, match="malformed response"):
        fetch_feed(server.url("/endless-headers"), allow_private=True)


@pytest.mark.usefixtures("only_test_server_allowed")
def test_international_names_are_resolved_and_pinned_in_ascii(
    server: FeedServer, dns: FakeResolver
) -> None:
    dns.answer("xn--bcher-kva.test", ["127.0.0.1"])
    server.route("/feed.xml", reply(200, FEED))

    result = fetch_feed(f"http://BÜCHER.test:{server.port}/feed.xml")

    assert result.body == FEED
    assert dns.asked == ["xn--bcher-kva.test"]
    assert server.seen[0][1]["host"] == f"xn--bcher-kva.test:{server.port}"
