"""Chunk Markdown notes the way people wrote them: bullets, titled code blocks, paragraphs.

One chunk per bullet (with its nested children), per titled code block, per paragraph, per
numbered procedure and per table. Pure functions: Markdown text in, `ChunkDraft`s out.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.chunks import SECTION_SEP, ChunkDraft

_md = MarkdownIt("commonmark").enable("table")
_BULLET_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s?")
# "Example output:" after a titled code block names a second block of the same example.
_LABEL = re.compile(r"(?i)^(?:example|sample)?\s*(?:output|result|usage|response)\b")
_TITLE_SPLIT = re.compile(r":\s|\s[-–—]\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_HARD_BREAK = re.compile(r"(?: {2,}|\\)$")
_QUOTE_PREFIX = re.compile(r"^[ \t]{0,3}>[ \t]?")
_FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_INDENTED_FENCE = re.compile(r"^[ \t]+(?:`{3,}|~{3,})", re.M)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*$\n?", re.M | re.S)
_YAML_KEY = re.compile(r"^[A-Za-z_][\w.-]*[ \t]*:(?:[ \t]|$)", re.M)
_YAML_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.*?)[ \t]*$", re.M)
# Site-generator markup on a line of its own: a kramdown attribute list (`{: .-three-column}`),
# a Liquid tag (`{% raw %}`) or a Hugo shortcode (`{{< hint info >}}`, `{{% /notice %}}`).
_MARKUP_LINE = re.compile(
    r"^[ \t]*(?:\{:[^}\n]*\}|\{%[^\n]*?%\}|\{\{[<%][^\n]*?[>%]\}\})[ \t]*$", re.M
)
# An MkDocs admonition (`!!! warning "Before you start"`, `??? tip`): its body is indented by
# four spaces, which plain Markdown reads as a code block.
_ADMONITION = re.compile(r"^( {0,3})(?:!!!|\?\?\?\+?)[ \t]+[\w-]+(?:[ \t]+\"([^\"\n]*)\")?[ \t]*$")
# A GitHub or Obsidian alert's marker line (`> [!WARNING]`, `> [!note] Title`).
_ALERT = re.compile(r"^([ \t]*>[ \t>]*)\[![a-z]+\][-+]?[ \t]*", re.I)
# A link that leaves the notes (`https:`, `mailto:`, `slack:` …), and one to a heading of this
# page or to another Markdown page or folder of the notes (a script or a PDF is no page).
_LINK_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
_PAGE_LINK = re.compile(r"^(?!//)(?:[^#?]*(?:\.(?:md|markdown|mdx)|/))?(?:[?#].*)?$", re.I)
# A Hugo link to another page of the site: `[Disk full]({{< ref "./DiskFull.md" >}})`.
_HUGO_REF = re.compile(r"\]\(\{\{[<%]\s*(?:rel)?ref\s+\"([^\"\n]*)\"\s*[>%]\}\}\)")
_MAX_TITLE = 80
_MAX_NAME_CHARS = 40
_MAX_NAME_WORDS = 5
_MAX_LEAD = 200
_MAX_LABEL_WORDS = 4
# A section this short, of prose and unnamed bullets, is also indexed whole (see close_section).
_MAX_SECTION_CHARS = 1500


@dataclass
class _State:
    headings: list[tuple[int, str]] = field(default_factory=list)
    bold_title: str = ""
    # Whether the current section has had a block yet, and whether its first was code: then
    # its author writes the description after each command (`docker volume prune` / "Delete
    # all the volumes"), not before it.
    opened: bool = False
    trailing: bool = False

    def heading_path(self) -> list[str]:
        return [text for _, text in self.headings]


# -- small text helpers ---------------------------------------------------------------------


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int = _MAX_TITLE) -> str:
    """A title from prose: its first sentence, cut at a word boundary with "…" when long."""
    first = _SENTENCE_END.split(_one_line(text), 1)[0]
    if len(first) <= limit:
        return first
    cut = first[:limit]
    # One very long word (a URL) is kept whole: never half a word.
    cut = cut.rsplit(" ", 1)[0].rstrip(" ,;:-–—(") if " " in cut else first.split(" ", 1)[0]
    return cut + "…"


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
    flat = _one_line(text)
    named = _explicit_name(flat)
    if named:
        return named
    if len(flat) <= _MAX_NAME_CHARS and len(flat.split()) <= _MAX_NAME_WORDS:
        return flat.rstrip(":")
    return None


def _explicit_name(text: str) -> str | None:
    """The name of a bullet written as `name: description` or `name - description`."""
    head, sep, _ = _split_name(_one_line(text))
    return head if sep and head and len(head) <= _MAX_TITLE else None


def _split_name(line: str) -> tuple[str, str, str]:
    match = _TITLE_SPLIT.search(line)
    if not match:
        return line, "", ""
    return line[: match.start()].strip().rstrip(":"), match.group(), line[match.end() :]


def short_title(text: str) -> str:
    """A bullet's name, else its opening words: used in the section path of its children."""
    return bullet_name(text) or _shorten(text)


