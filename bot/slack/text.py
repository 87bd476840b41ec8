"""Making untrusted text safe for Slack mrkdwn: escaping, neutralized formatting, bounded links."""

from __future__ import annotations

import re

from bot.plaintext import safe_url, strip_controls, truncate

__all__ = ["escape", "feed_mrkdwn", "link", "neutralize", "truncate"]

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Slack has no escape for its formatting characters; a zero-width space on each side keeps
# the character visible (and copyable) but no longer next to the word it would format.
_ZWSP = "\u200b"
_FORMATTING = re.compile(r"[*_~`]")
_QUOTE_LINE = re.compile(r"^(?=&gt;)", re.M)
MAX_LINK_URL = 2048


def escape(text: str) -> str:
    """Escape &, < and > so text cannot ping `<!channel>` or forge a `<url|link>`; control and
    bidi characters (a NUL, a right-to-left override) are removed."""
    return strip_controls(text).translate(_ESCAPES)


def neutralize(mrkdwn: str) -> str:
    """Escaped mrkdwn with `*bold*`, `_italic_`, `~strike~`, code and `>` quotes made literal."""
    text = _FORMATTING.sub(lambda m: _ZWSP + m.group() + _ZWSP, mrkdwn)
    return _QUOTE_LINE.sub(_ZWSP, text)


def feed_mrkdwn(text: str | None, limit: int | None = None) -> str:
    """Text that came from a feed as literal mrkdwn: escaped, formatting neutralized, bounded
    (the limit counts characters shown, before escaping)."""
    plain = strip_controls(text or "")
    return neutralize(escape(truncate(plain, limit) if limit else plain))


def link(url: str | None, label: str) -> str:
    """A mrkdwn link with a literal label; just the label when the URL is missing, not http(s)
    (never `javascript:`), holds spaces or markup, or is absurdly long."""
    safe_label = neutralize(escape(label)).replace("|", "∣")
    url = safe_url(url, MAX_LINK_URL)
    if url is None:
        return safe_label
    return f"<{escape(url)}|{safe_label}>"
