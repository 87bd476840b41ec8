"""The `devopsbot` command line: a thin shell over the library (the composition root)."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import click

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.config import Settings
    from bot.delivery_log import DeliveryStatus, LogEntry
    from bot.knowledge.index import SearchResult
    from bot.runtime import Runtime
    from bot.slack.channel_access import ChannelAccess
    from bot.subscriptions import SubscriptionView

# Each command imports what it needs when it runs: `devopsbot ask` must start in well under a
# second, and the feed fetcher and the Slack app are heavy imports it never uses. Even the
# settings wait until a command opens the runtime: `ask` starts loading the model
# first, so that load overlaps every import after it (tests/test_cli.py checks what `ask` loads).

SAMPLE_NOTE = (
    "Using the bundled sample data (DevOps notes and four feed snapshots). Load your own with "
    "`devopsbot notes load PATH`, or set DEVOPSBOT_SAMPLE_DATA=false to turn this off."
)


class Context:
    """Lazily read settings and opened runtime, so `--help` and usage errors touch neither."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._runtime: Runtime | None = None

    @property
    def settings(self) -> Settings:
        """The settings (read once, logging set up from them); the store stays closed."""
        from bot.config import ConfigError, load_settings
        from bot.logs import configure_logging

        if self._settings is None:
            try:
                settings = load_settings()
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
            configure_logging(
                settings.devopsbot_log_level
                if settings.devopsbot_log_level != "INFO"
                else "WARNING"
            )
            self._settings = settings
        return self._settings

    @property
    def database_url(self) -> str | None:
        """The database URL once the settings are read (None before)."""
        return self._settings.devopsbot_database_url if self._settings else None

    @property
    def runtime(self) -> Runtime:
        from bot.runtime import open_runtime

        if self._runtime is None:
            self._runtime = open_runtime(self.settings)
            # Closed when the command line is done, not by the collector at exit (see main).
            current = click.get_current_context(silent=True)
            if current is not None:
                current.find_root().call_on_close(self._runtime.engine.dispose)
        return self._runtime


pass_ctx = click.make_pass_decorator(Context, ensure=True)

# True when main() runs the command line as a process of its own, which ends with the command;
# `cli` invoked in-process (tests, CliRunner) leaves the garbage collector alone.
_OWN_PROCESS = False


@contextmanager
def _start_up() -> Iterator[None]:
    """A command's start-up (imports, settings, the store read) without the garbage collector.

    Start-up makes ~90,000 objects that live as long as the process; collecting while they are
    made only scans them again and again (0.14 s of a cold `ask`, a third of it one full
    collection). Afterwards they are frozen, so the collections that follow, and those Python
    runs at exit, skip them and only look at what the command makes from then on.
    """
    if not _OWN_PROCESS:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


class Progress:
    """A progress bar on stderr when it is a terminal; silent otherwise, so piped output stays
    one line per result. Call it with (done, total, item)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self._bar: Any = None

    def __call__(self, done: int, total: int, item: object) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr, show_pos=True, width=30
            )
        self._bar.label = f"{self.label} {str(item)[-40:]}" if item else self.label
        if done == self._bar.pos:
            self._bar.render_progress()
        else:
            self._bar.update(done - self._bar.pos)

    def close(self) -> None:
        """Clear the bar's line before the summary is printed."""
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None


