"""`devopsbot feeds …` and `devopsbot poll --once` as a user runs them (in-process CliRunner)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from feedkit import BOT_TOKEN, posted_title, rss, rss_item, seed, with_new_item
from sqlalchemy import update

from bot.cli import cli
from bot.db.models import Feed, utcnow
from bot.db.session import make_engine


@pytest.fixture
def env(db_url, fake_slack, tmp_path):
    return {
        "DEVOPSBOT_DATABASE_URL": db_url,
        "DEVOPSBOT_ALLOW_PRIVATE_URLS": "true",
        "DEVOPSBOT_POST_INTERVAL": "0",
        "DEVOPSBOT_HTTP_TIMEOUT": "2",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": fake_slack.api_url,
        "HOME": str(tmp_path),
    }


@pytest.fixture
def run(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env file

    def invoke(*args: str, ok: bool = True, input: str | None = None, **extra: str | None):
        result = CliRunner().invoke(cli, list(args), env={**env, **extra}, input=input)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        assert "Traceback" not in result.output + result.stderr
        return result

    return invoke


def make_due(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Feed).values(next_check_at=utcnow() - timedelta(minutes=1)))
    engine.dispose()


def test_add_with_channel_and_backfill_then_poll_posts(run, feed_server, fake_slack, db_url):
    url = feed_server.serve("/e13.xml", seed())
    out = run("feeds", "add", url, "--channel", "C0OPS", "--backfill", "2").output
    assert "Added E13 Capital & Technology Blog" in out and "10 articles indexed" in out
    assert "New posts will be announced in C0OPS" in out and "2 recent posts are queued" in out
    assert fake_slack.posted() == []
    out = run("poll", "--once").output
    assert "No feed is due" in out and "Posted 2 announcements; 0 still waiting." in out
    assert [p["channel"] for p in fake_slack.posted()] == ["C0OPS", "C0OPS"]

    feed_server.serve("/e13.xml", with_new_item(seed(), rss_item("CLI news", guid="cli1")))
    make_due(db_url)
    out = run("poll", "--once").output
    assert f"{url}: 1 new, 0 edited (updated)" in out and "Posted 1 announcements" in out
    assert posted_title(fake_slack.posted()[-1]) == "CLI news"
    assert "Already subscribed" in run("feeds", "add", url, "--channel", "C0OPS").output


def test_poll_says_when_a_guid_rewrite_was_matched_not_announced(
    run, feed_server, fake_slack, db_url
):
    def feed(guid: str) -> bytes:
        items = [
            rss_item(f"Post {n}", link=f"https://ops.example/{n}", guid=guid.format(n=n))
            for n in (3, 2, 1)
        ]
        return rss(items)

    url = feed_server.serve("/ops.xml", feed("ops-{n}"))
    run("feeds", "add", url, "--channel", "C0OPS")
    feed_server.serve("/ops.xml", feed("https://ops.example/p/{n}"))
    make_due(db_url)
    out = run("poll", "--once").output
    assert f"{url}: 0 new, 0 edited (updated)" in out
    assert "3 entries changed their guid but kept their link" in out
    assert fake_slack.posted() == []


def test_filters_from_the_command_line(run, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    run("feeds", "add", url, "--channel", "C0K8S", "--include", "kubernetes", "--exclude", "/ads?/")
    (line,) = [json.loads(x) for x in run("feeds", "list", "--json").output.splitlines()]
    assert line["include"] == ["kubernetes"] and line["exclude"] == ["/ads?/"]
    bad = run("feeds", "add", url, "--channel", "C0X", "--include", "/(/", ok=False)
    assert bad.exit_code == 1 and "not a valid regular expression" in bad.stderr


def test_list_pause_resume_remove(run, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    run("feeds", "add", url)
    run("feeds", "add", url, "--channel", "C0OPS")
    out = run("feeds", "list").output
    assert "C0OPS" in out and "index only" in out and "10 articles" in out
    assert "next check" in out and "0 failures" in out
    assert "Paused" in run("feeds", "pause", url, "--channel", "C0OPS").output
    (row,) = [
        json.loads(x)
        for x in run("feeds", "list", "--json", "--channel", "C0OPS").output.splitlines()
    ]
    assert row["status"] == "paused"
    assert "Resumed" in run("feeds", "resume", str(row["id"])).output
    assert "Resumed 0 broken" in run("feeds", "resume", "--broken").output
    assert "Removed" in run("feeds", "remove", url, "--channel", "C0OPS").output
    assert "C0OPS" not in run("feeds", "list").output
    assert "all its subscriptions" in run("feeds", "remove", url).output
    assert "No feeds yet" in run("feeds", "list").output


def test_errors_are_sentences_with_exit_code_1(run, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    bad_channel = run("feeds", "add", url, "--channel", "#general", ok=False)
    assert bad_channel.exit_code == 1 and "not a Slack channel ID" in bad_channel.stderr
    unknown = run("feeds", "remove", "https://nowhere.example/x.xml", ok=False)
    assert unknown.exit_code == 1 and "No feed with the address" in unknown.stderr
    usage = run("feeds", "resume", ok=False)
    assert usage.exit_code == 2 and "--broken" in usage.stderr


def test_opml_export_and_import(run, feed_server, tmp_path):
    a = feed_server.serve("/e13.xml", seed())
    b = feed_server.serve("/shipit.xml", seed("shipit-dev.atom.xml"))
    run("feeds", "add", a)
    run("feeds", "add", b)
    exported = run("feeds", "export").output
    assert a in exported and b in exported
    path = tmp_path / "feeds.opml"
    run("feeds", "export", "-o", str(path))
    run("feeds", "remove", a)
    run("feeds", "remove", b)
    out = run("feeds", "import", str(path), "--channel", "C0OPS").output
    assert "Imported 2 of 2 feeds." in out
    assert run("feeds", "list").output.count("C0OPS") == 2
    broken = tmp_path / "bad.opml"
    broken.write_text("<rss/>")
    failed = run("feeds", "import", str(broken), ok=False)
    assert failed.exit_code == 1 and "not an OPML file" in failed.stderr


def test_poll_dry_run_prints_instead_of_posting(run, feed_server, fake_slack, db_url):
    url = feed_server.serve("/e13.xml", seed())
    run("feeds", "add", url, "--channel", "C0OPS")
    feed_server.serve("/e13.xml", with_new_item(seed(), rss_item("Dry <b>run</b>", guid="d1")))
    make_due(db_url)
    out = run("poll", "--once", "--dry-run").output
    assert "1 new" in out and "Dry run: 1 announcements would be posted." in out
    # An RSS title holding tags is HTML: its text is announced, not its markup.
    assert "would post to C0OPS: New in E13 Capital &amp; Technology Blog: Dry run" in out
    assert fake_slack.posted() == []
    assert "Posted 1 announcements" in run("poll", "--once").output


def test_poll_without_a_token_stores_and_says_why_nothing_was_posted(
    run, feed_server, fake_slack, db_url
):
    url = feed_server.serve("/e13.xml", seed())
    run("feeds", "add", url, "--channel", "C0OPS")
    feed_server.serve("/e13.xml", with_new_item(seed(), rss_item("Tokenless", guid="t1")))
    make_due(db_url)
    result = run("poll", "--once", ok=False, SLACK_BOT_TOKEN=None)
    assert result.exit_code == 3  # the feed was read; its post is stuck
    assert "1 new" in result.output
    assert "Announcements skipped: SLACK_BOT_TOKEN is not set" in result.stderr
    assert "1 posts are waiting" in result.stderr
    assert fake_slack.posted() == []
    # Stored and indexed all the same.
    answer = json.loads(run("ask", "--json", "tokenless").output)
    assert answer["results"][0]["title"] == "Tokenless"


def test_a_failing_feed_is_reported_on_stderr(run, feed_server, db_url):
    url = feed_server.serve("/e13.xml", seed())
    run("feeds", "add", url)
    feed_server.serve("/e13.xml", b"", status=500)
    make_due(db_url)
    result = run("poll", "--once", ok=False)
    assert result.exit_code == 1
    assert f"{url}: error:" in result.stderr and "HTTP 500" in result.stderr
    assert result.stderr.count("HTTP 500") == 1  # printed once, not logged again
    assert "1 failures" in run("feeds", "list").output


def test_poll_all_and_poll_feed_read_feeds_that_are_not_due(run, feed_server, fake_slack, db_url):
    first = feed_server.serve("/e13.xml", seed())
    second = feed_server.serve("/shipit.xml", seed("shipit-dev.atom.xml"))
    run("feeds", "add", first, "--channel", "C0OPS")
    run("feeds", "add", second)
    feed_server.serve("/e13.xml", with_new_item(seed(), rss_item("Forced", guid="f1")))
    assert "No feed is due" in run("poll", "--once").output
    out = run("poll", "--once", "--feed", first).output
    assert f"{first}: 1 new" in out and second not in out
    assert posted_title(fake_slack.posted()[-1]) == "Forced"
    out = run("poll", "--once", "--all").output
    assert f"{first}: 0 new" in out and f"{second}: 0 new" in out
    engine = make_engine(db_url)  # paused by the bot after a day of failures
    with engine.begin() as conn:
        conn.execute(update(Feed).where(Feed.url == first).values(status="paused"))
    engine.dispose()
    paused = run("poll", "--once", "--feed", first, ok=False)
    assert paused.exit_code == 1 and "feeds resume" in paused.stderr
    both = run("poll", "--once", "--all", "--feed", first, ok=False)
    assert both.exit_code == 2 and "not both" in both.stderr


def test_adding_a_blog_page_says_which_feed_it_picked(run, feed_server):
    feed = feed_server.serve("/e13.xml", seed())
    page = feed_server.serve(
        "/blog", b'<html><head><link rel="alternate" type="application/atom+xml" href="/e13.xml">'
    )
    out = run("feeds", "add", page).output
    assert f"{page} is a web page; using the feed it advertises." in out
    assert f"Added E13 Capital & Technology Blog <{feed}>" in out


def test_feeds_set_changes_filters_in_place(run, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    run("feeds", "add", url, "--channel", "C0OPS", "--include", "old")
    out = run("feeds", "set", url, "--include", "kubernetes", "--exclude", "re:^Sponsored").output
    assert "include: kubernetes" in out and "exclude: re:^Sponsored" in out
    assert "include: (everything)" in run("feeds", "set", url, "--no-filters").output
    bad = run("feeds", "set", url, ok=False)
    assert bad.exit_code == 2 and "say what to change" in bad.stderr


# -- the bot must be able to post where a subscription points ------------------------------


def test_add_joins_a_public_channel_the_bot_is_not_in(run, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    channel = fake_slack.channel("C0NEWS", "news")
    out = run("feeds", "add", url, "--channel", "C0NEWS").output
    assert "Joined #news (C0NEWS) so the bot can post there." in out
    assert "New posts will be announced in C0NEWS" in out
    assert [a["channel"] for a in fake_slack.posted("conversations.join")] == ["C0NEWS"]
    assert channel.member and "C0NEWS" in run("feeds", "list").output


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ({"private": True}, "invite @devopsbot to C0SECRET first"),  # invisible to the bot
        ({"member": True, "archived": True}, "#secret (C0SECRET) is archived"),
        (None, "no longer exists"),
    ],
    ids=["private", "archived", "not-found"],
)
def test_add_refuses_a_channel_the_bot_cannot_post_in(
    run, feed_server, fake_slack, setup, expected
):
    url = feed_server.serve("/e13.xml", seed())
    if setup is None:
        fake_slack.channels["C0SECRET"] = None
    else:
        fake_slack.channel("C0SECRET", "secret", **setup)
    result = run("feeds", "add", url, "--channel", "C0SECRET", ok=False)
    assert result.exit_code == 1
    assert expected in result.stderr and "Nothing was subscribed." in result.stderr
    assert "invite @devopsbot to" in result.stderr and "/invite @devopsbot" in result.stderr
    assert fake_slack.posted("conversations.join") == []
    assert feed_server.requests == []  # refused before fetching
    assert "No feeds yet" in run("feeds", "list").output


def test_add_stores_nothing_when_slack_fails_during_the_check(run, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    fake_slack.queue("conversations.info", {"ok": False, "error": "fatal_error"}, status=503)
    outage = run("feeds", "add", url, "--channel", "C0OPS", ok=False)
    assert outage.exit_code == 1 and "Slack didn't answer (HTTP 503)" in outage.stderr
    fake_slack.queue("conversations.info", {"ok": False, "error": "token_revoked"})
    revoked = run("feeds", "add", url, "--channel", "C0OPS", ok=False)
    assert "rejected the bot token (token_revoked)" in revoked.stderr
    assert "SLACK_BOT_TOKEN" in revoked.stderr and "xoxb-" not in revoked.stderr
    fake_slack.channel("C0LOCKED", "locked")
    fake_slack.queue("conversations.join", {"ok": False, "error": "restricted_action"})
    refused = run("feeds", "add", url, "--channel", "C0LOCKED", ok=False)
    assert "didn't let me join #locked (C0LOCKED) (restricted_action)" in refused.stderr
    assert "No feeds yet" in run("feeds", "list").output  # the fetched feed was rolled back


def test_set_with_a_channel_checks_it_too(run, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    run("feeds", "add", url, "--channel", "C0OPS")
    fake_slack.channel("C0OPS", "ops", archived=True)  # archived since
    result = run("feeds", "set", url, "--channel", "C0OPS", "--include", "k8s", ok=False)
    assert "#ops (C0OPS) is archived" in result.stderr and "Nothing was changed." in result.stderr
    (row,) = [json.loads(x) for x in run("feeds", "list", "--json").output.splitlines()]
    assert row["include"] == []


def test_without_a_token_membership_is_not_checked_and_a_warning_says_so(
    run, feed_server, fake_slack
):
    url = feed_server.serve("/e13.xml", seed())
    result = run("feeds", "add", url, "--channel", "C0OPS", SLACK_BOT_TOKEN=None)
    warnings = [line for line in result.stderr.splitlines() if "C0OPS" in line]
    assert len(warnings) == 1 and "SLACK_BOT_TOKEN is not set" in warnings[0]
    assert "was not checked" in warnings[0]
    assert "New posts will be announced in C0OPS" in result.output
    assert fake_slack.calls == []  # nothing asked of Slack
    assert "Warning" not in run("feeds", "add", url, SLACK_BOT_TOKEN=None).stderr  # no channel


def test_import_checks_each_channel_once_and_skips_the_feeds_of_a_refused_one(
    run, feed_server, fake_slack, tmp_path
):
    a = feed_server.serve("/e13.xml", seed())
    b = feed_server.serve("/shipit.xml", seed("shipit-dev.atom.xml"))
    run("feeds", "add", a)
    run("feeds", "add", b)
    path = tmp_path / "feeds.opml"
    run("feeds", "export", "-o", str(path))
    fake_slack.channel("C0SECRET", "secret", private=True)
    refused = run("feeds", "import", str(path), "--channel", "C0SECRET", ok=False)
    assert refused.exit_code == 1 and "Imported 0 of 2 feeds." in refused.output
    assert refused.stderr.count("invite @devopsbot to C0SECRET first") == 2
    assert "C0SECRET" not in run("feeds", "list").output

    fake_slack.channel("C0NEWS", "news")
    out = run("feeds", "import", str(path), "--channel", "C0NEWS").output
    assert "Imported 2 of 2 feeds." in out and out.count("Joined #news (C0NEWS)") == 1
    assert [c["channel"] for c in fake_slack.posted("conversations.info")] == [
        "C0SECRET",
        "C0NEWS",
    ]
    assert run("feeds", "list").output.count("C0NEWS") == 2
    quiet = run("feeds", "import", str(path), "--channel", "C0NEWS", SLACK_BOT_TOKEN=None)
    assert "was not checked" in quiet.stderr
