"""Markdown (notes) to Slack mrkdwn, and splitting mrkdwn within Block Kit's text limits.

Everything that is not markup we understand is escaped, so a note or a feed can never ping
`<!channel>`, mention someone or forge a link. Pure functions: text in, text out.
"""

from __future__ import annotations

import re

from bot.knowledge.articles import excerpt
from bot.slack.text import escape, link

# A fenced code block: ``` or ~~~ on its own line, anything, the same fence closing it.
_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_INLINE = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<code_body>.+?)(?P=ticks))"
    r"|(?P<image>!\[(?P<alt>[^\]\n]*)\]\((?P<img_url>(?:[^()\s]|\([^()\s]*\))+)"
    r"(?:\s+\"[^\"\n]*\")?\))"
    r"|(?P<link>\[(?P<label>[^\]\n]+)\]\(\s*<?(?P<url>(?:[^()\s<>]|\([^()\s]*\))+)>?"
    r"(?:\s+\"[^\"\n]*\")?\s*\))"
    r"|(?P<auto><(?P<auto_url>https?://[^>\s]+)>)"
    r"|(?P<bold>\*\*(?P<bold_body>[^*\n]+?)\*\*|__(?P<bold_body2>[^_\n]+?)__)"
)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+")
_EMPHASIS_MARKS = re.compile(r"\*\*|__")

SECTION_LIMIT = 3000


def _plain_label(markdown: str) -> str:
    """Link labels are plain text in Slack: drop emphasis and code marks from them."""
    return _EMPHASIS_MARKS.sub("", markdown).replace("`", "")


def _code_span(body: str) -> str:
    # Slack code spans cannot hold a backtick; a lookalike keeps the text readable.
    return "`" + escape(body.strip().replace("`", "ˋ")) + "`"


def inline_to_mrkdwn(markdown: str) -> str:
    """One line or paragraph of Markdown as mrkdwn: code spans, links, bold; the rest escaped."""
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(markdown):
        out.append(escape(markdown[pos : m.start()]))
        pos = m.end()
        if m.group("code"):
            out.append(_code_span(m.group("code_body")))
        elif m.group("image"):
            out.append(link(m.group("img_url"), _plain_label(m.group("alt")) or "image"))
        elif m.group("link"):
            out.append(link(m.group("url"), _plain_label(m.group("label"))))
        elif m.group("auto"):
            url = m.group("auto_url")
            out.append(link(url, url))
        else:
            body = m.group("bold_body") or m.group("bold_body2") or ""
            out.append("*" + inline_to_mrkdwn(body).strip() + "*")
    out.append(escape(markdown[pos:]))
    return "".join(out)


def _prose_to_mrkdwn(markdown: str) -> str:
    lines = []
    for line in markdown.split("\n"):
        heading = _HEADING.match(line)
        if heading:
            lines.append("*" + inline_to_mrkdwn(heading.group(2)) + "*")
            continue
        bullet = _BULLET.match(line)
        if bullet:
            # Slack has no lists in mrkdwn; a bullet character and indentation read the same.
            depth = len(bullet.group(1).expandtabs(4)) // 2
            line = "\u2003" * depth + "• " + line[bullet.end() :]
            lines.append(inline_to_mrkdwn(line))
            continue
        lines.append(inline_to_mrkdwn(line))
    return "\n".join(lines)


def _code_block(body: str) -> str:
    body = body.rstrip("\n")
    # Three backticks inside a code block would close it early.
    return "```\n" + escape(body.replace("```", "ˋˋˋ")) + "\n```"


def markdown_pieces(markdown: str) -> list[tuple[str, str]]:
    """Split Markdown into ("prose" | "code", mrkdwn) pieces in order, each converted."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    for m in _FENCE.finditer(markdown):
        before = markdown[pos : m.start()].strip("\n")
        if before.strip():
            pieces.append(("prose", _prose_to_mrkdwn(before)))
        pieces.append(("code", _code_block(m.group(2))))
        pos = m.end()
    rest = markdown[pos:].strip("\n")
    if rest.strip():
        pieces.append(("prose", _prose_to_mrkdwn(rest)))
    return pieces


def markdown_to_mrkdwn(markdown: str) -> str:
    """A whole note as one mrkdwn string (may exceed a section's limit: see `split_mrkdwn`)."""
    return "\n".join(text for _, text in markdown_pieces(markdown))


def _safe_cut(text: str, limit: int) -> int:
    """Where to cut a line longer than `limit` without breaking an entity or a <link>."""
    cut = limit
    window = text[:cut]
    amp = window.rfind("&")
    if amp != -1 and ";" not in window[amp:]:
        cut = amp
    lt = text.rfind("<", 0, cut)
    if lt > 0 and ">" not in text[lt:cut]:
        cut = lt
    space = text.rfind(" ", 0, cut)
    if space > cut // 2:
        cut = space + 1
    return max(cut, 1)


def _split_lines(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = _safe_cut(line, limit)
            head, line = line[:cut], line[cut:]
            if current:
                parts.append(current)
                current = ""
            parts.append(head)
        candidate = line if not current else current + "\n" + line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def _split_piece(kind: str, text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    if kind != "code":
        return _split_lines(text, limit)
    # Split the code itself and fence every part, so each section renders as code.
    body = text.removeprefix("```\n").removesuffix("\n```")
    return ["```\n" + part + "\n```" for part in _split_lines(body, limit - 8)]


def split_mrkdwn(pieces: list[tuple[str, str]], limit: int = SECTION_LIMIT) -> list[str]:
    """Pack converted pieces into texts of at most `limit` characters, never mid-code-fence."""
    texts: list[str] = []
    current = ""
    for kind, text in pieces:
        for part in _split_piece(kind, text, limit):
            candidate = part if not current else current + "\n" + part
            if len(candidate) > limit:
                texts.append(current)
                current = part
            else:
                current = candidate
    if current:
        texts.append(current)
    return [t for t in texts if t]


def plain_excerpt(text: str, limit: int) -> str:
    """Escaped plain text (feed articles) cut at a word boundary."""
    return escape(excerpt(text, limit))