class _Commands(click.Group):
    """The command group; `run` (the Slack app) is imported only when it is the one asked for.

    A database that cannot be reached or written, whichever command found out, ends it with
    one sentence saying what to do; the traceback is logged at DEBUG only.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from bot.db.errors import explain

            opened = ctx.find_object(Context)
            url = opened.database_url if opened is not None else None  # None: not opened yet
            message = explain(exc, url)
            if message is None:
                raise
            logging.getLogger(__name__).debug("database failure", exc_info=True)
            raise click.ClickException(message) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "run"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "run":
            from bot.slack.runner import run  # the `run` command lives with the Slack app

            return run
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="devopsbot")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """devopsbot: answers DevOps questions from your notes and feeds, and announces new posts."""
    ctx.ensure_object(Context)  # on the group, where a failing command's store is looked up


# -- ask -------------------------------------------------------------------------------------


@cli.command()
@click.argument("question", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.option(
    "--limit", default=3, show_default=True, type=click.IntRange(1, 20), help="Results to show."
)
@pass_ctx
def ask(ctx: Context, question: tuple[str, ...], as_json: bool, limit: int) -> None:
    """Answer QUESTION from the store; `-` reads one question per line from stdin (JSON Lines)."""
    text = " ".join(question).strip()
    if not text:
        click.echo(click.get_current_context().get_help(), err=True)
        raise SystemExit(2)
    with _start_up():
        # The model loads on another thread while the store is opened and the index read: a
        # cold `ask` pays for the slower of the two, not for both.
        from bot.knowledge.embed import shared_encoder

        shared_encoder().load_in_background()
        from bot.render import result_json, result_text

        answers = _Answers(ctx)
        answers.open()
    if answers.using_sample:
        click.echo(SAMPLE_NOTE, err=True)
    elif answers.empty:
        click.echo(
            "The knowledge store is empty: load notes with `devopsbot notes load PATH` "
            "or add a feed with `devopsbot feeds add URL`.",
            err=True,
        )
    # From stdin, each question is answered as its line arrives (a pipe that stays open gets
    # its answers as it goes) and only one line is held at a time.
    questions = (q for q in sys.stdin if q.strip()) if text == "-" else iter([text])
    with answers:
        for q in questions:
            result = answers.ask(q.strip(), limit)
            if as_json or text == "-":
                click.echo(json.dumps(result_json(result), ensure_ascii=False))
            else:
                click.echo(result_text(result))


class _Answers:
    """The store and index `ask` answers from.

    A SQLite store whose cached index is current is read through the standard library's sqlite3
    alone: SQLAlchemy, two fifths of a cold start, is never imported. Any other store, one that
    needs the sample data, an index built or cached, or one that moves on while questions come
    in on stdin, is opened the usual way (the runtime: SQLAlchemy, migrations).
    """

    def __init__(self, ctx: Context) -> None:
        from bot.knowledge.service import Answerer

        self._ctx = ctx
        self.answerer = Answerer()
        self._reader: sqlite3.Connection | None = None
        # True until the first question: open() has just brought the index up to date.
        self._current = False
        self.using_sample = False

    @property
    def empty(self) -> bool:
        """The store holds nothing to answer from."""
        return len(self.answerer.index) == 0

    def open(self) -> None:
        """Load the index: from the cached copy through sqlite3 when it can, else the usual way."""
        from bot.db.reads import count_sources
        from bot.db.sqlite_reader import open_reader
        from bot.knowledge.sample import only_sample_data

        settings = self._ctx.settings
        reader = open_reader(settings.devopsbot_database_url)
        if reader is not None:
            try:
                needs_sample = settings.devopsbot_sample_data and not count_sources(reader)
                if not needs_sample and self.answerer.load_cached(reader):
                    self._reader = reader
                    self._current = True
                    self.using_sample = settings.devopsbot_sample_data and only_sample_data(reader)
                    return
            except sqlite3.Error:
                pass  # the usual way reports what is wrong with the store
            reader.close()
        self._open_runtime()

    def _open_runtime(self) -> None:
        from bot.knowledge.sample import ensure_sample_data, only_sample_data

        rt = self._ctx.runtime
        # A bare Connection, not an ORM session: nothing here needs the ORM, and importing it
        # is a fifth of a cold start.
        with rt.engine.begin() as conn:
            if rt.settings.devopsbot_sample_data:
                ensure_sample_data(conn)
            self.using_sample = rt.settings.devopsbot_sample_data and only_sample_data(conn)
            cached = self.answerer.load_cached(conn)
            if self.answerer.sync(conn) or not cached:
                self.answerer.save_cache(conn)
        self._current = True

    def ask(self, question: str, limit: int) -> SearchResult:
        """One answer from the store as it is now (the first one from what open() just read)."""
        current, self._current = self._current, False
        if self._reader is not None:
            try:
                if current or not self.answerer.stale(self._reader):
                    return self.answerer.answer(self._reader, question, limit)
            except sqlite3.Error:
                current = False  # the usual way reports what is wrong with the store
            # The store moved on (another process loaded notes): read it the usual way now.
            self._reader.close()
            self._reader = None
        # A transaction per question: vectors the sync computes are kept, and SQLite's write
        # lock is not held while the pipe waits for the next line.
        with self._ctx.runtime.engine.begin() as conn:
            if current:
                return self.answerer.answer(conn, question, limit)
            return self.answerer.ask(conn, question, limit=limit)

    def __enter__(self) -> _Answers:
        return self

    def __exit__(self, *exc: object) -> None:
        # Closed before exit: the last connection to close checkpoints SQLite's write-ahead log.
        if self._reader is not None:
            self._reader.close()


# -- notes -----------------------------------------------------------------------------------


@cli.group()
def notes() -> None:
    """Index, list and remove Markdown notes."""


@notes.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Re-chunk unchanged files too.")
@pass_ctx
def notes_load(ctx: Context, paths: tuple[Path, ...], force: bool) -> None:
    """Index Markdown files or folders: new and changed files are (re)chunked, unchanged ones
    skipped, and the notes of files deleted from a loaded folder removed."""
    from bot.knowledge.load import sync_notes

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise click.ClickException(", ".join(missing) + ": no such file or folder")
    rt = ctx.runtime
    progress = Progress("notes")
    # One transaction: an unexpected failure leaves the store as it was.
    with rt.sessions.begin() as session:
        report = sync_notes(
            session,
            list(paths),
            force=force,
            progress=progress,
            max_bytes=rt.settings.devopsbot_max_note_bytes,
        )
    progress.close()
    if report.sample_removed:
        click.echo("Removed the bundled sample data now that you have your own notes.")
    for note in report.loaded:
        click.echo(f"{note.path}: {note.chunks} chunks")
    for key in report.removed:
        click.echo(f"{key}: removed (the file is gone)")
    for error in report.errors:
        click.echo(f"error: {error} (its stored chunks are unchanged)", err=True)
    if not (report.loaded or report.unchanged or report.removed or report.errors):
        raise click.ClickException(
            "no Markdown files (.md, .markdown) found in " + ", ".join(map(str, paths))
        )
    click.echo(report.summary())
    if report.loaded:
        _embed_new_chunks(rt)
    if report.errors:
        raise SystemExit(1)


def _embed_new_chunks(rt: Runtime) -> None:
    """Compute the vectors of newly stored chunk texts now, so questions never wait for them."""
    import time

    started = time.perf_counter()

    def progress(done: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-6)
        click.echo(f"\rembeddings: {done} chunk texts ({rate:.0f}/s)", nl=False, err=True)

    done = rt.answerer.embed_pending(
        rt.sessions, progress=progress if sys.stderr.isatty() else None
    )
    if done and sys.stderr.isatty():
        click.echo(err=True)  # end the progress line
    if done:
        elapsed = time.perf_counter() - started
        click.echo(f"computed {done} embeddings in {elapsed:.1f} s ({done / elapsed:.0f}/s)")


@notes.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per note source.")
@click.option(
    "--kind",
    type=click.Choice(["notes", "slack"]),
    default="notes",
    show_default=True,
    help="notes: Markdown files; slack: notes saved from Slack messages.",
)
@pass_ctx
def notes_list(ctx: Context, as_json: bool, kind: str) -> None:
    """Indexed notes files (source, chunk count, when loaded), or the notes saved from Slack."""
    if kind == "slack":
        _list_slack_notes(ctx, as_json)
        return
    from bot.db.store import notes_sources

    with ctx.runtime.sessions() as session:
        views = notes_sources(session)
    if as_json:
        for view in views:
            click.echo(
                json.dumps(
                    {
                        "source": view.key,
                        "title": view.title,
                        "chunks": view.chunks,
                        "loaded_at": view.loaded_at.isoformat(),
                    },
                    ensure_ascii=False,
                )
            )
        return
    if not views:
        click.echo("No notes yet: load some with `devopsbot notes load PATH`.")
        return
    width = max(len("SOURCE"), *(len(v.key) for v in views))
    click.echo(f"{'SOURCE':<{width}}  {'CHUNKS':>6}  LOADED AT")
    for view in views:
        loaded = view.loaded_at.strftime("%Y-%m-%d %H:%M UTC")
        click.echo(f"{view.key:<{width}}  {view.chunks:>6}  {loaded}")


def _list_slack_notes(ctx: Context, as_json: bool) -> None:
    from bot.db.slack_notes import slack_notes
    from bot.plaintext import one_line

    with ctx.runtime.sessions() as session:
        views = slack_notes(session)
    if as_json:
        for v in views:
            record = {
                "id": v.id,
                "source": v.key,
                "title": v.title,
                "section": v.section,
                "channel": v.channel_name,
                "saved_by": v.saver_id,
                "author": v.author_id,
                "permalink": v.permalink,
                "private": v.private,
                "chunks": v.chunks,
                "saved_at": v.saved_at.isoformat(),
                "updated_at": v.updated_at.isoformat(),
            }
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    if not views:
        click.echo(
            "No notes saved from Slack yet: use the message shortcut *Save to DevOps notes* "
            "or `/devops remember TITLE :: TEXT`."
        )
        return
    # Titles and channel names are what people typed: one line each, no control characters.
    rows = [
        (
            str(v.id),
            one_line(v.title, 50),
            "#" + one_line(v.channel_name, 30) if v.channel_name else "-",
            v.saver_id,
            str(v.chunks),
            v.saved_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
        for v in views
    ]
    header = ("ID", "TITLE", "CHANNEL", "SAVED BY", "CHUNKS", "SAVED AT")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@notes.command("export")
@click.argument(
    "folder",
    required=False,
    default="saved-notes",
    type=click.Path(path_type=Path, file_okay=False),
)
@pass_ctx
def notes_export(ctx: Context, folder: Path) -> None:
    """Write the notes saved from Slack into FOLDER (default ./saved-notes), one Markdown file
    each with YAML front matter, ready for a runbooks repository (`notes load` reads them)."""
    from bot.knowledge.slack_notes import export_notes

    with ctx.runtime.sessions() as session:
        written = export_notes(session, folder)
    for path in written:
        click.echo(str(path))
    click.echo(f"Exported {len(written)} notes saved from Slack to {folder}.")


@notes.command("remove")
@click.argument("paths", nargs=-1, required=True)
@pass_ctx
def notes_remove(ctx: Context, paths: tuple[str, ...]) -> None:
    """Remove the notes of files, or of every file under folders (gone from disk or not)."""
    from bot.knowledge.load import NotesError, remove_notes

    try:
        with ctx.runtime.sessions.begin() as session:
            removed = remove_notes(session, list(paths))
    except NotesError as exc:
        raise click.ClickException(str(exc)) from None
    for key in removed:
        click.echo(f"removed {key}")
    click.echo(f"Removed the notes of {len(removed)} files.")


# -- feeds -----------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _moment(value: datetime) -> str:
    """A time to the second: delivery waits are often seconds long."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _where(channel_id: str | None) -> str:
    return channel_id or "index only"


