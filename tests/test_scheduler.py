"""The scheduler tick and `poll_once`: concurrency, restarts, dry runs, a missing token."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from feedkit import Bot, posted_title, rss, rss_item, seed, with_new_item
from sqlalchemy import select, update

from bot.db.models import Feed, Source
from bot.knowledge.sample import SAMPLE_PREFIX, only_sample_data
from bot.scheduler import NOTES_JOB_ID, POLL_JOB_ID, NotesSyncer, build_scheduler, poll_once
from bot.slack.runner import prepare_store


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


def test_the_scheduler_job_is_configured_explicitly(bot):
    scheduler = build_scheduler(bot.runtime, bot.client)
    (job,) = scheduler.get_jobs()
    assert job.id == POLL_JOB_ID
    assert job.coalesce is True and job.max_instances == 1
    assert job.misfire_grace_time == 60
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == timedelta(seconds=bot.settings.devopsbot_tick_seconds)
    assert not scheduler.running  # the runner starts and stops it


def test_a_started_scheduler_polls_and_announces(bot, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0OPS")
    new = rss_item("Scheduled post", link="/blog/s1", guid="s1")
    feed_server.serve("/e13.xml", with_new_item(seed(), new))
    with bot.sessions.begin() as session:
        session.execute(update(Feed).values(next_check_at=bot.now - timedelta(minutes=1)))
    scheduler = build_scheduler(bot.runtime, bot.client)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while not fake_slack.posted() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    (post,) = fake_slack.posted()
    assert posted_title(post) == "Scheduled post"
    # The tick also brought the bot's answer index up to date.
    assert bot.runtime.answerer.index.revisions()


def test_a_failing_tick_is_logged_and_the_next_one_runs(bot, monkeypatch, caplog):
    import bot.scheduler as scheduler_module

    def boom(*args, **kwargs):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(scheduler_module, "poll_due_feeds", boom)
    poller = scheduler_module.Poller(bot.runtime, bot.client)
    poller.tick()  # does not raise
    assert "poll tick failed" in caplog.text


def test_two_concurrent_pollers_post_each_entry_once(db_url, fake_slack, feed_server):
    """Two bots (own engines, like two replicas) poll and post at the same instant."""
    bots = [Bot.open(db_url, fake_slack.api_url, devopsbot_poll_workers=3) for _ in range(2)]
    channels = ["C0ONE", "C0TWO", "C0THREE"]
    paths = [f"/feed{n}.xml" for n in range(4)]
    old = rss_item("Old", guid="old")
    for path in paths:
        url = feed_server.serve(path, rss([old]))
        for channel in channels:
            bots[0].subscribe(url, channel)

    expected = 0
    for round_ in range(3):
        for path in paths:
            items = [
                rss_item(f"{path} r{r} i{i}", guid=f"r{r}i{i}")
                for r in range(round_ + 1)
                for i in range(3)
            ]
            feed_server.serve(path, rss([*items, old]))
        expected += len(paths) * 3 * len(channels)
        when = bots[0].now + timedelta(hours=round_ + 1)
        barrier = threading.Barrier(2)
        reports: list = [None, None]

        def run(i: int, when=when, barrier=barrier, reports=reports) -> None:
            barrier.wait()
            reports[i] = poll_once(bots[i].runtime, bots[i].client, now=when, pacer=bots[i].pacer)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # Each feed was polled by exactly one of the two.
        polled = Counter(o.feed_id for r in reports for o in r.outcomes)
        assert sorted(polled.values()) == [1] * len(paths)
        posted = Counter((p["channel"], posted_title(p)) for p in fake_slack.posted())
        assert len(posted) == expected and set(posted.values()) == {1}
        assert sum(r.delivery.posted for r in reports) == len(paths) * 3 * len(channels)
    for b in bots:
        b.close()


def test_dry_run_prints_what_would_be_posted_and_keeps_it_owed(bot, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0OPS", backfill=2)
    report = bot.poll(dry_run=True)
    assert len(report.would_post) == 2 and report.delivery is None
    assert all(line.startswith("C0OPS: New in E13") for line in report.would_post)
    assert fake_slack.posted() == []
    assert bot.poll().delivery.posted == 2


def test_without_a_token_polls_store_and_announcements_wait(db_url, fake_slack, feed_server):
    no_token = Bot.open(db_url, None)
    url = feed_server.serve("/e13.xml", seed())
    no_token.subscribe(url, "C0OPS")
    feed_server.serve("/e13.xml", with_new_item(seed(), rss_item("New", guid="n1")))
    report = no_token.poll()
    assert report.new == 1 and report.skipped == "SLACK_BOT_TOKEN is not set"
    assert report.owed == 1 and fake_slack.posted() == []
    no_token.close()
    with_token = Bot.open(db_url, fake_slack.api_url)
    assert with_token.poll().delivery.posted == 1
    with_token.close()


# Real time passes here (Slack's Retry-After, real pacing): once, on SQLite, is enough.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_shutdown_interrupts_a_long_delivery_and_loses_nothing(bot, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0OPS", backfill=8)  # 8 posts at 1 per second: a 7 s tick
    scheduler = build_scheduler(bot.runtime, bot.client)
    scheduler.start()
    deadline = time.monotonic() + 10
    while not fake_slack.posted() and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    scheduler.shutdown(wait=True)
    assert time.monotonic() - started < 2.0
    sent = len(fake_slack.posted())
    assert 1 <= sent < 8
    # The rest is still owed and goes out once, in order, on the next run.
    bot.poll()
    titles = [posted_title(p) for p in fake_slack.posted()]
    assert len(titles) == 8 and len(set(titles)) == 8


# -- DEVOPSBOT_NOTES_PATH kept in sync (issue 7) ---------------------------------------------


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _answers(runtime, question: str, needle: str) -> bool:
    """True when the best hit for `question` holds `needle`."""
    with runtime.sessions() as session:
        hits = runtime.answerer.ask(session, question).hits
    return bool(hits) and needle in hits[0].chunk.text


@pytest.fixture
def notes_dir(tmp_path):
    root = tmp_path / "notes"
    root.mkdir()
    (root / "certs.md").write_text("# Certs\n\n- rotate certs: `certbot renew`\n")
    (root / "drain.md").write_text("# Nodes\n\n- drain a node: `kubectl drain NODE`\n")
    return root


@pytest.fixture
def notes_bot(db_url, notes_dir, tmp_path):
    extra = tmp_path / "runbook.md"
    extra.write_text("# Runbook\n\n- restart ingress: `kubectl rollout restart deploy/ingress`\n")
    b = Bot.open(
        db_url,
        None,
        devopsbot_notes_path=f"{notes_dir}:{extra}",
        devopsbot_notes_sync_interval=300,
    )
    yield b
    b.close()


def test_the_notes_job_is_configured_explicitly(notes_bot):
    scheduler = build_scheduler(notes_bot.runtime, None)
    job = scheduler.get_job(NOTES_JOB_ID)
    assert job.coalesce is True and job.max_instances == 1
    assert job.misfire_grace_time == 300
    assert job.trigger.interval == timedelta(seconds=300)
    # The first sync runs as soon as the scheduler starts (`devopsbot run` start).
    assert job.next_run_time <= datetime.now(UTC)
    assert {j.id for j in scheduler.get_jobs()} == {POLL_JOB_ID, NOTES_JOB_ID}


def test_without_a_notes_path_there_is_no_notes_job(bot):
    assert build_scheduler(bot.runtime, bot.client).get_job(NOTES_JOB_ID) is None


def source_keys(session) -> set[str]:
    return set(session.scalars(select(Source.key)))


def _indexed(runtime) -> dict[str, int]:
    """Source key → revision as the bot's in-memory index holds them (without syncing it)."""
    with runtime.sessions() as session:
        keys = {sid: k for sid, k in session.execute(select(Source.id, Source.key))}
    return {
        keys.get(sid, f"gone:{sid}"): rev for sid, rev in runtime.answerer.index.revisions().items()
    }


