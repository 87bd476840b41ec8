"""HTTP fetching of feeds: polite, bounded and refusing private addresses. No parsing here.

Each fetch resolves a host once, checks the answer and connects to exactly that address; one
deadline bounds the whole fetch at the socket level; bodies are decoded in bounded steps.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "devopsbot/0.1 (+https://github.com/devopsbot)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

# Cloud metadata services answer on these names; refusing them by name means a DNS answer
# that happens to look public (or a resolver we do not control) cannot reach them.
_METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# The whole fetch (DNS, connect, TLS, headers, body, every redirect hop) gets this many per-phase
# timeouts: per-read timeouts alone let a server drip one byte per read forever.
TOTAL_TIMEOUT_FACTOR = 3
# Content codings we ask for and decode ourselves; anything else is refused, never guessed at.
ACCEPT_ENCODING = "gzip, deflate"
_GZIP = frozenset({"gzip", "x-gzip"})
_MAX_CODINGS = 3  # "gzip, gzip" is legal and seen; a longer stack is only ever an attack
_PIECE = 64 * 1024  # most bytes one decoding step may produce, so a bomb inflates in small steps

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """A fetch failed in a way the user should hear about; `message` says what to do."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent


class BlockedURLError(FetchError):
    """The URL points at a private, loopback, link-local or metadata address."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status, permanent=True)


@dataclass(frozen=True)
class FetchResult:
    """What one successful (200) or unchanged (304) fetch returned."""

    url: str
    final_url: str
    permanent_url: str | None
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    cache_max_age: float | None
    retry_after: float | None

    @property
    def not_modified(self) -> bool:
        """True when the server answered 304: keep what we have."""
        return self.status == 304


def check_url_allowed(url: str, allow_private: bool) -> None:
    """Raise BlockedURLError unless url is http(s) and every address its host resolves to is public.

    Only resolves the host; never connects to it.
    """
    _checked_target(url, allow_private, connecting=False)


def resolve(host: str) -> list[Address]:
    """Every address `host` resolves to: the one DNS lookup a fetch hop makes (tests replace it)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(
            f"could not resolve host {host}; check the feed URL or try again later."
        ) from None
    addresses: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]))
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"could not resolve host {host}; check the feed URL or try again later.")
    return addresses


@dataclass(frozen=True)
class _Target:
    """A URL's host as the connection pool names it, and the checked addresses to connect to."""

    host: str
    addresses: tuple[Address, ...]