def _view_lines(view: SubscriptionView) -> list[str]:
    lines = [
        f"{view.id:>4}  {view.status:<7} {_where(view.channel_id):<12} "
        f"{view.feed_title} <{view.feed_url}>",
        f"      last success {_when(view.last_success_at)} · "
        f"{view.consecutive_failures} failures · next check {_when(view.next_check_at)} · "
        f"{view.articles_seen} articles",
    ]
    if view.include or view.exclude:
        lines.append(
            f"      filters: include {list(view.include) or 'all'}, exclude {list(view.exclude)}"
        )
    mode = _post_mode_line(view)
    if mode:
        lines.append(f"      posts: {mode}")
    if view.status_reason:
        lines.append(f"      {view.status}: {view.status_reason}")
    elif view.last_error:
        lines.append(f"      last error: {view.last_error}")
    if view.delivery is not None:
        from bot.delivery_log import problem_line, status_line

        lines.append(f"      delivery: {status_line(view.delivery, _moment)}")
        problem = problem_line(view.delivery, _moment)
        if problem:
            lines.append(f"      problems: {problem}")
    return lines


def _post_mode_line(view: SubscriptionView) -> str | None:
    """How the subscription posts, when not one message per entry."""
    from bot.schedules import describe_thread, stored_schedule

    schedule = stored_schedule(view.digest)
    if schedule is not None:
        collected = f"{view.collected} entries collected"
        return f"a digest {schedule.describe()} · {collected} · next {_when(view.next_digest_at)}"
    return describe_thread(view.thread)


