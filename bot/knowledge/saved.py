"""Notes saved from Slack as Markdown: mrkdwn converted, one document per note, chunked by the
same chunker as Markdown notes. Pure functions: values in, text or `ChunkDraft`s out.

The document a saved note is chunked from is exactly the file `notes export` writes for it
(front matter, then its section and title as headings, then the text), so a team that moves
exported notes into its runbooks repository and loads them gets the very same chunks.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from bot.chunks import ChunkDraft
from bot.knowledge.notes import chunk_markdown
from bot.plaintext import unescape_slack

TITLE_MAX = 150
SECTION_MAX = 100
TEXT_MAX = 3000  # Slack's largest plain_text_input; `/devops remember` keeps the same bound

_CODE = re.compile(r"```(?P<block>.*?)```|`(?P<span>[^`\n]+)`", re.S)
_ANGLE = re.compile(r"<(?P<body>[^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)(?P<body>[^*\n]+?)(?<=\S)\*(?![\w*])")
_SLACK_BULLET = re.compile(r"^([ \t]*)[•◦▪‣][ \t]*", re.M)
# Lines Markdown would read as structure Slack never meant: `# ` headings, `---` underlines.
_HEADING_LIKE = re.compile(r"^([ \t]{0,3})(#{1,6}(?:[ \t]|$)|[=-]{2,}[ \t]*$)", re.M)
_EMPHASIS = re.compile(r"(?<!\w)[*_~](?=\S)(.+?)(?<=\S)[*_~](?!\w)")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def _angle(match: re.Match[str], markdown: bool) -> str:
    """One `<…>` of Slack markup: links, @people, #channels, @here, dates."""
    body = match.group("body")
    target, _, label = body.partition("|")
    if target.startswith("@"):
        if not markdown:  # a title reads better without "@U0123ABC" (often the bot itself)
            return "@" + label if label else ""
        return "@" + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        if label:  # <!subteam^S1|@ops>, <!date^…|Feb 18>
            return label
        return "@" + target[1:].split("^", 1)[0]
    if re.match(r"^(?:https?|mailto):", target):
        url = unescape_slack(target)
        text = unescape_slack(label) if label else ""
        if not markdown:
            return text or url
        return f"[{text}]({url})" if text and text != url else f"<{url}>"
    return match.group(0)


def _prose(text: str, markdown: bool) -> str:
    """Slack mrkdwn outside code as Markdown (or, without `markdown`, as plain words)."""
    text = _ANGLE.sub(lambda m: _angle(m, markdown), text)
    if markdown:
        text = _BOLD.sub(lambda m: f"**{m.group('body')}**", text)
        text = _SLACK_BULLET.sub(lambda m: f"{m.group(1)}- ", text)
        text = _HEADING_LIKE.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text)
    else:
        text = _EMPHASIS.sub(lambda m: m.group(1), text)
    # Entities last: a literal `&lt;b&gt;` someone typed must not become markup above.
    return unescape_slack(text)


def mrkdwn_to_markdown(text: str) -> str:
    """Slack mrkdwn as Markdown: `*bold*` → `**bold**`, `<url|text>` → `[text](url)`, mentions
    as `@name`/`#channel`, ```code``` as fenced blocks on their own lines, entities undone."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        out.append(_prose(text[pos : m.start()], markdown=True))
        pos = m.end()
        if m.group("block") is not None:
            code = unescape_slack(m.group("block")).strip("\n")
            out.append(f"\n```\n{code}\n```\n")
        else:
            out.append(f"`{unescape_slack(m.group('span'))}`")
    out.append(_prose(text[pos:], markdown=True))
    joined = "".join(out)
    # A fence glued to the text before or after it: each on its own line, blank lines tidied.
    joined = re.sub(r"[ \t]+\n(```)", r"\n\1", joined)
    joined = re.sub(r"(\n```\n)[ \t]+", r"\1", joined)
    joined = re.sub(r"\n{3,}", "\n\n", joined)
    return _hard_breaks(joined.strip("\n"))


def _hard_breaks(markdown: str) -> str:
    """Slack shows every newline; Markdown joins lines unless they end in a hard break."""
    lines = markdown.split("\n")
    fenced = False
    for i, line in enumerate(lines):
        fence = line.strip() == "```"
        if fence:
            fenced = not fenced
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not fenced and line.strip() and following.strip() and following.strip() != "```":
            lines[i] = line.rstrip() + "  "
    return "\n".join(lines)


def mrkdwn_plain(text: str) -> str:
    """Slack mrkdwn as plain words (a title): markup dropped, links as their labels."""
    flat = _CODE.sub(lambda m: (m.group("block") or m.group("span") or "").strip(), text)
    return " ".join(_prose(flat, markdown=False).split())


def title_from(text: str, limit: int = TITLE_MAX) -> str:
    """A title for a message: its first non-empty line as plain words, cut at a word."""
    for line in text.splitlines():
        plain = mrkdwn_plain(line).strip("`").strip()
        if plain and plain not in ("```",):
            if len(plain) <= limit:
                return plain
            cut = plain[: limit - 1].rsplit(" ", 1)[0] or plain[: limit - 1]
            return cut.rstrip(" ,;:-") + "…"
    return ""


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed: titles and sections are single lines."""
    return " ".join(text.split())


