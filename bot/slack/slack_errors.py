"""Which Slack Web API errors are Slack's own trouble (retry, never give up) and which of those
may have done the work all the same (check before doing it again)."""

from __future__ import annotations

from typing import Any

# ok:false codes that say nothing about the request itself: Slack was overloaded, migrating,
# or failed inside. Retried for as long as it takes.
SLACK_SIDE_ERRORS = {
    "fatal_error",
    "internal_error",
    "message_limit_exceeded",
    "ratelimited",
    "rate_limited",
    "request_timeout",
    "service_unavailable",
    "team_added_to_org",
}
# Slack's documentation for these: "it's possible some aspect of the operation succeeded".
MAYBE_DONE_ERRORS = {"fatal_error", "internal_error"}


def error_code(response: Any) -> str | None:
    """The `error` of a Slack answer, if it has one."""
    code = response.get("error")
    return str(code) if code else None


def is_rate_limit(response: Any) -> bool:
    """HTTP 429, or Slack's `ratelimited` code."""
    return response.status_code == 429 or error_code(response) in ("ratelimited", "rate_limited")


def is_slack_side(response: Any) -> bool:
    """A rate limit, an HTTP 5xx or a code of Slack's own trouble: nothing wrong with the call."""
    return (
        is_rate_limit(response)
        or response.status_code >= 500
        or error_code(response) in SLACK_SIDE_ERRORS
    )


def may_have_been_done(response: Any) -> bool:
    """Slack failed after it may have acted on the call (HTTP 5xx, internal_error, …)."""
    return response.status_code >= 500 or error_code(response) in MAYBE_DONE_ERRORS
