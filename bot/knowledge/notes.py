"""Chunk Markdown notes the way people wrote them: bullets, titled code blocks, paragraphs."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.knowledge.chunk import SECTION_SEP, ChunkDraft

_md = MarkdownIt("commonmark")
_BULLET_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s?")
_LABEL = re.compile(r"(?i)^(example|sample)?\s*(output|result|usage)\b|[:;]$")
_TITLE_SPLIT = re.compile(r":\s|\s[-–—]\s")
_MAX_TITLE = 80
_MAX_NAME_CHARS = 40
_MAX_NAME_WORDS = 5


@dataclass
class _State:
    headings: list[tuple[int, str]] = field(default_factory=list)
    bold_title: str = ""

    def heading_path(self) -> list[str]:
        return [text for _, text in self.headings]


def plain_inline(token: Token) -> str:
    """Visible text of an inline token: emphasis markers and link targets dropped."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            # Notion exports split bold runs oddly (`**L****ist**`); stray markers are noise.
            parts.append(child.content.replace("**", "") if child.type == "text" else child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts).strip()


def _is_bold_line(token: Token) -> bool:
    """True when the first line of an inline token is entirely bold (a Notion-style title)."""
    kinds = []
    for child in token.children or []:
        if child.type in ("softbreak", "hardbreak"):
            break
        if child.type == "text" and not child.content.strip():
            continue
        kinds.append(child.type)
    return bool(kinds) and kinds[0] == "strong_open" and kinds[-1] == "strong_close"


def bullet_name(text: str) -> str | None:
    """What the author named a bullet: `name: description`, or a short line of its own."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    head, sep, _ = _split_name(first)
    if sep and head and len(head) <= _MAX_TITLE:
        return head
    if len(first) <= _MAX_NAME_CHARS and len(first.split()) <= _MAX_NAME_WORDS:
        return first.rstrip(":")
    return None


def _split_name(line: str) -> tuple[str, str, str]:
    match = _TITLE_SPLIT.search(line)
    if not match:
        return line, "", ""
    return line[: match.start()].strip().rstrip(":"), match.group(), line[match.end() :]


def short_title(text: str) -> str:
    """A bullet's name, else its opening words: used in the section path of its children."""
    name = bullet_name(text)
    if name:
        return name
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:_MAX_TITLE].rsplit(" ", 1)[0] + "…" if len(first) > _MAX_TITLE else first


def _source_lines(lines: list[str], span: list[int] | None) -> str:
    if not span:
        return ""
    return "\n".join(lines[span[0] : span[1]])


def _item_text(lines: list[str], span: list[int]) -> str:
    """A list item's own source, its marker removed and its children dedented under it."""
    block = lines[span[0] : span[1]]
    first = _BULLET_MARKER.sub("", block[0], count=1)
    rest = textwrap.dedent("\n".join(block[1:])) if len(block) > 1 else ""
    return (first + ("\n" + rest if rest.strip() else "")).strip()


