"""HTTP fetching of feeds: polite, bounded and refusing private addresses. No parsing here."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

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
    shown = _display_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(f"{shown} is not a valid http(s) URL.", permanent=True) from None
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise FetchError(
            f"{shown} is not an http(s) URL; feeds must start with http:// or https://.",
            permanent=True,
        )
    if allow_private:
        return
    if host in _METADATA_HOSTS:
        raise BlockedURLError(f"{shown} points at a cloud metadata service and is refused.")

    try:
        # A literal address needs no lookup, and checking it here keeps odd inputs off the resolver.
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _resolve(host, port or (443 if parts.scheme.lower() == "https" else 80))

    for address in addresses:
        if not _is_public(address):
            raise BlockedURLError(
                f"{shown} resolves to a private or local address ({address}) and is refused; "
                "set DEVOPSBOT_ALLOW_PRIVATE_URLS=true to allow internal feeds."
            )


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

    Raises FetchError (or BlockedURLError) with a message fit to show a user.
    """
    own_client = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
    try:
        return _fetch(
            http,
            url,
            etag=etag,
            last_modified=last_modified,
            timeout=timeout,
            max_bytes=max_bytes,
            allow_private=allow_private,
            max_redirects=max_redirects,
            user_agent=user_agent,
        )
    finally:
        if own_client:
            http.close()


def _fetch(
    http: httpx.Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    max_bytes: int,
    allow_private: bool,
    max_redirects: int,
    user_agent: str,
) -> FetchResult:
    headers = {"User-Agent": user_agent, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    # Per-read timeouts alone let a server drip one byte per read forever; this caps the total.
    deadline = time.monotonic() + timeout * 3
    current = url
    hop_statuses: list[int] = []

    while True:
        check_url_allowed(current, allow_private)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(url, timeout)
        response = _send(http, current, headers, min(timeout, remaining), timeout)
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


def _send(
    http: httpx.Client, url: str, headers: dict[str, str], hop_timeout: float, timeout: float
) -> httpx.Response:
    try:
        request = http.build_request(
            "GET", url, headers=headers, timeout=httpx.Timeout(hop_timeout)
        )
        return http.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException:
        raise _timed_out(url, timeout) from None
    except httpx.HTTPError as exc:
        raise _network_error(exc, url) from None


def _read_body(
    response: httpx.Response, url: str, max_bytes: int, deadline: float, timeout: float
) -> bytes:
    too_large = FetchError(
        f"{_display_url(url)} is larger than {max_bytes} bytes; refusing to download it."
    )
    declared = response.headers.get("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise too_large

    chunks: list[bytes] = []
    received = 0
    try:
        # iter_bytes() decodes gzip/deflate, so the cap counts what we would hold in memory.
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise too_large
            if time.monotonic() > deadline:
                raise _timed_out(url, timeout)
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise _timed_out(url, timeout) from None
    except httpx.DecodingError:
        raise FetchError(
            f"{_display_url(url)} sent a body that could not be decompressed; will retry."
        ) from None
    except httpx.HTTPError as exc:
        raise _network_error(exc, url) from None
    return b"".join(chunks)


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


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(
            f"could not resolve host {host}; check the feed URL or try again later."
        ) from None
    addresses = []
    for info in infos:
        # Scope ids ("fe80::1%eth0") are not part of the address we judge.
        raw = str(info[4][0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(raw))
    if not addresses:
        raise FetchError(f"could not resolve host {host}; check the feed URL or try again later.")
    return addresses


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
        f"{timeout * 3:g}s in total); the server is slow or unreachable, will retry."
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