def _checked_target(
    url: str, allow_private: bool, deadline: float | None = None, *, connecting: bool = True
) -> _Target:
    """Validate url, resolve its host once and check every address (unless private is allowed).

    Without `connecting`, an allowed private host is not even resolved: nothing will use it.
    """
    shown = _display_url(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
        # The pool names hosts the way httpx encodes them (IDNA, no brackets): pin that name.
        pool_host = httpx.URL(url).raw_host.decode("ascii").lower()
    except (ValueError, httpx.InvalidURL):
        raise FetchError(f"{shown} is not a valid http(s) URL.", permanent=True) from None
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise FetchError(
            f"{shown} is not an http(s) URL; feeds must start with http:// or https://.",
            permanent=True,
        )
    if not allow_private and host in _METADATA_HOSTS:
        raise BlockedURLError(f"{shown} points at a cloud metadata service and is refused.")
    if allow_private and not connecting:
        return _Target(pool_host, ())

    try:
        # A literal address needs no lookup, and checking it here keeps odd inputs off the resolver.
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _resolve_within(pool_host.rstrip("."), deadline, url)

    if not allow_private:
        for address in addresses:
            if not _is_public(address):
                raise BlockedURLError(
                    f"{shown} resolves to a private or local address ({address}) and is "
                    "refused; set DEVOPSBOT_ALLOW_PRIVATE_URLS=true to allow internal feeds."
                )
    return _Target(pool_host, tuple(addresses))


def _resolve_within(host: str, deadline: float | None, url: str) -> list[Address]:
    """resolve(host), given up on at the deadline: getaddrinfo itself cannot be interrupted."""
    if deadline is None:
        return resolve(host)
    outcome: list[list[Address] | BaseException] = []

    def run() -> None:
        try:
            outcome.append(resolve(host))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append(exc)

    # A daemon thread: a resolver stuck past the deadline is left to finish on its own.
    worker = threading.Thread(target=run, name="devopsbot-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not outcome:
        raise FetchError(
            f"timed out resolving host {host} for {_display_url(url)}; will retry later."
        )
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 10.0,
    max_bytes: int = 5_000_000,
    allow_private: bool = False,
    client: httpx.Client | None = None,
    max_redirects: int = 5,
    user_agent: str = DEFAULT_USER_AGENT,
) -> FetchResult:
    """GET a feed politely: conditional headers, redirects checked hop by hop, size and time caps.

    `timeout` bounds each connect, read and write; the whole fetch, redirects included, gets
    TOTAL_TIMEOUT_FACTOR times that. `client` is accepted for compatibility and not used:
    connections are never shared between fetches, each goes to the address checked for it.
    Raises FetchError (or BlockedURLError) with a message fit to show a user.
    """
    del client
    deadline = time.monotonic() + timeout * TOTAL_TIMEOUT_FACTOR
    backend = _PinnedBackend(deadline)
    try:
        # trust_env=False: a proxy from the environment would resolve names itself, unchecked.
        with httpx.Client(
            transport=_PinnedTransport(backend), trust_env=False, follow_redirects=False
        ) as http:
            return _fetch(
                http,
                backend,
                url,
                etag=etag,
                last_modified=last_modified,
                timeout=timeout,
                deadline=deadline,
                max_bytes=max_bytes,
                allow_private=allow_private,
                max_redirects=max_redirects,
                user_agent=user_agent,
            )
    except FetchError:
        raise
    except Exception as exc:
        # A server can send what no one foresaw; the poller must get an error, not a crash.
        log.exception("unexpected error fetching %s", _display_url(url))
        raise FetchError(
            f"unexpected error fetching {_display_url(url)} ({type(exc).__name__}); will retry."
        ) from None


def _fetch(
    http: httpx.Client,
    backend: _PinnedBackend,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    deadline: float,
    max_bytes: int,
    allow_private: bool,
    max_redirects: int,
    user_agent: str,
) -> FetchResult:
    headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    current = url
    hop_statuses: list[int] = []

    while True:
        backend.pin(_checked_target(current, allow_private, deadline))
        if deadline - time.monotonic() <= 0:
            raise _timed_out(url, timeout)
        response = _send(http, current, headers, timeout)
        try:
            status = response.status_code
            if status in _REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(
                        f"{_display_url(current)} answered HTTP {status} without a Location "
                        "header; check the feed URL.",
                        status=status,
                    )
                hop_statuses.append(status)
                if len(hop_statuses) > max_redirects:
                    raise FetchError(
                        f"{_display_url(url)} redirected more than {max_redirects} times; "
                        "check the feed URL.",
                        status=status,
                    )
                try:
                    current = str(response.url.join(location).copy_with(fragment=None))
                except httpx.InvalidURL:
                    raise FetchError(
                        f"{_display_url(current)} redirected to an invalid URL.", status=status
                    ) from None
                continue

            _raise_for_status(response, current)
            if status == 304:
                body = b""
            else:
                body = _read_body(response, current, max_bytes, deadline, timeout)
            return _result(
                response,
                url=url,
                final_url=current,
                hop_statuses=hop_statuses,
                body=body,
                sent_etag=etag,
                sent_last_modified=last_modified,
            )
        finally:
            # Redirect and error bodies are never read; closing drops them unread.
            response.close()


def _send(http: httpx.Client, url: str, headers: dict[str, str], timeout: float) -> httpx.Response:
    try:
        request = http.build_request("GET", url, headers=headers, timeout=httpx.Timeout(timeout))
        return http.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException:
        raise _timed_out(url, timeout) from None
    except httpx.HTTPError as exc:
        raise _network_error(exc, url) from None


def _read_body(
    response: httpx.Response, url: str, max_bytes: int, deadline: float, timeout: float
) -> bytes:
    shown = _display_url(url)
    too_large = FetchError(f"{shown} is larger than {max_bytes} bytes; refusing to download it.")
    declared = response.headers.get("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise too_large
    codings = _content_codings(response.headers.get("Content-Encoding"), shown)

    def raw() -> Iterator[bytes]:
        received = 0
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > max_bytes:
                raise too_large
            yield chunk

    pieces: Iterable[bytes] = raw()
    for coding in codings:
        pieces = _inflate(pieces, coding)

    chunks: list[bytes] = []
    decoded = 0
    try:
        # The cap counts decoded bytes, each step of which is small: what we would hold in memory.
        for piece in pieces:
            decoded += len(piece)
            if decoded > max_bytes:
                raise too_large
            if time.monotonic() > deadline:
                raise _timed_out(url, timeout)
            chunks.append(piece)
    except httpx.TimeoutException:
        raise _timed_out(url, timeout) from None
    except zlib.error:
        raise FetchError(
            f"{shown} sent a body that could not be decompressed; will retry."
        ) from None
    except httpx.HTTPError as exc:
        raise _network_error(exc, url) from None
    return b"".join(chunks)


def _content_codings(header: str | None, shown: str) -> list[str]:
    """The codings to undo, last applied first; refuses any we did not offer to accept."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in _GZIP and coding != "deflate":
            raise FetchError(
                f"{shown} sent its body with Content-Encoding {coding!r}, which devopsbot did not "
                "ask for and does not decode; will retry."
            )
    if len(codings) > _MAX_CODINGS:
        raise FetchError(
            f"{shown} sent its body compressed {len(codings)} times over; refusing to decode it."
        )
    return codings[::-1]


def _inflate(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """Undo one gzip or deflate layer, producing at most _PIECE bytes per step."""
    gzip_like = coding in _GZIP
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip_like else zlib.MAX_WBITS)
    started = False
    for chunk in chunks:
        pending = chunk
        while pending:
            if inflater.eof:
                # gzip allows members back to back; anything else after the end is junk.
                if not (gzip_like and pending[:1] == b"\x1f"):
                    return
                inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            try:
                out = inflater.decompress(pending, _PIECE)
            except zlib.error:
                if gzip_like or started:
                    raise
                # Some servers label raw deflate (no zlib header) as "deflate".
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                out = inflater.decompress(pending, _PIECE)
            started = True
            pending = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if out:
                yield out
    if not inflater.eof:
        # All input is consumed here, so what zlib still holds is at most a window's worth.
        tail = inflater.flush()
        if tail:
            yield tail


# -- connections pinned to checked addresses, bounded by the fetch's deadline ------------------


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to the addresses checked for a host in this fetch, never past its deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._pins: dict[str, tuple[Address, ...]] = {}
        self._sockets = httpcore.SyncBackend()

    def pin(self, target: _Target) -> None:
        """Connections to target.host from now on go to target.addresses, and nowhere else."""
        self._pins[target.host] = target.addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Try each checked address of host in turn; never resolves the name again."""
        addresses = self._pins.get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        error: Exception = httpcore.ConnectError(f"could not connect to {host}")
        for address in addresses:
            limit = _time_left(self.deadline, timeout, httpcore.ConnectTimeout)
            try:
                stream = self._sockets.connect_tcp(
                    str(address), port, limit, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self.deadline)
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Feeds are never fetched over unix sockets."""
        raise httpcore.ConnectError("unix sockets are not used for feeds")

    def sleep(self, seconds: float) -> None:
        """Part of the backend interface (retries); feeds are fetched with none."""
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every connect, TLS, read and write ends by the fetch's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read up to max_bytes, waiting no longer than the timeout or the deadline allows."""
        return self._stream.read(
            max_bytes, _time_left(self._deadline, timeout, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send all of buffer before the timeout and the deadline."""
        self._stream.write(buffer, _time_left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        """Close the socket."""
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """TLS for the URL's hostname (SNI and certificate), the whole handshake by the deadline."""
        limit = _time_left(self._deadline, timeout, httpcore.ConnectTimeout)
        tls = self._stream.start_tls(ssl_context, server_hostname, limit)
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> object:
        """What the wrapped stream knows (ssl_object, server_addr, is_readable…)."""
        return self._stream.get_extra_info(info)


def _time_left(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    # Python applies a socket timeout to one whole recv, send(all), connect or TLS handshake, so
    # clamping each to the time left bounds the fetch however slowly the server drips.
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the fetch's overall deadline has passed")
    return left if timeout is None else min(timeout, left)


class _PinnedTransport(httpx.BaseTransport):
    """httpx over one httpcore pool that uses _PinnedBackend (HTTP/1.1, no retries)."""

    def __init__(self, backend: _PinnedBackend) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=2,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send request through the pinned pool; httpcore errors become httpx ones."""
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors(request):
            response = self._pool.handle_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response, request),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close every connection of this fetch."""
        self._pool.close()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors(self._request):
            yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


_ERRORS: tuple[tuple[type[Exception], type[httpx.RequestError]], ...] = (
    # Most specific first: httpcore's classes subclass each other as httpx's do.
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    """Re-raise httpcore's exceptions as the httpx ones callers catch, keeping the cause."""
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _ERRORS:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc), request=request) from exc
        raise


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi CAs), built once: loading CAs is slow."""
    return httpx.create_ssl_context()


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    shown = _display_url(url)
    if status == 304 or (200 <= status < 300 and status != 204):
        return
    if status == 204:
        raise FetchError(f"{shown} returned HTTP 204 (no content); check the feed URL.", status=204)
    if status == 410:
        raise FetchError(
            f"{shown} returned HTTP 410: the feed is gone for good, so polling it stops. "
            "Remove the subscription or add the feed's new URL.",
            status=410,
            permanent=True,
        )
    if status in (429, 503):
        retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        reason = "is rate limiting us" if status == 429 else "is unavailable"
        when = f"in {retry_after:.0f} seconds" if retry_after is not None else "later"
        raise FetchError(
            f"{shown} returned HTTP {status} (the server {reason}); will retry {when}.",
            status=status,
            retry_after=retry_after,
        )
    if status == 404:
        raise FetchError(f"{shown} returned HTTP 404 (not found); check the feed URL.", status=404)
    if status in (401, 403):
        raise FetchError(
            f"{shown} returned HTTP {status} (access denied); the feed may need credentials "
            "or may block bots.",
            status=status,
        )
    if 400 <= status < 500:
        raise FetchError(f"{shown} returned HTTP {status}; check the feed URL.", status=status)
    if status >= 500:
        raise FetchError(
            f"{shown} returned HTTP {status} (server error); will retry later.", status=status
        )
    raise FetchError(f"{shown} returned unexpected HTTP {status}.", status=status)


def _result(
    response: httpx.Response,
    *,
    url: str,
    final_url: str,
    hop_statuses: list[int],
    body: bytes,
    sent_etag: str | None,
    sent_last_modified: str | None,
) -> FetchResult:
    permanent_url = None
    if hop_statuses and all(s in _PERMANENT_REDIRECTS for s in hop_statuses) and final_url != url:
        permanent_url = final_url
    etag = response.headers.get("ETag")
    last_modified = response.headers.get("Last-Modified")
    if response.status_code == 304:
        # A 304 may omit the validators; the ones we sent are still the current ones.
        etag = etag or sent_etag
        last_modified = last_modified or sent_last_modified
    return FetchResult(
        url=url,
        final_url=final_url,
        permanent_url=permanent_url,
        status=response.status_code,
        body=body,
        etag=etag,
        last_modified=last_modified,
        content_type=response.headers.get("Content-Type"),
        cache_max_age=_parse_max_age(response.headers.get("Cache-Control")),
        retry_after=_parse_retry_after(response.headers.get("Retry-After")),
    )


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse_max_age(value: str | None) -> float | None:
    """The max-age directive of a Cache-Control header in seconds; None if absent or malformed."""
    if not value:
        return None
    for directive in value.split(","):
        name, _, arg = directive.strip().partition("=")
        if name.strip().lower() != "max-age":
            continue
        arg = arg.strip().strip('"')
        if arg.isdigit():
            return float(arg)
        return None
    return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address reach that address; judge the embedded one.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _is_public(embedded)
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _timed_out(url: str, timeout: float) -> FetchError:
    return FetchError(
        f"timed out fetching {_display_url(url)} (limit {timeout:g}s per read, "
        f"{timeout * TOTAL_TIMEOUT_FACTOR:g}s for the whole fetch); the server is slow or "
        "unreachable, will retry."
    )


def _network_error(exc: httpx.HTTPError, url: str) -> FetchError:
    shown = _display_url(url)
    host = urlsplit(url).hostname or shown
    causes = list(_cause_chain(exc))
    if any(isinstance(c, socket.gaierror) for c in causes):
        message = f"could not resolve host {host}; check the feed URL or try again later."
    elif any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in str(exc):
        message = f"connection refused by {host} fetching {shown}; will retry later."
    elif any(isinstance(c, ssl.SSLError) for c in causes):
        message = f"TLS error connecting to {shown} (bad or expired certificate?); will retry."
    elif isinstance(exc, httpx.RemoteProtocolError):
        message = f"{shown} closed the connection or sent a malformed response; will retry."
    elif isinstance(exc, httpx.ConnectError):
        message = f"could not connect to {shown}; will retry later."
    else:
        message = f"network error fetching {shown}; will retry later."
    return FetchError(message)


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _display_url(url: str) -> str:
    """The URL without any user:password part, so credentials never reach a message or log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