def test_a_started_scheduler_syncs_notes_at_start_and_after_an_edit(notes_bot, notes_dir):
    runtime = notes_bot.runtime
    key = {name: str((notes_dir / name).resolve()) for name in ("certs.md", "drain.md", "kafka.md")}
    runbook = str(notes_dir.parent / "runbook.md")
    prepare_store(runtime)  # what `devopsbot run` does first: an empty store gets sample data
    scheduler = build_scheduler(runtime, None)
    scheduler.start()
    try:
        # The job runs at start and refreshes the index itself; the sample data made way.
        _wait(lambda: set(_indexed(runtime)) == {key["certs.md"], key["drain.md"], runbook})
        before = _indexed(runtime)
        (notes_dir / "drain.md").write_text("# Nodes\n\n- cordon a node: `kubectl cordon NODE`\n")
        (notes_dir / "certs.md").unlink()
        (notes_dir / "kafka.md").write_text("# Kafka\n\n- list topics: `kafka-topics --list`\n")
        want = {key["drain.md"], key["kafka.md"], runbook}

        def synced_again() -> bool:
            # A run asked for while the first one still works (a loaded machine) is skipped
            # (max_instances=1): ask again until a run has seen the edits.
            scheduler.get_job(NOTES_JOB_ID).modify(next_run_time=datetime.now(UTC))
            time.sleep(0.2)
            return set(_indexed(runtime)) == want

        _wait(synced_again, timeout=30)
    finally:
        scheduler.shutdown(wait=True)
    after = _indexed(runtime)
    assert after[key["drain.md"]] == before[key["drain.md"]] + 1  # re-chunked
    assert after[runbook] == before[runbook]  # untouched: not re-chunked
    with runtime.sessions() as session:
        assert not only_sample_data(session)
        assert not any(k.startswith(SAMPLE_PREFIX) for k in source_keys(session))
    assert _answers(runtime, "how do I cordon a node", "kubectl cordon")
    assert _answers(runtime, "list kafka topics", "kafka-topics")
    assert not _answers(runtime, "rotate certs", "certbot")