def _unwrap(lines: list[str]) -> str:
    """Soft-wrapped source lines joined with spaces, as Markdown renders them; hard breaks stay."""
    out = ""
    hard = False
    for line in lines:
        piece = line.strip()
        if piece:
            # A paragraph line starting with ``` must not start a line: it would read as a fence.
            hard = hard and not _FENCE_LINE.match(piece)
            out += ("\n" if hard else " ") + piece if out else piece
            hard = bool(_HARD_BREAK.search(line))
    return out


def _fenced(code: str) -> str:
    """Code as a fenced block whose fence no line of the code can close early."""
    runs = {m.group(1)[0] for m in map(_FENCE_LINE.match, code.split("\n")) if m}
    fence = "~~~" if "`" in runs and "~" not in runs else "```"
    return f"{fence}\n{code}\n{fence}"


def _close_open_fence(text: str) -> str:
    """Text whose last fenced block never closed gets its closing fence back."""
    opener = ""
    for line in text.split("\n"):
        m = _FENCE_LINE.match(line)
        if not m:
            continue
        run, rest = m.groups()
        if not opener:
            if not (run[0] == "`" and "`" in rest):  # ```a``` is inline code, not a fence
                opener = run
        elif run[0] == opener[0] and len(run) >= len(opener) and not rest.strip():
            opener = ""
    return f"{text}\n{opener}" if opener else text


def _has_words(text: str) -> bool:
    """False for text that is only fence markers, markup and punctuation."""
    body = "\n".join(ln for ln in text.split("\n") if not _FENCE_LINE.match(ln))
    return any(ch.isalnum() for ch in body)


# -- front matter and the note's title ------------------------------------------------------


def _front_matter(text: str) -> tuple[str | None, str]:
    """YAML front matter at the very top (or None) and the text with it blanked out.

    Blank lines replace it so that line numbers still point into the original file.
    """
    match = _FRONT_MATTER.match(text)
    if not match or not _YAML_KEY.search(match.group(1)):
        return None, text
    blanked = "\n" * match.group(0).count("\n")
    return match.group(1), blanked + text[match.end() :]


def _yaml_title(front: str) -> str | None:
    match = _YAML_TITLE.search(front)
    if not match:
        return None
    value = match.group(1)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1].replace("''", "'") if value[0] == "'" else value[1:-1]
    else:
        value = value.split(" #", 1)[0]
    value = _one_line(value)
    # A block scalar (`title: >`) or an empty key titles nothing we can read here.
    return value if value and value not in (">", "|", ">-", "|-") else None


def note_title(text: str) -> str | None:
    """The note's title from its front matter (`title:`), else None.

    A lone H1 is not used: answers name the source, and the file name tells people which file
    to edit, where "Runbooks · Runbooks" would not.
    """
    front, _ = _front_matter(_normalize(text))
    if front is not None:
        return _yaml_title(front) or None
    return None


