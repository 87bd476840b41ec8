"""The `devopsbot` command line: a thin shell over the library (the composition root)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import httpx

from bot.config import ConfigError, Settings, load_settings
from bot.knowledge.load import NotesError, find_note_files, load_note_file
from bot.knowledge.sample import ensure_sample_data, only_sample_data, remove_sample_data
from bot.render import result_json, result_text
from bot.runtime import Runtime, configure_logging, open_runtime

SAMPLE_NOTE = (
    "Using the bundled sample data (DevOps notes and four feed snapshots). Load your own with "
    "`devopsbot notes load PATH`, or set DEVOPSBOT_SAMPLE_DATA=false to turn this off."
)


class Context:
    """Lazily opened runtime, so `--help` and usage errors never touch the database."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            try:
                settings = load_settings()
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
            configure_logging(
                settings.devopsbot_log_level
                if settings.devopsbot_log_level != "INFO"
                else "WARNING"
            )
            self._runtime = open_runtime(settings)
        return self._runtime


pass_ctx = click.make_pass_decorator(Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="devopsbot")
def cli() -> None:
    """devopsbot: answers DevOps questions from your notes and feeds, and announces new posts."""


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
    rt = ctx.runtime
    with rt.sessions.begin() as session:
        if rt.settings.devopsbot_sample_data and ensure_sample_data(session):
            pass
        using_sample = rt.settings.devopsbot_sample_data and only_sample_data(session)
        empty = not using_sample and rt.answerer.sync(session) == 0 and len(rt.answerer.index) == 0
    if using_sample:
        click.echo(SAMPLE_NOTE, err=True)
    elif empty:
        click.echo(
            "The knowledge store is empty: load notes with `devopsbot notes load PATH` "
            "or add a feed with `devopsbot feeds add URL`.",
            err=True,
        )
    questions = [q for q in sys.stdin.read().splitlines() if q.strip()] if text == "-" else [text]
    with rt.sessions() as session:
        for q in questions:
            result = rt.answerer.ask(session, q, limit=limit)
            if as_json or text == "-":
                click.echo(json.dumps(result_json(result), ensure_ascii=False))
            else:
                click.echo(result_text(result))


# -- notes -----------------------------------------------------------------------------------


@cli.group()
def notes() -> None:
    """Index Markdown notes."""


@notes.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def notes_load(ctx: Context, paths: tuple[Path, ...]) -> None:
    """Index Markdown files or folders; loading a file again replaces its chunks."""
    try:
        files = find_note_files(list(paths))
    except NotesError as exc:
        raise click.ClickException(str(exc)) from None
    if not files:
        raise click.ClickException(
            "no Markdown files (.md, .markdown) found in " + ", ".join(map(str, paths))
        )
    rt = ctx.runtime
    failed = 0
    for path in files:
        try:
            with rt.sessions.begin() as session:
                removed = remove_sample_data(session)
                count = load_note_file(session, path)
        except NotesError as exc:
            failed += 1
            click.echo(f"error: {exc} (its stored chunks are unchanged)", err=True)
            continue
        if removed:
            click.echo("Removed the bundled sample data now that you have your own notes.")
        click.echo(f"{path}: {count} chunks")
    if failed:
        raise SystemExit(1)


# -- feeds -----------------------------------------------------------------------------------


@cli.group()
def feeds() -> None:
    """Manage feed subscriptions."""


@feeds.command("add")
@click.argument("url")
@pass_ctx
def feeds_add(ctx: Context, url: str) -> None:
    """Subscribe a feed and index its articles."""
    from bot.feeds.refresh import FeedError, add_feed

    rt = ctx.runtime
    try:
        with rt.sessions.begin() as session:
            feed, new = add_feed(session, url, rt.settings)
            remove_sample_data(session)
            title, feed_url = feed.title, feed.url
    except FeedError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Added {title} <{feed_url}>: {len(new)} articles indexed.")


# -- poll ------------------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, required=True, help="Poll every due feed now, then exit.")
@click.option("--dry-run", is_flag=True, help="Print what would be announced instead of posting.")
@pass_ctx
def poll(ctx: Context, once: bool, dry_run: bool) -> None:
    """Poll due feeds, store and index new entries."""
    from bot.feeds.refresh import due_feeds, refresh_feed

    rt = ctx.runtime
    with rt.sessions() as session:
        feed_ids = [f.id for f in due_feeds(session)]
    errors = 0
    with httpx.Client(timeout=rt.settings.devopsbot_http_timeout) as http:
        for feed_id in feed_ids:
            from bot.db.models import Feed

            with rt.sessions.begin() as session:
                feed = session.get(Feed, feed_id)
                if feed is None:
                    continue
                outcome = refresh_feed(session, feed, rt.settings, http)
                titles = [(a.title, a.url) for a in outcome.new_articles]
            if outcome.error:
                errors += 1
                click.echo(f"{outcome.url}: error: {outcome.error}", err=True)
                continue
            click.echo(
                f"{outcome.url}: {len(titles)} new, {outcome.edited} edited ({outcome.status})"
            )
            if dry_run:
                for title, link in titles:
                    click.echo(f"  would announce: {title} <{link}>")
    if not feed_ids:
        click.echo("No feed is due.")


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
    cli(prog_name="devopsbot")


if __name__ == "__main__":
    main()
