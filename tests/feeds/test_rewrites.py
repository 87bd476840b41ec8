"""Entry identity survives URL rewrites: a site moving to https, adding `www.` or a trailing slash,
or changing its guid scheme announces nothing again, and news in the same poll still goes out.

Through the real pipeline: a loopback feed server, the store on SQLite and PostgreSQL, and the
fake Slack Web API receiving the announcements.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from feedkit import Bot, posted_title, posts_to, rss, rss_item
from sqlalchemy import select

from bot.db.models import Article

DAY = datetime(2025, 3, 1, tzinfo=UTC)
CHANNEL = "C0OPS"


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


def items(count: int = 12, guid: str = "{link}", link: str = "http://ops.example/posts/{n}"):
    """`count` entries, newest first; `guid` and `link` are patterns of n (and of the link)."""
    out = []
    for n in range(count, 0, -1):
        url = link.format(n=n)
        out.append(
            rss_item(
                f"Post {n}",
                link=url,
                guid=guid.format(n=n, link=url),
                description=f"Body of post {n}",
                published=DAY + timedelta(days=n),
            )
        )
    return out


def stored(bot: Bot) -> dict[str, tuple[str, str | None]]:
    """Title → (entry key, url) of every stored article."""
    with bot.sessions() as session:
        rows = session.execute(select(Article.title, Article.entry_key, Article.url)).all()
    return {title: (key, url) for title, key, url in rows}


def test_an_http_to_https_guid_migration_posts_nothing(bot, feed_server, fake_slack):
    url = feed_server.serve("/ops.xml", rss(items()))
    bot.subscribe(url, CHANNEL)
    feed_server.serve("/ops.xml", rss(items(link="https://ops.example/posts/{n}")))
    report = bot.poll()
    assert report.new == 0 and fake_slack.posted() == []
    # The links moved: stored articles (and the answers linking to them) follow, not reposted.
    assert report.outcomes[0].edited == 12
    assert stored(bot)["Post 3"][1] == "https://ops.example/posts/3"
    assert bot.poll().new == 0 and fake_slack.posted() == []


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("https://ops.example/posts/{n}", "https://www.ops.example/posts/{n}"),
        ("https://www.ops.example/posts/{n}", "https://ops.example/posts/{n}"),
        ("https://ops.example/posts/{n}", "https://ops.example/posts/{n}/"),
        ("https://ops.example/posts/{n}/", "https://ops.example/posts/{n}"),
        ("http://ops.example/posts/{n}/", "https://www.ops.example/posts/{n}"),
    ],
)
def test_www_and_trailing_slash_variants_post_nothing(bot, feed_server, fake_slack, before, after):
    # Half the feeds identify entries by a guid that is their link, half only by the link.
    url = feed_server.serve("/guid.xml", rss(items(link=before)))
    bare = feed_server.serve("/bare.xml", rss(items(guid="", link=before)))
    bot.subscribe(url, CHANNEL)
    bot.subscribe(bare, CHANNEL)
    feed_server.serve("/guid.xml", rss(items(link=after)))
    feed_server.serve("/bare.xml", rss(items(guid="", link=after)))
    assert bot.poll().new == 0
    assert bot.poll().new == 0
    assert fake_slack.posted() == []


def test_a_guid_rewrite_with_one_new_entry_posts_exactly_that_entry(bot, feed_server, fake_slack):
    # The CMS changed its guid scheme (opaque ids → permalinks) and moved to https at once;
    # only the links still say which stored entry each one is.
    url = feed_server.serve("/ops.xml", rss(items(guid="ops-{n}")))
    bot.subscribe(url, CHANNEL)
    rewritten = items(guid="https://ops.example/p/{n}", link="https://ops.example/posts/{n}")
    news = rss_item(
        "Post 13",
        link="https://ops.example/posts/13",
        guid="https://ops.example/p/13",
        published=DAY + timedelta(days=13),
    )
    feed_server.serve("/ops.xml", rss([news, *rewritten]))
    report = bot.poll()
    (outcome,) = report.outcomes
    assert report.new == 1 and outcome.rewritten == 12
    assert [posted_title(p) for p in posts_to(fake_slack, CHANNEL)] == ["Post 13"]
    # The stored identity is the new one, so the next poll sees nothing new either.
    assert stored(bot)["Post 5"] == ("https://ops.example/p/5", "https://ops.example/posts/5")
    report = bot.poll()
    assert report.new == 0 and report.outcomes[0].rewritten == 0
    assert len(fake_slack.posted()) == 1


def test_a_guid_rewrite_that_also_edits_an_entry_posts_nothing(bot, feed_server, fake_slack):
    url = feed_server.serve("/ops.xml", rss(items(count=4, guid="ops-{n}")))
    bot.subscribe(url, CHANNEL)
    changed = items(count=4, guid="https://ops.example/p/{n}")
    changed[0] = changed[0].replace("Body of post 4", "Body of post 4, now with a rollback plan")
    feed_server.serve("/ops.xml", rss(changed))
    report = bot.poll()
    assert report.new == 0 and report.outcomes[0].rewritten == 4
    assert report.outcomes[0].edited == 1 and fake_slack.posted() == []
    with bot.sessions() as session:
        result = bot.runtime.answerer.ask(session, "rollback plan")
    assert result.hits[0].chunk.title == "Post 4"


def test_new_entries_sharing_one_link_are_still_news(bot, feed_server, fake_slack):
    # A status page: every incident links to the same page, so a link is no identity there.
    page = "https://status.example/"
    url = feed_server.serve("/status.xml", rss(items(count=3, guid="inc-{n}", link=page)))
    bot.subscribe(url, CHANNEL)
    incidents = items(count=9, guid="inc-{n}", link=page)
    feed_server.serve("/status.xml", rss(incidents))
    assert bot.poll().new == 6
    assert len(posts_to(fake_slack, CHANNEL)) == 6


def test_one_new_entry_reusing_a_stored_link_is_news_not_a_rewrite(bot, feed_server, fake_slack):
    # A weekly digest published at one address: this week's issue is a new guid at last week's
    # link. One entry of many is not a rewrite, so it is announced.
    url = feed_server.serve("/digest.xml", rss(items(count=5, guid="issue-{n}")))
    bot.subscribe(url, CHANNEL)
    issue = rss_item(
        "Issue 6", link="http://ops.example/posts/5", guid="issue-6", published=DAY + timedelta(6)
    )
    feed_server.serve("/digest.xml", rss([issue, *items(count=4, guid="issue-{n}")]))
    report = bot.poll()
    assert report.new == 1 and report.outcomes[0].rewritten == 0
    assert [posted_title(p) for p in fake_slack.posted()] == ["Issue 6"]