def _delivery_json(status: DeliveryStatus) -> dict[str, object]:
    from bot.delivery_log import problem_line, status_line

    first = status.first
    return {
        "waiting": status.waiting,
        "reason": first.reason if first else None,
        "retry_at": _iso(first.retry_at) if first else None,
        "error": (first.behind or first).error if first else None,
        "attempts": (first.behind or first).attempts if first else 0,
        "last_posted_at": _iso(status.last_posted_at),
        "given_up": status.given_up,
        "summary": status_line(status, _moment),
        "problem": problem_line(status, _moment),
    }


def _view_json(view: SubscriptionView) -> dict[str, object]:
    data = dataclasses.asdict(view)
    for key in ("last_success_at", "next_check_at", "next_digest_at"):
        data[key] = data[key].isoformat() if data[key] else None
    data["include"], data["exclude"] = list(view.include), list(view.exclude)
    data["delivery"] = _delivery_json(view.delivery) if view.delivery else None
    return data


def _entry_json(entry: LogEntry) -> dict[str, object]:
    from bot.delivery_log import entry_detail

    why = entry.waiting
    return {
        "subscription_id": entry.subscription_id,
        "feed_url": entry.feed_url,
        "feed_title": entry.feed_title,
        "channel_id": entry.channel_id,
        "item": entry.item,
        "title": entry.title,
        "url": entry.url,
        "state": entry.state,
        "reason": why.reason if why else None,
        "detail": entry_detail(entry, _moment),
        "at": entry.at.isoformat(),
        "queued_at": entry.queued_at.isoformat(),
        "posted_at": _iso(entry.posted_at),
        "slack_ts": entry.slack_ts,
        "retry_at": _iso(why.retry_at) if why else None,
        "attempts": entry.attempts,
        "error": entry.error,
        "error_kind": entry.error_kind,
    }


def _entry_lines(entry: LogEntry) -> list[str]:
    from bot.delivery_log import entry_detail

    state = entry.state.replace("_", " ")
    title = entry.title if entry.item == "article" else f"notice: {entry.title}"
    return [
        f"{_moment(entry.at)}  {state:<8}  {entry.channel_id:<12}  {title} ({entry.feed_title})",
        f"    {entry_detail(entry, _moment)}",
    ]


@cli.group()
def feeds() -> None:
    """Manage feed subscriptions (REF is a feed URL or an id from `feeds list`)."""