# -- token helpers ----------------------------------------------------------------------------


def _close_index(tokens: list[Token], start: int) -> int:
    """Index of the token closing the block opened at `start`."""
    closing = tokens[start].type.removesuffix("_open") + "_close"
    for j in range(start + 1, len(tokens)):
        if tokens[j].type == closing and tokens[j].level == tokens[start].level:
            return j
    return len(tokens) - 1


def _after_block(tokens: list[Token], start: int) -> int:
    """Index of the first token after the block that starts at `start`."""
    tok = tokens[start]
    if tok.nesting == 1:
        return _close_index(tokens, start) + 1
    return start + 1


def _is_code_paragraph(tokens: list[Token], i: int) -> bool:
    """A paragraph made only of inline code spans: `kubectl logs -f pod` on its own."""
    if i >= len(tokens) or tokens[i].type != "paragraph_open":
        return False
    kids = tokens[i + 1].children or []
    codes = [k for k in kids if k.type == "code_inline"]
    rest = [k for k in kids if k.type not in ("code_inline", "softbreak", "hardbreak")]
    return bool(codes) and all(k.type == "text" and not k.content.strip() for k in rest)


def _is_code(tokens: list[Token], i: int) -> bool:
    if i >= len(tokens):
        return False
    return tokens[i].type in ("fence", "code_block") or _is_code_paragraph(tokens, i)


def _code_body(tok: Token) -> str:
    """A code block's code; an indented block that only wraps a fenced one is unwrapped."""
    code = tok.content.rstrip("\n")
    if tok.type == "code_block":
        lines = code.split("\n")
        first = _FENCE_LINE.match(lines[0])
        last = _FENCE_LINE.match(lines[-1]) if len(lines) > 1 else None
        if first and last and last.group(1).startswith(first.group(1)) and not last.group(2):
            # Notion indents fences under bullets; past a blank line they read as indented code.
            code = textwrap.dedent("\n".join(lines[1:-1]))
    return code


def _repair_fences(text: str) -> str:
    """Re-indent a closing fence that fell out of its list item so it closes its block.

    `- Run:` / `    ```` / `    ls` / ```` ``` ```` leaves the item's fence open and opens a new
    one at the margin that swallows the rest of the file as code.
    """
    if not _INDENTED_FENCE.search(text):
        return text  # nothing indented can have lost its closing fence
    lines = text.split("\n")
    changed = False
    tokens = _md.parse(text)
    for tok in tokens:
        if tok.type != "fence" or tok.level == 0 or not tok.map:
            continue
        start, end = tok.map
        last = _FENCE_LINE.match(lines[end - 1]) if end - 1 > start else None
        if last and last.group(1).startswith(tok.markup) and not last.group(2).strip():
            continue  # closed
        if end >= len(lines):
            continue
        stray = _FENCE_LINE.match(lines[end])
        if stray and stray.group(1) == tok.markup and not stray.group(2).strip():
            indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
            lines[end] = indent + lines[end].lstrip()
            changed = True
    return "\n".join(lines) if changed else text


# -- the chunker ------------------------------------------------------------------------------


@dataclass
class _Lead:
    """A paragraph or bullet that introduces the code (or table, or steps) after it."""

    title: str
    text: str
    start: int


# The blocks a section's walk meets at its top level.
_BLOCKS = frozenset(
    ("paragraph_open", "fence", "code_block", "bullet_list_open", "ordered_list_open", "table_open")
)
# Blocks that make a section more than prose and plain bullets.
_NOT_PROSE = frozenset(("fence", "code_block", "table_open", "blockquote_open", "html_block"))


@dataclass
class _Trail:
    """The description written after a code block, and where the walk resumes."""

    text: str
    end: int
    next: int


