"""Reading and checking a request to /slack/events before bolt sees it.

bolt's WSGI adapter reads the whole body and decodes and parses it before checking the
signature, so a non-UTF-8 body, broken JSON or a JSON array became a 500 with a stack trace.
Here the body is read with a cap and checked, and what is not a Slack request is refused with
a reason that names no part of the body.
"""

from __future__ import annotations

from typing import IO, Any

from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_normalized_headers, extract_content_type, parse_body

# Slack's requests are kilobytes, tens of them for an interaction carrying a whole modal view:
# 1 MiB leaves ample room and bounds what one request can make the bot hold.
MAX_BODY_BYTES = 1 << 20
_READ_CHUNK = 64 * 1024
# Every kind of request Slack sends carries one of these: Events API and interactivity
# payloads a `type`, slash commands a `command`, Slack's certificate probe `ssl_check`.
_SLACK_KEYS = ("type", "command", "ssl_check")


class RefusedRequest(Exception):
    """A request answered with `status` and `reason` instead of being passed to bolt."""

    status = "400 Bad Request"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BodyTooLarge(RefusedRequest):
    """The body is over the cap (declared by Content-Length, or found while reading)."""

    status = "413 Content Too Large"


def read_body(environ: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, never reading more than limit + 1 bytes of it."""
    declared = (environ.get("CONTENT_LENGTH") or "").strip()
    length: int | None = None
    if declared:
        if not declared.isdigit():
            raise RefusedRequest("the Content-Length header is not a number")
        length = int(declared)
        if length > limit:
            raise BodyTooLarge(f"Content-Length {length} is over the {limit}-byte limit")
    stream: IO[bytes] | None = environ.get("wsgi.input")
    if stream is None or length == 0:
        return b""
    # Without a length (a server that passes chunked bodies through) read one byte past the
    # cap: that byte alone says the body is too large.
    wanted = length if length is not None else limit + 1
    parts: list[bytes] = []
    got = 0
    while got < wanted:
        part = stream.read(min(_READ_CHUNK, wanted - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    if got > limit:
        raise BodyTooLarge(f"the body is over the {limit}-byte limit")
    return b"".join(parts)


def bolt_request(raw: bytes, query: str, headers: dict[str, Any]) -> BoltRequest:
    """A BoltRequest for a body that is a Slack request; RefusedRequest says what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedRequest("the body is not UTF-8 text") from None
    if not text:
        raise RefusedRequest("the body is empty")
    # bolt's own parsing rules (JSON by content type or a leading brace, else a form whose
    # `payload` field may hold JSON), so what passes here parses the same way in bolt.
    content_type = extract_content_type(build_normalized_headers(headers))
    try:
        body = parse_body(text, content_type)
    except ValueError:  # json.JSONDecodeError
        raise RefusedRequest("the body is not valid JSON") from None
    except RecursionError:
        raise RefusedRequest("the body's JSON nests too deeply") from None
    if not isinstance(body, dict):
        raise RefusedRequest(f"the body is a JSON {type(body).__name__}, not an object")
    if not any(key in body for key in _SLACK_KEYS):
        raise RefusedRequest("the body is not a Slack request (no type or command)")
    try:
        return BoltRequest(body=text, query=query, headers=headers)
    except Exception as exc:  # bolt's field extraction trips on wrongly typed fields
        raise RefusedRequest(
            f"the body has fields of the wrong type ({type(exc).__name__})"
        ) from None