def _filter_options(note: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--include / --exclude, as `feeds add` and `feeds set` both take them."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--exclude",
            multiple=True,
            metavar="WORD|/REGEX/",
            help=f"Never announce entries that match (repeatable{note}).",
        )(command)
        return click.option(
            "--include",
            multiple=True,
            metavar="WORD|/REGEX/",
            help=f"Only announce entries whose title, summary or tags match (repeatable{note}).",
        )(command)

    return apply


def _post_mode_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--digest / --thread, as `feeds add` and `feeds set` both take them."""
    command = click.option(
        "--thread",
        metavar="daily [ZONE]",
        help="Post each day's entries as replies under one message per day.",
    )(command)
    return click.option(
        "--digest",
        metavar="SCHEDULE",
        help="Collect new entries into one message: daily@09:00 or 'weekly@mon 09:00', "
        "optionally with a time zone ('daily@09:00 Europe/Berlin'; default DEVOPSBOT_TIMEZONE).",
    )(command)


def _check_channel(
    rt: Runtime, channel_id: str | None, action: str
) -> tuple[WebClient | None, ChannelAccess | None]:
    """Before `feeds add/set --channel`: can the bot post there? Needs SLACK_BOT_TOKEN; without
    it a one-line warning says the check was skipped. A refusal is a ClickException."""
    from bot.slack.announce import make_client
    from bot.slack.channel_access import check_channel
    from bot.subscriptions import SubscriptionError, valid_channel_id

    try:
        channel = valid_channel_id(channel_id)
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    if channel is None:
        return None, None
    client = make_client(rt.settings)
    if client is None:
        click.echo(
            f"Warning: SLACK_BOT_TOKEN is not set, so whether the bot can post in {channel} "
            "was not checked: invite @devopsbot there, or its posts will fail.",
            err=True,
        )
        return None, None
    access = check_channel(client, channel)
    if not access.ok:
        raise click.ClickException(_cannot_post(client, access, action))
    return client, access


def _cannot_post(client: WebClient | None, access: ChannelAccess, action: str) -> str:
    from bot.slack.channel_access import access_problem, bot_name, plain_names

    # Naming the bot costs an auth.test; not worth it when Slack is not answering anyway.
    name = bot_name(client) if client is not None and access.outcome != "unavailable" else None
    problem = access_problem(access, *plain_names(access, name))
    return f"{problem} Nothing was {action}."


def _joined(access: ChannelAccess | None) -> None:
    if access is not None and access.outcome == "joined":
        from bot.slack.channel_access import plain_names

        click.echo(f"Joined {plain_names(access, None)[1]} so the bot can post there.")


@feeds.command("add")
@click.argument("url")
@click.option("--channel", "channel_id", metavar="ID", help="Slack channel ID to announce into.")
@click.option(
    "--backfill",
    default=0,
    show_default=True,
    type=click.IntRange(0, 50),
    help="Also post the newest N entries now (oldest first).",
)
@_filter_options()
@click.option("--unfurl", is_flag=True, help="Let Slack unfurl the article link.")
@_post_mode_options
@pass_ctx
def feeds_add(
    ctx: Context,
    url: str,
    channel_id: str | None,
    backfill: int,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    unfurl: bool,
    digest: str | None,
    thread: str | None,
) -> None:
    """Subscribe a feed: index its articles, and announce new ones to --channel."""
    from bot.knowledge.sample import remove_sample_data
    from bot.slack.channel_access import CannotPost, join_or_raise
    from bot.subscriptions import SubscriptionError, subscribe

    rt = ctx.runtime
    client, access = _check_channel(rt, channel_id, "subscribed")
    try:
        with rt.sessions.begin() as session:
            result = subscribe(
                session,
                url,
                channel_id,
                rt.settings,
                backfill=backfill,
                include=include,
                exclude=exclude,
                unfurl=unfurl,
                created_by="cli",
                digest=digest,
                thread=thread,
            )
            if client is not None and access is not None:
                access = join_or_raise(client, access)  # refused: rolled back, nothing stored
            remove_sample_data(session)
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    except CannotPost as refused:
        raise click.ClickException(_cannot_post(client, refused.access, "subscribed")) from None
    _joined(access)
    view = result.subscription
    if result.discovered_from:
        click.echo(f"{result.discovered_from} is a web page; using the feed it advertises.")
    if not result.created:
        click.echo(
            f"Already subscribed: {view.feed_title} <{view.feed_url}> "
            f"({_where(view.channel_id)}, {view.status})."
        )
        return
    click.echo(
        f"Added {view.feed_title} <{view.feed_url}>: {result.articles_indexed} articles indexed."
    )
    if view.channel_id:
        click.echo(
            f"New posts will be announced in {view.channel_id}; "
            "what the feed holds now counts as seen."
        )
        mode = _post_mode_line(view)
        if mode:
            click.echo(f"They are posted as {mode}.")
    if result.backfilled:
        click.echo(
            f"{result.backfilled} recent posts are queued for {view.channel_id}; they go out on "
            "the next `devopsbot poll --once` or while `devopsbot run` is running."
        )


@feeds.command("list")
@click.option("--channel", "channel_id", metavar="ID", help="Only this channel's subscriptions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per subscription.")
@pass_ctx
def feeds_list(ctx: Context, channel_id: str | None, as_json: bool) -> None:
    """Subscriptions with their health (last success, failures, next check, articles) and
    delivery: posts waiting and why, last post, posts given up lately."""
    from bot.subscriptions import SubscriptionError, list_subscriptions

    rt = ctx.runtime
    try:
        with rt.sessions() as session:
            views = list_subscriptions(session, channel_id)
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        for view in views:
            click.echo(json.dumps(_view_json(view), ensure_ascii=False))
        return
    if not views:
        click.echo("No feeds yet: add one with `devopsbot feeds add URL [--channel ID]`.")
        return
    for view in views:
        click.echo("\n".join(_view_lines(view)))


@feeds.command("log")
@click.argument("ref", required=False)
@click.option("--channel", "channel_id", metavar="ID", help="Only this channel's subscription.")
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many entries to show, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry (JSON Lines).")
@pass_ctx
def feeds_log(
    ctx: Context, ref: str | None, channel_id: str | None, limit: int, as_json: bool
) -> None:
    """Recent deliveries, newest first: posted, waiting (and why), given up, filtered out; of
    one feed (REF) or of every subscription."""
    from bot.db.models import utcnow
    from bot.delivery_log import delivery_log
    from bot.subscriptions import SubscriptionError, list_subscriptions, resolve

    try:
        with ctx.runtime.sessions() as session:
            sub_ids = None
            if ref:
                sub_ids = [s.id for s in resolve(session, ref, channel_id)]
            elif channel_id:
                sub_ids = [s.id for s in list_subscriptions(session, channel_id)]
            entries = delivery_log(session, utcnow(), sub_ids, limit)
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        for entry in entries:
            click.echo(json.dumps(_entry_json(entry), ensure_ascii=False))
        return
    if not entries:
        click.echo("Nothing posted or owed yet (a subscription posts only what is new).")
        return
    for entry in entries:
        click.echo("\n".join(_entry_lines(entry)))


def _change(
    ctx: Context, action: Callable[..., SubscriptionView], ref: str, channel_id: str | None
) -> None:
    from bot.subscriptions import SubscriptionError

    try:
        with ctx.runtime.sessions.begin() as session:
            view = action(session, ref, channel_id)
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    done = {"unsubscribe": "Removed", "pause": "Paused", "resume": "Resumed"}[action.__name__]
    # A URL without --channel acts on every subscription of the feed.
    where = _where(view.channel_id) if channel_id or ref.isdigit() else "all its subscriptions"
    click.echo(f"{done} {view.feed_title} <{view.feed_url}> ({where}).")


@feeds.command("remove")
@click.argument("ref")
@click.option("--channel", "channel_id", metavar="ID", help="Only this channel's subscription.")
@pass_ctx
def feeds_remove(ctx: Context, ref: str, channel_id: str | None) -> None:
    """Unsubscribe; a feed left with no subscription is removed with its articles."""
    from bot.subscriptions import unsubscribe

    _change(ctx, unsubscribe, ref, channel_id)


@feeds.command("pause")
@click.argument("ref")
@click.option("--channel", "channel_id", metavar="ID", help="Only this channel's subscription.")
@pass_ctx
def feeds_pause(ctx: Context, ref: str, channel_id: str | None) -> None:
    """Stop announcing a feed (and polling it, once every subscription is paused)."""
    from bot.subscriptions import pause

    _change(ctx, pause, ref, channel_id)


@feeds.command("resume")
@click.argument("ref", required=False)
@click.option("--channel", "channel_id", metavar="ID", help="Only this channel's subscription.")
@click.option("--broken", is_flag=True, help="Resume every subscription marked broken.")
@pass_ctx
def feeds_resume(ctx: Context, ref: str | None, channel_id: str | None, broken: bool) -> None:
    """Announce again; also restarts a feed paused after failures."""
    from bot.subscriptions import resume, resume_broken

    if broken:
        with ctx.runtime.sessions.begin() as session:
            views = resume_broken(session)
        click.echo(f"Resumed {len(views)} broken subscriptions.")
        return
    if not ref:
        raise click.UsageError("give a feed URL or id, or --broken")
    _change(ctx, resume, ref, channel_id)


@feeds.command("set")
@click.argument("ref")
@click.option("--channel", "channel_id", metavar="ID", help="Only this channel's subscription.")
@_filter_options("; replaces the current ones")
@click.option("--no-filters", is_flag=True, help="Remove every include and exclude filter.")
@click.option("--unfurl/--no-unfurl", default=None, help="Let Slack unfurl the posted links.")
@_post_mode_options
@click.option(
    "--no-digest",
    is_flag=True,
    help="Post each entry again (what was collected goes out as one last digest).",
)
@click.option("--no-thread", is_flag=True, help="Stop posting in a thread per day.")
@pass_ctx
def feeds_set(
    ctx: Context,
    ref: str,
    channel_id: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    no_filters: bool,
    unfurl: bool | None,
    digest: str | None,
    thread: str | None,
    no_digest: bool,
    no_thread: bool,
) -> None:
    """Change a subscription in place: filters, unfurling, digest or thread per day (the feed
    and what it has already posted are kept)."""
    from bot.slack.channel_access import CannotPost, join_or_raise
    from bot.subscriptions import SubscriptionError, change_subscription

    if no_filters and (include or exclude):
        raise click.UsageError("--no-filters removes filters; give it alone")
    if (digest and no_digest) or (thread and no_thread):
        raise click.UsageError("give --digest or --no-digest (--thread or --no-thread), not both")
    if no_digest:
        digest = "off"
    if no_thread:
        thread = "off"
    changes = (include, exclude, no_filters, unfurl is not None, digest, thread)
    if not any(changes):
        raise click.UsageError(
            "say what to change: --include, --exclude, --no-filters, --unfurl, --digest, "
            "--no-digest, --thread, --no-thread"
        )
    client, access = _check_channel(ctx.runtime, channel_id, "changed")
    try:
        with ctx.runtime.sessions.begin() as session:
            views = change_subscription(
                session,
                ref,
                channel_id,
                include=() if no_filters else (include or None),
                exclude=() if no_filters else (exclude or None),
                unfurl=unfurl,
                digest=digest,
                thread=thread,
                default_tz=ctx.settings.devopsbot_timezone,
            )
            if client is not None and access is not None:
                access = join_or_raise(client, access)
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    except CannotPost as refused:
        raise click.ClickException(_cannot_post(client, refused.access, "changed")) from None
    _joined(access)
    for view in views:
        click.echo(f"Changed {view.feed_title} <{view.feed_url}> in {_where(view.channel_id)}:")
        click.echo(f"  include: {', '.join(view.include) or '(everything)'}")
        click.echo(f"  exclude: {', '.join(view.exclude) or '(nothing)'}")
        click.echo(f"  unfurl: {'on' if view.unfurl else 'off'}")
        click.echo(f"  posts: {_post_mode_line(view) or 'one message per entry'}")


@feeds.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--channel",
    "channel_id",
    metavar="ID",
    help="Announce every feed to this channel (default: the channel each outline names).",
)
@pass_ctx
def feeds_import(ctx: Context, file: BinaryIO, channel_id: str | None) -> None:
    """Subscribe every feed listed in an OPML file (`-` reads stdin)."""
    from bot.knowledge.sample import remove_sample_data
    from bot.slack.announce import make_client
    from bot.slack.channel_access import check_channel, join_channel
    from bot.subscriptions import SubscriptionError, import_opml

    rt = ctx.runtime
    client = make_client(rt.settings)
    joined: list[ChannelAccess] = []

    def can_post(channel: str) -> str | None:
        """Before the first feed of each channel: join it if public, or say why not."""
        if client is None:
            return None
        access = join_channel(client, check_channel(client, channel))
        if access.outcome == "joined":
            joined.append(access)
        return None if access.can_post else _cannot_post(client, access, "subscribed")

    progress = Progress("feeds")
    try:
        with rt.sessions.begin() as session:
            imported = import_opml(
                session,
                file.read(),
                rt.settings,
                channel_id,
                progress=progress,
                channel_check=can_post,
            )
            if any(i.result for i in imported):
                remove_sample_data(session)
    except SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        progress.close()
    for access in joined:
        _joined(access)
    if client is None and any(i.result and i.result.subscription.channel_id for i in imported):
        click.echo(
            "Warning: SLACK_BOT_TOKEN is not set, so whether the bot can post in the imported "
            "feeds' channels was not checked: invite @devopsbot there, or its posts will fail.",
            err=True,
        )
    for item in imported:
        if item.result is None:
            click.echo(f"skipped {item.url}: {item.error}", err=True)
        else:
            state = "added" if item.result.created else "already subscribed"
            click.echo(f"{state}: {item.title} <{item.result.subscription.feed_url}>")
    ok = sum(1 for i in imported if i.result)
    click.echo(f"Imported {ok} of {len(imported)} feeds.")
    if not ok:
        raise SystemExit(1)


@feeds.command("export")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File (default: stdout).")
@pass_ctx
def feeds_export(ctx: Context, output: TextIO) -> None:
    """Print every feed as OPML 2.0."""
    from bot.subscriptions import export_opml

    with ctx.runtime.sessions() as session:
        output.write(export_opml(session))


# -- poll ------------------------------------------------------------------------------------


EXIT_FEED_FAILED = 1
EXIT_POSTS_STUCK = 3


@cli.command(
    epilog="Exit status: 0 when every polled feed was read and every owed post went out; "
    f"{EXIT_FEED_FAILED} when a feed failed (unreachable, not a feed, gone); "
    f"{EXIT_POSTS_STUCK} when feeds were fine but posts are stuck (no SLACK_BOT_TOKEN, a "
    "subscription broke, or delivery stopped early). --dry-run never fails for posts."
)
@click.option("--once", is_flag=True, required=True, help="Poll every due feed now, then exit.")
@click.option("--all", "poll_all", is_flag=True, help="Poll every active feed, due or not.")
@click.option(
    "--feed", "feed_ref", metavar="URL|ID", help="Poll this feed now, due or not (and no other)."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Poll and store as usual, but print the announcements instead of posting them "
    "(they stay queued).",
)
@pass_ctx
def poll(ctx: Context, once: bool, poll_all: bool, feed_ref: str | None, dry_run: bool) -> None:
    """Poll due feeds, store and index new entries, and announce them."""
    from bot.scheduler import poll_once
    from bot.slack.announce import make_client
    from bot.subscriptions import SubscriptionError, poll_now

    if poll_all and feed_ref:
        raise click.UsageError("give --all or --feed, not both")
    rt = ctx.runtime
    if poll_all or feed_ref:
        try:
            with rt.sessions.begin() as session:
                poll_now(session, feed_ref)
        except SubscriptionError as exc:
            raise click.ClickException(str(exc)) from None
    if logging.getLogger().level > logging.DEBUG:
        # Each feed's outcome is printed below; its log line would say the same thing twice.
        logging.getLogger("bot.feeds.refresh").setLevel(logging.ERROR)
    client = None if dry_run else make_client(rt.settings)
    polled = 0

    def tell(_outcome: object) -> None:
        nonlocal polled
        polled += 1
        click.echo(f"\rpolling: {polled} feeds done", nl=False, err=True)

    report = poll_once(
        rt, client, dry_run=dry_run, on_outcome=tell if sys.stderr.isatty() else None
    )
    if polled:
        click.echo("\r\033[K", nl=False, err=True)  # clear the counter's line
    for outcome in sorted(report.outcomes, key=lambda o: o.url):
        if outcome.error:
            click.echo(f"{outcome.url}: {outcome.status}: {outcome.error}", err=True)
        else:
            click.echo(
                f"{outcome.url}: {len(outcome.new_articles)} new, {outcome.edited} edited "
                f"({outcome.status})"
            )
        if outcome.rewritten:
            click.echo(
                f"  {outcome.rewritten} entries changed their guid but kept their link: "
                "matched to the stored ones, not announced"
            )
        if outcome.moved_from:
            click.echo(f"  moved permanently from {outcome.moved_from}")
    if not report.outcomes:
        click.echo("No feed is due (--all polls every feed now).")
    failed = any(o.error for o in report.outcomes)
    stuck = False
    if dry_run:
        click.echo(f"Dry run: {len(report.would_post)} announcements would be posted.")
        for line in report.would_post:
            click.echo(f"  would post to {line}")
    elif report.skipped and report.owed:
        click.echo(
            f"Announcements skipped: {report.skipped} "
            f"({report.owed} posts are waiting and go out once it is).",
            err=True,
        )
        stuck = report.owed > 0
    elif report.delivery is not None:
        delivery = report.delivery
        why = " (`devopsbot feeds log` says why)" if report.owed else ""
        click.echo(f"Posted {delivery.posted} announcements; {report.owed} still waiting{why}.")
        for reason in delivery.broken:
            click.echo(f"  subscription broken: {reason}", err=True)
        if delivery.stopped:
            click.echo(f"  stopped early: {delivery.stopped}", err=True)
        stuck = bool(delivery.broken or delivery.stopped)
    if failed:
        sys.exit(EXIT_FEED_FAILED)
    if stuck:
        sys.exit(EXIT_POSTS_STUCK)


# -- db --------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply database migrations (also done on every start)."""
    rt = ctx.runtime
    click.echo(
        f"Database is at the latest schema ({rt.engine.url.render_as_string(hide_password=True)})."
    )


def main() -> None:
    """Console-script entry point."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    try:
        cli(prog_name="devopsbot")
    finally:
        # The process ends here and the store's connections are closed (Context.runtime): what
        # is left only needs the OS to free it. Frozen, it is skipped by the full collections
        # Python runs while exiting (~0.2 s over the ~90,000 objects a cold `ask` holds).
        gc.freeze()


if __name__ == "__main__":
    main()