class _Chunker:
    """One walk over a document's tokens, keeping the heading path and enclosing bullets."""

    def __init__(self, text: str, title: str | None = None) -> None:
        self.lines = text.split("\n")
        self.tokens = _md.parse(text)
        self.state = _State()
        if title and not any(t.type == "heading_open" and t.tag == "h1" for t in self.tokens):
            # A page whose site renders its front matter `title:` as the H1 (Jekyll, Hugo):
            # the title heads every section as the H1 would (`Docker CLI › Manage images`).
            self.state.headings.append((0, title))
        self.chunks: list[ChunkDraft] = []
        # Titles of the bullets enclosing the token being walked: they extend the section
        # path so `execsnoop` keeps its parent `bcc-tools`.
        self.item_stack: list[str] = []
        self.quote_depth = 0
        # Bullets that introduce the code block after their list, and those code blocks.
        self.merged: dict[int, int] = {}
        self.taken: set[int] = set()
        # Where the current section's blocks start, and its first chunk.
        self.section_start = 0
        self.section_first = 0

    # Source text -------------------------------------------------------------------------

    def source(self, span: list[int] | None) -> list[str]:
        if not span:
            return []
        block = self.lines[span[0] : span[1]]
        if self.quote_depth:
            for _ in range(self.quote_depth):
                block = [_QUOTE_PREFIX.sub("", line, count=1) for line in block]
        return block

    def dedented(self, span: list[int] | None) -> str:
        return textwrap.dedent("\n".join(self.source(span))).strip("\n")

    def item_text(self, item: int) -> str:
        """A list item's own source, its marker removed and its children dedented under it."""
        span = self.tokens[item].map or [0, 0]
        block = self.source(span)
        if not block:
            return ""
        block[0] = _BULLET_MARKER.sub("", block[0], count=1)
        own = 1
        para = self.tokens[item + 1] if item + 1 < len(self.tokens) else None
        if para is not None and para.type == "paragraph_open" and para.map:
            own = max(1, para.map[1] - span[0]) if para.map[0] == span[0] else 1
        head = _unwrap(block[:own])
        rest = textwrap.dedent("\n".join(block[own:])) if len(block) > own else ""
        return (head + ("\n" + rest if rest.strip() else "")).strip()

    def code_text(self, i: int) -> str:
        tok = self.tokens[i]
        if tok.type == "paragraph_open":
            return "\n".join(line.strip() for line in self.source(tok.map) if line.strip())
        return _fenced(_code_body(tok))

    # Emitting ------------------------------------------------------------------------------

    def emit(self, title: str, section: str, text: str, start: int | None, end: int | None) -> None:
        text = _close_open_fence(text.strip())
        if not _has_words(text):
            return
        if not title.strip():
            # An image-only lead line names nothing; the heading still does.
            code = text.startswith(("```", "~~~"))
            title = self.heading_title("code" if code else short_title(text))
        self.chunks.append(
            ChunkDraft(
                kind="note",
                title=title,
                section=section,
                text=text,
                line_start=start + 1 if start is not None else None,
                line_end=end,
            )
        )

    def section(self) -> str:
        return SECTION_SEP.join(self.state.heading_path() + self.item_stack)

    def heading_title(self, fallback: str) -> str:
        path = self.state.heading_path()
        return path[-1] if path else fallback

    # Walking -----------------------------------------------------------------------------------

    def run(self) -> list[ChunkDraft]:
        i = 0
        tokens = self.tokens
        while i < len(tokens):
            tok = tokens[i]
            if i in self.taken:
                i += 1 if tok.type in ("fence", "code_block") else 3
                continue
            kind = tok.type
            if kind in _BLOCKS and not self.state.opened:
                # A section that opens with code describes each command after it.
                self.state.opened = True
                self.state.trailing = kind in ("fence", "code_block")
            if kind in ("blockquote_open", "blockquote_close"):
                self.quote_depth += 1 if kind == "blockquote_open" else -1
                i += 1
            elif kind == "ordered_list_open":
                i = self.ordered_list(i, None)
            elif kind == "bullet_list_open":
                self.plan_bullet_merge(i)
                i += 1
            elif kind == "list_item_open":
                self.list_item(i)
                i += 1
            elif kind == "list_item_close":
                self.item_stack.pop()
                i += 1
            elif self.item_stack:
                # Everything nested in a bullet is already part of that bullet's chunk.
                i += 1
            elif kind == "heading_open":
                self.heading(i)
                i += 3
            elif kind == "paragraph_open":
                i = self.paragraph(i)
            elif kind in ("fence", "code_block"):
                title = self.state.bold_title or self.heading_title("code")
                trail = self.trailing_description(i + 1)
                self.code_chunk(i, title, None, trail)
                i = trail.next if trail else i + 1
            elif kind == "table_open":
                i = self.table(i, None)
            else:
                i += 1
        self.close_section(len(tokens))
        return self.chunks

    def close_section(self, end: int) -> None:
        """Add the whole of a short section of prose and unnamed bullets as one more chunk.

        A runbook's "Diagnosis" is a few checks that answer "what do I check" together, while
        each check alone answers a narrower question; both are indexed, and results never show
        a chunk nested in one already shown. Named bullets (`stern: …`), code and tables are
        separate answers by construction, so their sections are left as they are.
        """
        tokens = self.tokens
        start, path = self.section_start, self.state.heading_path()
        if not path or len(self.chunks) - self.section_first < 2:
            return
        parts: list[str] = []
        first, last = -1, -1
        for j in range(start, end):
            tok = tokens[j]
            if tok.type in _NOT_PROSE or _is_code_paragraph(tokens, j):
                return
            if tok.type == "inline" and _is_bold_line(tok):
                return
            if tok.type == "list_item_open":
                inline = _first_inline(tokens, j)
                if inline is not None and _explicit_name(plain_inline(inline)):
                    return  # a catalogue (`execsnoop: …`), each entry its own answer
            if tok.level != 0 or tok.nesting == -1:
                continue
            if tok.map:
                first = tok.map[0] if first < 0 else first
                last = max(last, tok.map[1])
            if tok.type == "paragraph_open":
                inline = tokens[j + 1]
                if not (_only_images(inline) or _only_page_links(inline)):
                    parts.append(self.unwrapped(tok.map or [0, 0]))
            elif tok.type == "bullet_list_open":
                close = _close_index(tokens, j)
                for k in range(j + 1, close):
                    if tokens[k].type == "list_item_open" and tokens[k].level == 1:
                        inline = _first_inline(tokens, k)
                        if inline is None or not _only_page_links(inline):
                            parts.append("- " + self.item_text(k))
            elif tok.type == "ordered_list_open":
                parts.append(self.dedented(tok.map))
        text = "\n".join(p for p in parts if p)
        if first < 0 or len(text) > _MAX_SECTION_CHARS:
            return
        inside = self.chunks[self.section_first :]
        if any(c.line_start == first + 1 and (c.line_end or 0) >= last for c in inside):
            return  # one chunk already holds it all ("Check why HPA was unable to scale:" …)
        self.emit(path[-1], SECTION_SEP.join(path), text, first, last)

    def trailing_description(self, j: int) -> _Trail | None:
        """The plain paragraph right after a code block, in a section whose first block is code."""
        tokens = self.tokens
        if not self.state.trailing or j >= len(tokens) or tokens[j].type != "paragraph_open":
            return None
        inline = tokens[j + 1]
        flat = _one_line(plain_inline(inline))
        if (
            not flat
            or flat.endswith(":")  # it introduces what follows
            or len(flat) > _MAX_LEAD
            or _is_bold_line(inline)
            or _only_images(inline)
            or _only_page_links(inline)
            or _is_code_paragraph(tokens, j)
        ):
            return None
        span = tokens[j].map or [0, 0]
        return _Trail(self.unwrapped(span), span[1], j + 3)

    def heading(self, i: int) -> None:
        self.close_section(i)
        self.section_start, self.section_first = i + 3, len(self.chunks)
        level = int(self.tokens[i].tag[1])
        title = _one_line(plain_inline(self.tokens[i + 1]))
        self.state.headings = [(lv, t) for lv, t in self.state.headings if lv < level]
        if title:
            self.state.headings.append((level, title))
        self.state.bold_title = ""
        self.state.opened = self.state.trailing = False

    def list_item(self, i: int) -> None:
        tok = self.tokens[i]
        inline = _first_inline(self.tokens, i)
        own = plain_inline(inline) if inline is not None else ""
        path = self.state.heading_path()
        section = self.section()
        if inline is not None and own and tok.map and not _only_page_links(inline):
            text, end = self.item_text(i), tok.map[1]
            if i in self.merged:
                code = self.merged[i]
                text += "\n" + self.code_text(code)
                end = (self.tokens[code].map or tok.map)[1]
                # A described example ("- Stream pod logs:" then its command) is about the page.
                title = self.heading_title(_shorten(own).rstrip(":"))
            else:
                # An unnamed bullet is about its heading; its opening words are no title.
                title = bullet_name(own) or (self.item_stack or path or [short_title(own)])[-1]
            self.emit(title, section, text, tok.map[0], end)
        self.item_stack.append(short_title(own) if own else "")

    def plan_bullet_merge(self, i: int) -> None:
        """Note when a list's last bullet ends with ":" and code follows the list."""
        if self.item_stack:
            return
        close = _close_index(self.tokens, i)
        if not _is_code(self.tokens, close + 1):
            return
        last = close - 1
        while last > i and self.tokens[last].type != "list_item_open":
            last -= 1
        if self.tokens[last].level != self.tokens[i].level + 1:
            return
        item_close = _close_index(self.tokens, last)
        inline = _first_inline(self.tokens, last)
        simple = item_close == last + 4  # one paragraph, nothing nested under it
        # A fence on the very next line, with no blank line, is written as part of the bullet
        # ("… use something like" / ```` ```sh ````) even though Markdown ends the list there.
        para, code = self.tokens[last + 1].map, self.tokens[close + 1].map
        attached = bool(para and code and para[1] == code[0])
        if inline is not None and simple and (plain_inline(inline).endswith(":") or attached):
            self.merged[last] = close + 1
            self.taken.add(close + 1)

    def ordered_list(self, i: int, lead: _Lead | None) -> int:
        """A numbered procedure is one chunk under its heading, steps and nested content."""
        close = _close_index(self.tokens, i)
        if self.item_stack:
            return close + 1  # the enclosing bullet carries its steps
        tok = self.tokens[i]
        span = tok.map or [0, 0]
        end = span[1]
        text = self.dedented(span)
        first = _first_inline(self.tokens, i + 1)
        fallback = short_title(plain_inline(first)) if first is not None else "steps"
        title = self.heading_title(lead.title if lead else fallback)
        start = span[0]
        if lead is not None:
            text, start = lead.text + "\n" + text, lead.start
        self.emit(title, self.section(), text, start, end)
        return close + 1

    def table(self, i: int, lead: _Lead | None) -> int:
        """A table is one chunk, titled by the line that introduces it or by its heading."""
        close = _close_index(self.tokens, i)
        span = self.tokens[i].map or [0, 0]
        text, start = self.dedented(span), span[0]
        if lead is not None:
            title, text, start = lead.title, lead.text + "\n" + text, lead.start
        else:
            header: list[str] = []
            for t in self.tokens[i:close]:
                if t.type == "thead_close":
                    break
                if t.type == "inline":
                    header.append(plain_inline(t))
            title = self.heading_title(_shorten(", ".join(h for h in header[:5] if h)) or "table")
        self.emit(title, self.section(), text, start, span[1])
        return close + 1

    def code_chunk(
        self, i: int, title: str, lead: _Lead | None, trail: _Trail | None = None
    ) -> None:
        tok = self.tokens[i]
        text, start = self.code_text(i), (tok.map or [None])[0]
        end = tok.map[1] if tok.map else None
        if lead is not None:
            text, start = (lead.text + "\n" if lead.text else "") + text, lead.start
        if trail is not None:
            text, end = text + "\n" + trail.text, trail.end
        self.emit(title, self.section(), text, start, end)

    def paragraph(self, i: int) -> int:
        tokens = self.tokens
        inline = tokens[i + 1]
        body = plain_inline(inline)
        span = tokens[i].map or [0, 0]
        nxt = i + 3
        nxt_type = tokens[nxt].type if nxt < len(tokens) else ""
        flat = _one_line(body)
        colon = flat.endswith(":")
        if body and _is_bold_line(inline) and "\n" not in body:
            self.state.bold_title = body
            return nxt
        if nxt_type in ("fence", "code_block") and flat and len(flat) <= _MAX_LEAD:
            lead = self.code_lead(inline, body, span)
            if tokens[nxt].content.strip():
                self.code_chunk(nxt, lead.title, lead)
                return nxt + 1
        elif colon and len(flat) <= _MAX_LEAD and _is_code_paragraph(tokens, nxt):
            title = self.heading_title(_shorten(flat).rstrip(":"))
            lead = _Lead(title, self.unwrapped(span), span[0])
            self.code_chunk(nxt, lead.title, lead)
            return _after_block(tokens, nxt)
        elif colon and nxt_type == "bullet_list_open" and self.checklist(nxt):
            # "Other things to check:" and its bullets answer "what do I check" together; each
            # bullet, chunked as usual next, still answers its own narrower question.
            list_span = tokens[nxt].map or span
            text = self.unwrapped(span) + "\n" + self.dedented(list_span)
            if len(text) <= _MAX_SECTION_CHARS:
                title = self.heading_title(_shorten(flat).rstrip(":"))
                self.emit(title, self.section(), text, span[0], list_span[1])
                return nxt
        elif colon and nxt_type in ("ordered_list_open", "table_open"):
            lead = _Lead(_shorten(flat).rstrip(":"), self.unwrapped(span), span[0])
            if nxt_type == "table_open":
                return self.table(nxt, lead)
            return self.ordered_list(nxt, lead)
        if body and not _only_images(inline) and not _only_page_links(inline):
            self.emit(
                self.heading_title(short_title(body)),
                self.section(),
                self.unwrapped(span),
                span[0],
                span[1],
            )
        return nxt

    def checklist(self, i: int) -> bool:
        """A bullet list of plain items: none named (`stern: …`), none holding code or a table,
        and no code right after it (its last bullet may introduce that code)."""
        tokens = self.tokens
        close = _close_index(tokens, i)
        if self.item_stack or _is_code(tokens, close + 1):
            return False
        for k in range(i + 1, close):
            tok = tokens[k]
            if tok.type in _NOT_PROSE or _is_code_paragraph(tokens, k):
                return False
            if tok.type == "list_item_open" and tok.level == tokens[i].level + 1:
                inline = _first_inline(tokens, k)
                if inline is None or _explicit_name(plain_inline(inline)):
                    return False
                if _only_page_links(inline):
                    return False  # navigation, not things to check
        return True

    def unwrapped(self, span: list[int]) -> str:
        return _unwrap(self.source(span))

    def code_lead(self, inline: Token, body: str, span: list[int]) -> _Lead:
        """How the paragraph right before a code block titles it (and what it adds to it)."""
        flat = _one_line(body)
        if _is_bold_line(inline):
            # `**Get node taints**` then a line of explanation: the bold line is the title.
            first = body.partition("\n")[0]
            self.state.bold_title = first
            rest = _unwrap(inline.content.split("\n")[1:])
            return _Lead(first, rest, span[0])
        label = flat.rstrip(":; ")
        if self.state.bold_title and _LABEL.search(flat) and len(flat.split()) <= _MAX_LABEL_WORDS:
            return _Lead(f"{self.state.bold_title}: {label}", "", span[0])
        title = _shorten(label)
        if flat.endswith(":"):
            # "Restart every pod, one at a time:" describes the command under the heading.
            return _Lead(self.heading_title(title), self.unwrapped(span), span[0])
        self.state.bold_title = title
        if title == label:
            return _Lead(title, "", span[0])
        return _Lead(title, self.unwrapped(span), span[0])


