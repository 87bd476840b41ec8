"""When to poll: an APScheduler 3.x background job that runs the feed pipeline, then delivery.

The scheduler only says *when*. The database owns *what* is due (`feeds.next_check_at`) and who
is polling it (`feeds.claimed_until`), so a restart or a second replica neither skips nor
repeats work. `poll_once` is the same tick, used by `devopsbot poll --once`.

A second job keeps DEVOPSBOT_NOTES_PATH in the store with `sync_notes`, the function behind
`devopsbot notes load`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.db.models import Delivery, DigestPost, Notice, Subscription, ThreadPost, utcnow
from bot.digests import close_due_digests
from bot.feeds.refresh import PollOutcome, poll_due_feeds
from bot.knowledge.load import SyncReport, sync_notes
from bot.runtime import Runtime
from bot.slack.announce import (
    ChannelPacer,
    DeliveryReport,
    deliver_pending,
    pending_posts,
    worker_id,
)
from bot.slack.digest_posts import split

log = logging.getLogger(__name__)

POLL_JOB_ID = "devopsbot-poll-feeds"
NOTES_JOB_ID = "devopsbot-sync-notes"
NO_TOKEN = "SLACK_BOT_TOKEN is not set"


@dataclass
class PollReport:
    """What one tick did: feeds polled, posts made (or why not), and what a dry run would post."""

    outcomes: list[PollOutcome] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    skipped: str | None = None  # why announcements were not posted
    owed: int = 0  # posts still waiting after this tick
    digests: int = 0  # digests made by this tick (each posted as one message or its parts)
    would_post: list[str] = field(default_factory=list)

    @property
    def new(self) -> int:
        """New articles stored by this tick."""
        return sum(len(o.new_articles) for o in self.outcomes)

    @property
    def errors(self) -> list[PollOutcome]:
        """Feeds that failed (including ones now paused or gone)."""
        return [o for o in self.outcomes if o.error]


def count_owed(runtime: Runtime) -> int:
    """Posts waiting for an active channel subscription."""
    with runtime.sessions() as session:
        total = 0
        for model in (Delivery, Notice, DigestPost, ThreadPost):
            total += (
                session.scalar(
                    select(func.count())
                    .select_from(model)
                    .join(Subscription, Subscription.id == model.subscription_id)
                    .where(model.state.in_(("pending", "claimed")), Subscription.status == "active")
                )
                or 0
            )
        return total


class Poller:
    """One process's poller: keeps the channel pacing and worker id across ticks."""

    def __init__(
        self,
        runtime: Runtime,
        client: WebClient | None,
        *,
        pacer: ChannelPacer | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.pacer = pacer or ChannelPacer(runtime.settings.devopsbot_post_interval)
        self.http = http
        self.worker = worker_id()
        # Set by build_scheduler: true once shutdown began, so a tick ends between two steps.
        self.should_stop: Callable[[], bool] | None = None

    def poll_once(
        self,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
        budget_seconds: float | None = None,
        index: bool = True,
        on_outcome: Callable[[PollOutcome], None] | None = None,
    ) -> PollReport:
        """Poll every due feed, index what is new, then post (or, dry run, list) what is owed.

        Stored articles are searchable at once (the store bumps their source's revision);
        `index` also brings this process's in-memory index up to date right away, so the next
        question pays nothing. A one-shot CLI process has no use for that.
        """
        rt = self.runtime
        now = now or utcnow()
        report = PollReport()
        report.outcomes = poll_due_feeds(
            rt.sessions,
            rt.settings,
            http=self.http,
            now=now,
            should_stop=self.should_stop,
            on_outcome=on_outcome,
        )
        if index and any(o.new_articles or o.edited for o in report.outcomes):
            rt.answerer.ingest(rt.sessions)  # embeddings computed as the articles are stored
        # Digests whose time has come (or came while the bot was down) become owed posts.
        report.digests = close_due_digests(rt.sessions, now, split)
        if dry_run:
            report.would_post = pending_posts(rt.sessions, now)
        elif self.client is None:
            report.skipped = NO_TOKEN
        else:
            report.delivery = deliver_pending(
                rt.sessions,
                self.client,
                rt.settings,
                now=now,
                pacer=self.pacer,
                worker=self.worker,
                budget_seconds=budget_seconds,
                should_stop=self.should_stop,
            )
        report.owed = count_owed(rt)
        return report

    def tick(self) -> None:
        """The scheduled job: never raises (one bad tick must not stop the next)."""
        try:
            report = self.poll_once(budget_seconds=self.runtime.settings.devopsbot_tick_seconds)
        except Exception:
            log.exception("poll tick failed; the next tick retries")
            return
        posted = report.delivery.posted if report.delivery else 0
        if report.outcomes or posted:
            # A tick that found nothing new and posted nothing is routine: DEBUG, not INFO.
            news = report.new or report.errors or posted
            log.log(
                logging.INFO if news else logging.DEBUG,
                "polled %d feeds: %d new articles, %d errors, %d posted, %d owed",
                len(report.outcomes),
                report.new,
                len(report.errors),
                posted,
                report.owed,
            )


def poll_once(
    runtime: Runtime,
    client: WebClient | None,
    dry_run: bool = False,
    *,
    now: datetime | None = None,
    pacer: ChannelPacer | None = None,
    http: httpx.Client | None = None,
    budget_seconds: float | None = None,
    index: bool = False,
    on_outcome: Callable[[PollOutcome], None] | None = None,
) -> PollReport:
    """One tick by hand (`devopsbot poll --once`): poll due feeds, store, announce.

    `index=True` also refreshes `runtime.answerer` now (the scheduler's tick always does);
    `on_outcome` hears of each feed as soon as it is polled.
    """
    poller = Poller(runtime, client, pacer=pacer, http=http)
    return poller.poll_once(
        dry_run=dry_run,
        now=now,
        budget_seconds=budget_seconds,
        index=index,
        on_outcome=on_outcome,
    )


class NotesSyncer:
    """Keeps DEVOPSBOT_NOTES_PATH in the store, warning once per problem rather than per run."""

    def __init__(self, runtime: Runtime, paths: Sequence[Path] | None = None) -> None:
        self.runtime = runtime
        self.paths = list(runtime.settings.notes_paths if paths is None else paths)
        self._warned: set[str] = set()

    def sync(self) -> SyncReport:
        """Sync once (new, changed and deleted files), then bring the answer index up to date."""
        rt = self.runtime
        # A missing path, or a folder left with no Markdown at all, keeps its notes: an
        # unmounted volume must not wipe the index. `devopsbot notes remove` drops them for good.
        with rt.sessions.begin() as session:
            report = sync_notes(
                session,
                self.paths,
                keep_emptied=True,
                max_bytes=rt.settings.devopsbot_max_note_bytes,
            )
        if report.changed:
            rt.answerer.ingest(rt.sessions)
        self._warn(report)
        return report

    def _warn(self, report: SyncReport) -> None:
        problems = {f"{p}: no such file or folder; its notes are kept" for p in report.missing}
        problems |= {
            f"{p}: no Markdown files left; its notes are kept "
            f"(`devopsbot notes remove {p}` drops them)"
            for p in report.emptied
        }
        problems |= {f"{e} (its stored chunks are unchanged)" for e in report.errors}
        for message in sorted(problems - self._warned):
            log.warning("notes sync: %s", message)
        # Forget what was fixed, so the same problem coming back is reported again.
        self._warned = problems

    def tick(self) -> None:
        """The scheduled job: never raises (one failed sync must not stop the next)."""
        try:
            report = self.sync()
        except Exception:
            log.exception("notes sync failed; the next run retries")
            return
        if report.changed:
            log.info("notes sync: %s", report.summary())


def build_scheduler(runtime: Runtime, client: WebClient | None) -> BackgroundScheduler:
    """A background scheduler (not started) with one tick job every DEVOPSBOT_TICK_SECONDS.

    The job has an explicit id, replaces any job of that id, coalesces missed runs into one,
    never overlaps itself, and tolerates being late by up to one tick (the default is 1 s).
    `shutdown(wait=True)` returns once the running tick has finished its current step.
    With DEVOPSBOT_NOTES_PATH set, a notes job configured the same way syncs it at start and
    every DEVOPSBOT_NOTES_SYNC_INTERVAL seconds.
    """
    tick = runtime.settings.devopsbot_tick_seconds
    poller = Poller(runtime, client)
    scheduler = BackgroundScheduler(timezone=UTC)
    # shutdown() marks the scheduler stopped before waiting for a running tick: the tick sees
    # that and ends after the feed or post in hand, so stopping the bot takes seconds.
    poller.should_stop = lambda: scheduler.state == STATE_STOPPED
    _every(scheduler, poller.tick, tick, POLL_JOB_ID, "poll due feeds and announce new posts")
    if runtime.settings.notes_paths:
        _every(
            scheduler,
            NotesSyncer(runtime).tick,
            runtime.settings.devopsbot_notes_sync_interval,
            NOTES_JOB_ID,
            "sync DEVOPSBOT_NOTES_PATH into the store",
        )
    return scheduler


def _every(
    scheduler: BackgroundScheduler, job: Callable[[], object], seconds: int, job_id: str, name: str
) -> None:
    """An interval job that runs now and then every `seconds`: one at a time, missed runs
    merged into one, and a run late by less than an interval still runs."""
    scheduler.add_job(
        job,
        trigger=IntervalTrigger(seconds=seconds, timezone=UTC),
        id=job_id,
        name=name,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=max(30, seconds),
        next_run_time=datetime.now(UTC),
    )