def test_a_missing_notes_path_is_warned_once_and_its_notes_are_kept(notes_bot, notes_dir, caplog):
    runtime = notes_bot.runtime
    syncer = NotesSyncer(runtime)
    syncer.tick()
    assert _answers(runtime, "how do I drain a node", "kubectl drain")
    moved = notes_dir.with_name("unmounted")
    notes_dir.rename(moved)  # the volume went away
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        syncer.tick()
        syncer.tick()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"notes sync: {notes_dir}: no such file or folder; its notes are kept"]
    assert _answers(runtime, "how do I drain a node", "kubectl drain")

    moved.rename(notes_dir)  # back: nothing to reload, nothing to warn about
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        report = syncer.sync()
    assert not report.changed and len(report.unchanged) == 3 and not caplog.records


def test_an_emptied_notes_folder_keeps_its_notes(notes_bot, notes_dir, caplog):
    runtime = notes_bot.runtime
    syncer = NotesSyncer(runtime)
    syncer.tick()
    for file in notes_dir.iterdir():
        file.unlink()  # an unmounted mount point: the folder is there, empty
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        report = syncer.sync()
    assert report.emptied == [notes_dir] and not report.removed
    assert "no Markdown files left" in caplog.text
    assert _answers(runtime, "how do I drain a node", "kubectl drain")


def test_a_notes_file_grown_past_the_limit_is_warned_once_and_keeps_its_notes(
    db_url, notes_dir, caplog
):
    b = Bot.open(db_url, None, devopsbot_notes_path=str(notes_dir), devopsbot_max_note_bytes=500)
    try:
        syncer = NotesSyncer(b.runtime)
        syncer.tick()
        (notes_dir / "drain.md").write_text("# Nodes\n\n" + "- generated line\n" * 100)
        with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
            syncer.tick()
            syncer.tick()
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "drain.md: larger than 0.0005 MB" in warnings[0]
        assert _answers(b.runtime, "how do I drain a node", "kubectl drain")
    finally:
        b.close()


def test_a_failing_notes_sync_is_logged_and_the_next_one_runs(notes_bot, monkeypatch, caplog):
    import bot.scheduler as scheduler_module

    def boom(*args, **kwargs):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(scheduler_module, "sync_notes", boom)
    NotesSyncer(notes_bot.runtime).tick()  # does not raise
    assert "notes sync failed" in caplog.text