@dataclass(frozen=True)
class SavedNote:
    """A saved note as it is exported and chunked (the store's row, without its ids)."""

    key: str
    title: str
    section: str
    body: str  # Slack mrkdwn as saved
    author_id: str | None
    saver_id: str
    channel_id: str | None
    channel_name: str
    permalink: str | None
    saved_at: datetime


def _yaml(value: str | None) -> str:
    """A YAML scalar the chunker's front-matter reader and any YAML parser agree on."""
    if value is None or value == "":
        return "''" if value == "" else "null"
    return "'" + one_line(value).replace("'", "''") + "'"


def _heading(text: str) -> str:
    # A trailing run of `#` would be read as the heading's closing sequence.
    return one_line(text).rstrip("#").rstrip() or "(untitled)"


def note_document(note: SavedNote) -> str:
    """The note as a Markdown file: YAML front matter, `# section`, `## title`, the text."""
    front = [
        ("title", _yaml(note.title)),
        ("section", _yaml(note.section)),
        ("author", _yaml(note.author_id)),
        ("saved_by", _yaml(note.saver_id)),
        ("channel", _yaml("#" + note.channel_name if note.channel_name else None)),
        ("channel_id", _yaml(note.channel_id)),
        ("permalink", _yaml(note.permalink)),
        ("saved_at", _yaml(note.saved_at.isoformat())),
        ("source", _yaml(note.key)),
    ]
    lines = ["---", *(f"{k}: {v}" for k, v in front), "---", ""]
    if note.section.strip():
        lines += [f"# {_heading(note.section)}", ""]
    lines += [f"{'##' if note.section.strip() else '#'} {_heading(note.title)}", ""]
    lines.append(mrkdwn_to_markdown(note.body))
    return "\n".join(lines).rstrip("\n") + "\n"


def chunk_saved_note(note: SavedNote) -> list[ChunkDraft]:
    """The note's chunks, made by the Markdown chunker from its document, each linked to the
    message it was saved from."""
    drafts = chunk_markdown(note_document(note))
    if not drafts:  # text of symbols only: the title alone still answers
        drafts = [ChunkDraft("note", one_line(note.title), one_line(note.section), note.title)]
    return [
        ChunkDraft(
            kind=d.kind,
            title=d.title,
            section=d.section,
            text=d.text,
            url=note.permalink,
            line_start=d.line_start,
            line_end=d.line_end,
        )
        for d in drafts
    ]


def slug(text: str, limit: int = 60) -> str:
    """Lower-case ASCII words joined by hyphens (`Restart a Pod!` → `restart-a-pod`)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = _SLUG_DROP.sub("-", ascii_text.lower()).strip("-")
    return words[:limit].rstrip("-") or "note"


def export_file_name(note: SavedNote) -> str:
    """A stable file name: the title's slug and a short hash of the note's key (the same note
    gets the same name on every export; two notes with one title do not collide)."""
    digest = hashlib.sha256(note.key.encode()).hexdigest()[:8]
    return f"{slug(note.title)}-{digest}.md"