def chunk_markdown(text: str) -> list[ChunkDraft]:
    """Split a Markdown document into answerable chunks with heading paths and line ranges."""
    front, body = _front_matter(_normalize(text))
    title = _yaml_title(front) if front is not None else None
    return _Chunker(_drop_markup_lines(_repair_fences(_plain_callouts(body))), title).run()


def _plain_callouts(text: str) -> str:
    """MkDocs admonitions and GitHub alerts as the plain Markdown they hold, line for line.

    An admonition's title becomes a bold line (it titles a code block after it, as a bold line
    does) and its body loses the four spaces that would make it code; an alert loses its marker.
    """
    if "!!!" not in text and "???" not in text and "[!" not in text:
        return text
    lines = text.split("\n")
    fence = ""
    n = 0
    while n < len(lines):
        line = lines[n]
        opener = _FENCE_LINE.match(line)
        if opener and len(line) - len(line.lstrip()) < 4:
            run = opener.group(1)
            if not fence:
                fence = run
            elif run[0] == fence[0] and len(run) >= len(fence) and not opener.group(2).strip():
                fence = ""
        elif not fence and (match := _ADMONITION.match(line)):
            indent, title = match.group(1), match.group(2)
            lines[n] = f"{indent}**{title}**" if title else ""
            body = indent + "    "
            n += 1
            while n < len(lines) and (not lines[n].strip() or lines[n].startswith(body)):
                lines[n] = indent + lines[n][len(body) :] if lines[n].strip() else ""
                n += 1
            continue
        elif not fence and (match := _ALERT.match(line)):
            lines[n] = match.group(1) + line[match.end() :]
        n += 1
    return "\n".join(lines)


