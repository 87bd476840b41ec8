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
# GFM pipe tables: a header row, a delimiter row (`|---|:--:|`), then rows until a blank line.
_PIPE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$")
_TABLE_DELIMITER = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_CELL_MARKUP = re.compile(
    r"!?\[(?P<label>[^\]\n]*)\]\([^)\n]*\)|<(?P<auto>https?://[^>\s]+)>|\*\*|__|`|<br\s*/?>"
)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+")
_EMPHASIS_MARKS = re.compile(r"\*\*|__")

SECTION_LIMIT = 3000
# Slack wraps a code block near this many characters in a laptop-sized window; a table wider
# than that is unreadable as columns, so it becomes one line per row instead (never cut).
TABLE_WIDTH = 72


def _plain_label(markdown: str) -> str:
    """Link labels are plain text in Slack: drop emphasis and code marks from them."""
    return _EMPHASIS_MARKS.sub("", markdown).replace("`", "")


def _code_span(body: str) -> str:
    # Slack code spans cannot hold a backtick; a lookalike keeps the text readable.
    return "`" + escape(body.strip().replace("`", "ˋ")) + "`"


def inline_to_mrkdwn(markdown: str) -> str:
    """One line or paragraph of Markdown as mrkdwn: code spans, links, bold; the rest escaped."""
    if _PIPE_ROW.match(markdown) and "\n" not in markdown:
        # A lone table row (a table note's first line used as a label): cells, not pipes.
        return " · ".join(inline_to_mrkdwn(c) for c in _table_cells(markdown) if c)
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


# -- tables ---------------------------------------------------------------------------------


def _table_cells(line: str) -> list[str]:
    """The cells of one pipe-table row; `\\|` is a pipe inside a cell."""
    row = line.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [cell.strip().replace("\\|", "|") for cell in _CELL_SPLIT.split(row)]


def _plain_cell(markdown: str) -> str:
    """A cell as plain text for a code block: link labels kept, markup dropped."""
    plain = _CELL_MARKUP.sub(lambda m: m.group("label") or m.group("auto") or " ", markdown)
    return " ".join(plain.split())


def _fit(text: str, width: int, align: str) -> str:
    if align == "right":
        return text.rjust(width)
    return text.center(width) if align == "center" else text.ljust(width)


def _aligned_table(header: list[str], aligns: list[str], rows: list[list[str]]) -> str | None:
    """The table as padded columns, or None when it is too wide to read that way."""
    table = [[_plain_cell(c) for c in row] for row in [header, *rows]]
    widths = [max(1, *(len(row[i]) for row in table)) for i in range(len(header))]
    if sum(widths) + 2 * (len(widths) - 1) > TABLE_WIDTH:
        return None
    lines = [
        "  ".join(_fit(c, w, a) for c, w, a in zip(row, widths, aligns, strict=True))
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return _code_block("\n".join(line.rstrip() for line in lines))


def _table_records(header: list[str], rows: list[list[str]]) -> str:
    """One line per row: the row's first cell in bold, then `header: value` for the rest."""
    lines = []
    for row in rows:
        cells = [(h, v) for h, v in zip(header, row, strict=True) if v]
        if not cells:
            continue
        head = "*" + _plain_label(inline_to_mrkdwn(cells[0][1])) + "*"
        rest = [
            (f"{inline_to_mrkdwn(h)}: " if h else "") + inline_to_mrkdwn(v) for h, v in cells[1:]
        ]
        lines.append("• " + head + (" — " + " · ".join(rest) if rest else ""))
    return "\n".join(lines)


def _table_piece(lines: list[str]) -> tuple[str, str]:
    """A pipe table as aligned code when it fits, else as readable lines per row."""
    header = _table_cells(lines[0])
    aligns = []
    for spec in _table_cells(lines[1])[: len(header)]:
        right, left = spec.endswith(":"), spec.startswith(":")
        aligns.append("center" if left and right else "right" if right else "left")
    aligns += ["left"] * (len(header) - len(aligns))
    # GFM: extra cells are dropped and missing ones are empty.
    rows = [(_table_cells(line) + [""] * len(header))[: len(header)] for line in lines[2:]]
    aligned = _aligned_table(header, aligns, rows)
    return ("code", aligned) if aligned else ("prose", _table_records(header, rows))


def _is_table_start(lines: list[str], i: int) -> bool:
    if i + 1 >= len(lines) or "|" not in lines[i] or "|" not in lines[i + 1]:
        return False
    if not _TABLE_DELIMITER.match(lines[i + 1]):
        return False
    return len(_table_cells(lines[i])) == len(_table_cells(lines[i + 1]))


def _prose_pieces(markdown: str) -> list[tuple[str, str]]:
    """Prose between code blocks, with any pipe tables in it rendered as tables."""
    lines = markdown.split("\n")
    pieces: list[tuple[str, str]] = []
    prose: list[str] = []

    def flush() -> None:
        text = "\n".join(prose).strip("\n")
        if text.strip():
            pieces.append(("prose", _prose_to_mrkdwn(text)))
        prose.clear()

    i = 0
    while i < len(lines):
        if not _is_table_start(lines, i):
            prose.append(lines[i])
            i += 1
            continue
        end = i + 2
        while end < len(lines) and lines[end].strip() and "|" in lines[end]:
            end += 1
        flush()
        pieces.append(_table_piece(lines[i:end]))
        i = end
    flush()
    return pieces


def markdown_pieces(markdown: str) -> list[tuple[str, str]]:
    """Split Markdown into ("prose" | "code", mrkdwn) pieces in order, each converted.

    Pipe tables become aligned code blocks, or "header: value" lines when too wide.
    """
    pieces: list[tuple[str, str]] = []
    pos = 0
    for m in _FENCE.finditer(markdown):
        pieces.extend(_prose_pieces(markdown[pos : m.start()]))
        pieces.append(("code", _code_block(m.group(2))))
        pos = m.end()
    pieces.extend(_prose_pieces(markdown[pos:]))
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