def chunk_markdown(text: str) -> list[ChunkDraft]:
    """Split a Markdown document into answerable chunks with heading paths and line ranges."""
    lines = text.splitlines()
    tokens = _md.parse(text)
    state = _State()
    chunks: list[ChunkDraft] = []
    # Ancestor bullets of the list item being walked, as (title, depth) — their titles extend
    # the section path so `execsnoop` keeps its parent `bcc-tools`.
    item_stack: list[str] = []
    pending_lead: tuple[str, str, list[int]] | None = (
        None  # (title, rest, span) before a code block
    )
    quote_depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            title = plain_inline(tokens[i + 1])
            state.headings = [(lv, t) for lv, t in state.headings if lv < level]
            if title:
                state.headings.append((level, title))
            state.bold_title = ""
            pending_lead = None
            i += 3
            continue
        if tok.type == "list_item_open":
            inline = _first_inline(tokens, i)
            own = plain_inline(inline) if inline is not None else ""
            path = state.heading_path()
            section = SECTION_SEP.join(path + item_stack)
            if own and tok.map:
                # An unnamed bullet is about its heading; its opening words are no title.
                title = bullet_name(own) or (item_stack or path or [short_title(own)])[-1]
                chunks.append(
                    ChunkDraft(
                        kind="note",
                        title=title,
                        section=section,
                        text=_item_text(lines, tok.map),
                        line_start=tok.map[0] + 1,
                        line_end=tok.map[1],
                    )
                )
            item_stack.append(short_title(own) if own else "")
            i += 1
            continue
        if tok.type == "list_item_close":
            item_stack.pop()
            i += 1
            continue
        if tok.type in ("blockquote_open", "blockquote_close"):
            quote_depth += 1 if tok.type == "blockquote_open" else -1
            i += 1
            continue
        if item_stack:
            # Everything nested in a bullet is already part of that bullet's chunk.
            i += 1
            continue
        if tok.type == "paragraph_open":
            inline = tokens[i + 1]
            body = plain_inline(inline)
            nxt = tokens[i + 3] if i + 3 < len(tokens) else None
            if body and _is_bold_line(inline) and "\n" not in body:
                state.bold_title = body
                pending_lead = None
            elif nxt is not None and nxt.type in ("fence", "code_block") and len(body) <= 200:
                first, _, rest = body.partition("\n")
                if _is_bold_line(inline):
                    state.bold_title = first
                    pending_lead = (first, inline.content.partition("\n")[2], tok.map or [])
                elif _LABEL.search(first) and state.bold_title:
                    label = first.rstrip(":; ")
                    pending_lead = (f"{state.bold_title}: {label}", rest, tok.map or [])
                else:
                    state.bold_title = first.rstrip(":; ")
                    pending_lead = (state.bold_title, rest, tok.map or [])
            elif body and not _only_images(inline):
                raw = _source_lines(lines, tok.map)
                if quote_depth:
                    raw = re.sub(r"(?m)^\s*>\s?", "", raw)
                path = state.heading_path()
                chunks.append(
                    ChunkDraft(
                        kind="note",
                        title=path[-1] if path else short_title(body),
                        section=SECTION_SEP.join(path),
                        text=raw.strip(),
                        line_start=tok.map[0] + 1 if tok.map else None,
                        line_end=tok.map[1] if tok.map else None,
                    )
                )
            i += 3
            continue
        if tok.type in ("fence", "code_block"):
            path = state.heading_path()
            code = tok.content.rstrip("\n")
            if code.strip():
                start = tok.map[0] if tok.map else None
                if pending_lead is not None:
                    title, rest, span = pending_lead
                    start = span[0] if span else start
                else:
                    title, rest = state.bold_title or (path[-1] if path else "code"), ""
                body = (rest.strip() + "\n" if rest.strip() else "") + f"```\n{code}\n```"
                chunks.append(
                    ChunkDraft(
                        kind="note",
                        title=title,
                        section=SECTION_SEP.join(path),
                        text=body,
                        line_start=start + 1 if start is not None else None,
                        line_end=tok.map[1] if tok.map else None,
                    )
                )
            pending_lead = None
            i += 1
            continue
        i += 1
    return chunks


def _first_inline(tokens: list[Token], start: int) -> Token | None:
    """The inline token of a list item's own first paragraph (not of its children)."""
    depth = 0
    for tok in tokens[start + 1 :]:
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            return None
        if tok.type == "list_item_close" and depth == 0:
            return None
        if tok.type == "inline":
            return tok
        if tok.type in ("fence", "code_block"):
            return None
        depth += tok.nesting if tok.type.endswith(("_open", "_close")) else 0
    return None


def _only_images(inline: Token) -> bool:
    kids = [c for c in inline.children or [] if c.type != "softbreak"]
    return bool(kids) and all(
        c.type == "image" or (c.type == "text" and not c.content.strip()) for c in kids
    )