def _normalize(text: str) -> str:
    # markdown-it counts lines by these breaks; line ranges must agree with it.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_inline(tokens: list[Token], start: int) -> Token | None:
    """The inline token of a list item's own first paragraph (not of its children)."""
    depth = 0
    # By index, not over a slice: copying the rest of a long document's tokens at every list
    # item made chunking quadratic (a 20 MB file took 5 minutes).
    for j in range(start + 1, len(tokens)):
        tok = tokens[j]
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


def _only_page_links(inline: Token) -> bool:
    """True for a line of navigation: links to headings of this page or to other pages of the
    same notes (`[PostgreSQL](docs/patroni/postgres.md)`), and nothing else. Those pages are
    indexed themselves; a link to another site may be the only trace of it, so it stays."""
    links = 0
    depth = 0
    for child in inline.children or []:
        if child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            if not _PAGE_LINK.match(href) or _LINK_SCHEME.match(href):
                return False
            links += 1
            depth += 1
        elif child.type == "link_close":
            depth -= 1
        elif depth == 0 and not _is_separator(child):
            return False
    return links > 0


def _is_separator(child: Token) -> bool:
    """Whitespace, a line break or punctuation between links (" · ", " | ")."""
    if child.type in ("softbreak", "hardbreak"):
        return True
    return child.type == "text" and not any(ch.isalnum() for ch in child.content)


def _drop_markup_lines(text: str) -> str:
    """Blank site-generator markup lines outside code, keeping line numbers; a Hugo page link
    becomes the plain relative link it stands for."""
    text = _HUGO_REF.sub(r"](\1)", text)
    if not _MARKUP_LINE.search(text):
        return text
    lines = text.split("\n")
    code = set()
    for tok in _md.parse(text):
        if tok.type in ("fence", "code_block") and tok.map:
            code.update(range(*tok.map))
    for n, line in enumerate(lines):
        if n not in code and _MARKUP_LINE.match(line):
            lines[n] = ""
    return "\n".join(lines)
