"""Making untrusted text safe for Slack mrkdwn: escaping and bounded links."""

from __future__ import annotations

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    """Escape &, < and > so feed text cannot ping `<!channel>` or forge a `<url|link>`."""
    return text.translate(_ESCAPES)


def link(url: str | None, label: str) -> str:
    """A mrkdwn link with an escaped label; just the label when the URL is missing or odd."""
    safe_label = escape(label).replace("|", "∣")
    if not url or not url.startswith(("http://", "https://")) or any(c in url for c in "<>| "):
        return safe_label
    return f"<{escape(url)}|{safe_label}>"


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"
