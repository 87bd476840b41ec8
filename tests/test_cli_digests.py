"""`devopsbot feeds add/set/list/export/import` with digests and day threads, as users run them."""

from __future__ import annotations

import json

import pytest
from feedkit import rss, rss_item
from test_cli_feeds import env, run  # noqa: F401  (fixtures shared with the feeds CLI tests)

OLD = rss_item("Old", link="https://ops.example/old", guid="old")


def rows(run) -> dict[str, dict]:  # noqa: F811
    listed = [json.loads(x) for x in run("feeds", "list", "--json").output.splitlines()]
    return {r["channel_id"]: r for r in listed}


def test_add_and_set_a_digest_and_a_thread_and_list_shows_them(run, feed_server):  # noqa: F811
    url = feed_server.serve("/ops.xml", rss([OLD]))
    out = run("feeds", "add", url, "--channel", "C0DIGEST", "--digest", "weekly@mon 09:00").output
    assert "They are posted as a digest every Mon at 09:00 (UTC)" in out
    run("feeds", "add", url, "--channel", "C0THREAD", "--thread", "daily Europe/Berlin")
    listing = run("feeds", "list").output
    assert "posts: a digest every Mon at 09:00 (UTC) · 0 entries collected · next " in listing
    assert "posts: a thread per day (Europe/Berlin)" in listing
    found = rows(run)
    assert found["C0DIGEST"]["digest"] == "weekly@mon 09:00 UTC"
    assert found["C0DIGEST"]["next_digest_at"].endswith("T09:00:00+00:00")
    assert found["C0THREAD"]["thread"] == "daily Europe/Berlin"

    out = run(
        "feeds", "set", url, "--channel", "C0THREAD", "--digest", "daily@18:30",
        DEVOPSBOT_TIMEZONE="America/New_York",
    ).output  # fmt: skip
    assert "posts: a digest daily at 18:30 (America/New_York)" in out
    found = rows(run)
    assert found["C0THREAD"]["digest"] == "daily@18:30 America/New_York"
    assert found["C0THREAD"]["thread"] is None  # a digest replaces the thread per day
    out = run("feeds", "set", url, "--channel", "C0THREAD", "--no-digest").output
    assert "posts: one message per entry" in out
    assert rows(run)["C0THREAD"]["digest"] is None


@pytest.mark.parametrize("schedule", ["every day", "daily@9", "weekly@mon", "daily@09:00 Nowhere"])
def test_an_invalid_schedule_is_refused_and_nothing_is_stored(run, feed_server, schedule):  # noqa: F811
    url = feed_server.serve("/ops.xml", rss([OLD]))
    bad = run("feeds", "add", url, "--channel", "C0OPS", "--digest", schedule, ok=False)
    assert bad.exit_code == 1
    assert "daily@HH:MM or weekly@DAY HH:MM" in bad.stderr or "IANA name" in bad.stderr
    assert "No feeds yet" in run("feeds", "list").output
    run("feeds", "add", url, "--channel", "C0OPS")
    bad = run("feeds", "set", url, "--digest", schedule, ok=False)
    assert bad.exit_code == 1 and rows(run)["C0OPS"]["digest"] is None
    both = run("feeds", "set", url, "--digest", "daily@09:00", "--no-digest", ok=False)
    assert both.exit_code == 2


def test_a_bad_default_time_zone_is_a_configuration_error(run):  # noqa: F811
    bad = run("feeds", "list", ok=False, DEVOPSBOT_TIMEZONE="Mars/Olympus")
    assert bad.exit_code == 1 and "DEVOPSBOT_TIMEZONE" in bad.stderr and "IANA" in bad.stderr


def test_opml_export_and_import_keep_digests_and_threads(run, feed_server, tmp_path):  # noqa: F811
    a = feed_server.serve("/a.xml", rss([OLD], title="Alpha"))
    b = feed_server.serve("/b.xml", rss([OLD], title="Beta"))
    run("feeds", "add", a, "--channel", "C0OPS", "--digest", "daily@09:00 Europe/Berlin")
    run("feeds", "add", b, "--channel", "C0OPS", "--thread", "daily")
    exported = run("feeds", "export").output
    assert 'devopsbot:digest="daily@09:00 Europe/Berlin"' in exported
    assert 'devopsbot:thread="daily UTC"' in exported
    path = tmp_path / "feeds.opml"
    path.write_text(exported)
    run("feeds", "remove", a)
    run("feeds", "remove", b)
    assert "Imported 2 of 2 feeds." in run("feeds", "import", str(path)).output
    listed = [json.loads(x) for x in run("feeds", "list", "--json").output.splitlines()]
    modes = {r["feed_title"]: (r["channel_id"], r["digest"], r["thread"]) for r in listed}
    assert modes == {
        "Alpha": ("C0OPS", "daily@09:00 Europe/Berlin", None),
        "Beta": ("C0OPS", None, "daily UTC"),
    }
    assert run("feeds", "export").output.split("<body>")[1] == exported.split("<body>")[1]

    # An outline whose schedule cannot be read is skipped, saying why; the others come in.
    path.write_text(exported.replace("daily@09:00 Europe/Berlin", "sometimes"))
    run("feeds", "remove", a)
    run("feeds", "remove", b)
    out = run("feeds", "import", str(path), ok=False)
    assert "Imported 1 of 2 feeds." in out.output
    assert f"skipped {a}:" in out.stderr and "is not a digest schedule" in out.stderr
