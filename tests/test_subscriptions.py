"""The subscription service: what the CLI and the Slack commands call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from feedkit import Bot, posted_title, posts_to, rss, rss_item, seed, with_new_item
from sqlalchemy import func, select

from bot.db.models import Article, Delivery, Feed, Source
from bot.subscriptions import (
    SubscriptionError,
    change_channel,
    change_subscription,
    export_opml,
    import_opml,
    list_subscriptions,
    pause,
    resume,
    unsubscribe,
)


@pytest.fixture
def bot(db_url, fake_slack):
    b = Bot.open(db_url, fake_slack.api_url)
    yield b
    b.close()


def _count(bot, model) -> int:
    with bot.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_subscribing_stores_and_indexes_the_feed_but_owes_nothing(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    result = bot.subscribe(url, "C0OPS", created_by="U123")
    view = result.subscription
    assert result.created and result.articles_indexed == 10 and result.backfilled == 0
    assert (view.feed_url, view.feed_title, view.channel_id) == (
        url,
        "E13 Capital & Technology Blog",
        "C0OPS",
    )
    assert view.status == "active" and view.articles_seen == 10
    assert view.consecutive_failures == 0 and view.last_error is None
    assert view.last_success_at is not None and view.next_check_at > view.last_success_at
    assert _count(bot, Delivery) == 0
    with bot.sessions() as session:
        answer = bot.runtime.answerer.ask(session, "kubernetes external traffic policy")
    assert answer.hits and answer.hits[0].chunk.url.startswith("https://e13.dev/blog/")


def test_subscribing_again_is_harmless(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    first = bot.subscribe(url, "C0OPS")
    again = bot.subscribe(f"<{url}|e13>", "C0OPS")  # as Slack sends a pasted link
    assert not again.created and again.subscription.id == first.subscription.id
    assert again.articles_indexed == 0
    assert len(feed_server.hits("/e13.xml")) == 1  # a known feed is not fetched again
    other = bot.subscribe(url, "C0OTHER")
    assert other.created and other.subscription.feed_id == first.subscription.feed_id
    assert not bot.subscribe(url, None).created  # already indexed through its channels
    assert _count(bot, Feed) == 1 and _count(bot, Article) == 10


def test_resubscribing_reactivates_a_paused_subscription(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0OPS")
    with bot.sessions.begin() as session:
        assert pause(session, url, "C0OPS").status == "paused"
    assert bot.subscribe(url, "C0OPS").subscription.status == "active"


def test_a_permanently_redirected_url_finds_the_known_feed(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0OPS")
    old = feed_server.serve("/old.xml", b"", status=301, headers={"Location": "/e13.xml"})
    result = bot.subscribe(old, "C0NEW")
    assert result.created and result.subscription.feed_url == url
    assert _count(bot, Feed) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": "#general"}, "not a Slack channel ID"),
        ({"backfill": 99}, "between 0 and 50"),
        ({"include": ["/([bad/"]}, "not a valid regular expression"),
        ({"channel": None, "backfill": 2}, "give a channel"),
        ({"url": "ftp://example.com/feed"}, "not an http(s) URL"),
        ({"url": "   "}, "Give the feed's URL"),
    ],
)
def test_bad_requests_are_refused_with_a_sentence(bot, feed_server, kwargs, message):
    kwargs = dict(kwargs)
    url = kwargs.pop("url", None) or feed_server.serve("/e13.xml", seed())
    channel = kwargs.pop("channel", "C0OPS")
    with pytest.raises(SubscriptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bot.subscribe(url.strip() or "   ", channel, **kwargs)
    assert _count(bot, Feed) == 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"<html><body>my blog</body></html>", 200, "HTML page that advertises no feed"),
        (b"nope", 404, "404"),
        (b"\x00garbage", 200, "not an RSS or Atom feed"),
    ],
)
def test_what_is_not_a_feed_stores_nothing(bot, feed_server, body, status, message):
    url = feed_server.serve("/x", body, status=status)
    with pytest.raises(SubscriptionError, match=message):
        bot.subscribe(url, "C0OPS")
    assert _count(bot, Source) == 0


def test_a_blog_page_is_followed_to_the_feed_it_advertises(bot, feed_server):
    feed = feed_server.serve("/blog/index.xml", seed())
    page = feed_server.serve(
        "/blog/",
        b'<html><head><link rel="alternate" type="application/rss+xml" href="index.xml">'
        b"</head><body>blog</body></html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    result = bot.subscribe(page, "C0OPS")
    assert result.created and result.discovered_from == page
    assert result.subscription.feed_url == feed and result.articles_indexed == 10
    again = bot.subscribe(page, "C0OPS")  # the page again: the same feed, nothing new
    assert not again.created and again.subscription.feed_url == feed
    assert _count(bot, Feed) == 1


def test_an_advertised_link_that_is_not_a_feed_is_not_followed_further(bot, feed_server):
    feed_server.serve("/other.html", b"<html><body>another page</body></html>")
    page = feed_server.serve(
        "/", b'<html><head><link rel="alternate" type="application/rss+xml" href="/other.html">'
    )
    with pytest.raises(SubscriptionError, match=r"other\.html is an HTML page"):
        bot.subscribe(page, "C0OPS")
    assert _count(bot, Source) == 0


def test_private_addresses_are_refused_before_any_request(fake_slack, feed_server, sqlite_url):
    strict = Bot.open(sqlite_url, fake_slack.api_url, devopsbot_allow_private_urls=False)
    url = feed_server.serve("/e13.xml", seed())
    with pytest.raises(SubscriptionError, match="DEVOPSBOT_ALLOW_PRIVATE_URLS"):
        strict.subscribe(url, "C0OPS")
    assert feed_server.requests == []
    strict.close()


def test_backfill_posts_the_newest_n_oldest_first(bot, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    result = bot.subscribe(url, "C0OPS", backfill=3)
    assert result.backfilled == 3
    bot.subscribe(url, "C0QUIET")  # another channel's subscription owes nothing
    bot.poll()
    titles = [posted_title(p) for p in posts_to(fake_slack, "C0OPS")]
    # The seed's three newest entries (2024-11-14, 2024-08-21, 2024-05-10), oldest first.
    assert titles == [
        "Kubernetes is your Operations Development Kit",
        "\"My Pod doesn't see the clients' IP addresses\": Kubernetes External Traffic Policy "
        "Caveats",
        "Software Is Still Eating the World",
    ]
    assert posts_to(fake_slack, "C0QUIET") == []
    assert bot.poll().delivery.posted == 0


def test_filters_keep_and_drop_the_right_items(bot, feed_server, fake_slack):
    day = datetime(2025, 3, 1, tzinfo=UTC)
    url = feed_server.serve("/ops.xml", rss([rss_item("Old", guid="old", published=day)]))
    bot.subscribe(url, "C0K8S", include=["kubernetes", "/terraform|opentofu/"], exclude=["webinar"])
    bot.subscribe(url, "C0ALL")
    items = [
        ("Kubernetes 1.32 released", (), ""),
        ("Weekly marketing update", (), "Nothing for ops"),
        ("Kubernetes webinar next week", (), ""),
        ("State locking done right", ("terraform",), ""),
        ("Cluster upgrades", (), "A Kubernetes upgrade story"),
    ]
    body = [
        rss_item(t, guid=f"i{n}", tags=tags, description=d, published=day + timedelta(hours=n + 1))
        for n, (t, tags, d) in enumerate(items)
    ]
    feed_server.serve(
        "/ops.xml", rss([*reversed(body), rss_item("Old", guid="old", published=day)])
    )
    bot.poll()
    kept = [posted_title(p) for p in posts_to(fake_slack, "C0K8S")]
    assert kept == ["Kubernetes 1.32 released", "State locking done right", "Cluster upgrades"]
    assert len(posts_to(fake_slack, "C0ALL")) == 5
    with bot.sessions() as session:
        states = dict(
            session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
        )
    assert states == {"posted": 8, "filtered": 2}
    with bot.sessions() as session:
        view = next(v for v in list_subscriptions(session, "C0K8S"))
    assert view.include == ("kubernetes", "/terraform|opentofu/") and view.exclude == ("webinar",)


def test_list_shows_health(bot, feed_server):
    good = feed_server.serve("/good.xml", seed())
    bad = feed_server.serve("/bad.xml", seed())
    bot.subscribe(good, "C0OPS")
    bot.subscribe(bad, None)
    bot.subscribe(bad, "C0OPS")
    feed_server.serve("/bad.xml", b"down", status=502)
    bot.poll()
    with bot.sessions() as session:
        views = list_subscriptions(session)
        assert [v.channel_id for v in list_subscriptions(session, "C0OPS")] == ["C0OPS"] * 2
    assert len(views) == 3
    broken = [v for v in views if v.feed_url == bad]
    assert all(v.consecutive_failures == 1 and "502" in v.last_error for v in broken)
    assert all(v.status == "active" for v in views)
    assert {v.articles_seen for v in views} == {10}


def test_pause_stops_announcing_and_resume_starts_again(bot, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    sub = bot.subscribe(url, "C0OPS").subscription
    with bot.sessions.begin() as session:
        paused = pause(session, url, "C0OPS")
    assert paused.status == "paused" and "resume" in paused.status_reason
    during = rss_item("While paused", link="/blog/p1", guid="p1")
    feed_server.serve("/e13.xml", with_new_item(seed(), during))
    report = bot.poll()
    assert report.new == 1 and fake_slack.posted() == []  # still polled and indexed, not posted
    with bot.sessions.begin() as session:
        assert resume(session, str(sub.id)).status == "active"
    after = rss_item("After resume", link="/blog/p2", guid="p2")
    feed_server.serve("/e13.xml", with_new_item(with_new_item(seed(), during), after))
    bot.poll()
    # What arrived while paused counts as seen (no flood on resume); what comes after is posted.
    assert [posted_title(p) for p in fake_slack.posted()] == ["After resume"]


def test_unsubscribing_the_last_channel_removes_the_feed_and_its_articles(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    one = bot.subscribe(url, "C0ONE").subscription
    bot.subscribe(url, "C0TWO")
    with bot.sessions.begin() as session:
        removed = unsubscribe(session, url, "C0ONE")
    assert removed.id == one.id and removed.channel_id == "C0ONE"
    assert _count(bot, Feed) == 1 and _count(bot, Article) == 10
    with bot.sessions.begin() as session:
        unsubscribe(session, url, "C0TWO")
    assert _count(bot, Feed) == 0 and _count(bot, Article) == 0
    with bot.sessions() as session:
        assert not bot.runtime.answerer.ask(session, "kubernetes external traffic policy").hits


def test_a_url_without_a_channel_acts_on_every_subscription(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0ONE")
    bot.subscribe(url, "C0TWO")
    with bot.sessions.begin() as session:
        pause(session, url)
        assert {v.status for v in list_subscriptions(session)} == {"paused"}
        resume(session, url)
        assert {v.status for v in list_subscriptions(session)} == {"active"}
        unsubscribe(session, url)
        assert list_subscriptions(session) == []


def test_refs_can_be_subscription_or_feed_ids(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    sub = bot.subscribe(url, "C0ONE").subscription
    with bot.sessions.begin() as session:
        assert pause(session, str(sub.id)).status == "paused"
        assert resume(session, str(sub.feed_id), "C0ONE").status == "active"


@pytest.mark.parametrize(
    ("ref", "channel", "message"),
    [
        ("https://nowhere.example/feed.xml", None, "No feed with the address"),
        ("999", None, "no subscription or feed with id 999"),
        ("", None, "Say which feed"),
    ],
)
def test_unknown_refs_are_a_sentence(bot, ref, channel, message):
    with bot.sessions.begin() as session, pytest.raises(SubscriptionError, match=message):
        unsubscribe(session, ref, channel)


def test_a_feed_not_subscribed_in_this_channel_says_so(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0ONE")
    with bot.sessions.begin() as session, pytest.raises(SubscriptionError, match="this channel"):
        pause(session, url, "C0TWO")


def test_opml_round_trips(bot, feed_server, tmp_path, fake_slack):
    urls = {
        name: feed_server.serve(f"/{name}", seed(name))
        for name in ("e13-dev.rss.xml", "shipit-dev.atom.xml", "analogous-dev.rss.xml")
    }
    for url in urls.values():
        bot.subscribe(url, "C0OPS")
    with bot.sessions() as session:
        document = export_opml(session)
    root = ET.fromstring(document)
    outlines = root.findall("./body/outline")
    assert root.get("version") == "2.0" and len(outlines) == 3
    assert {o.get("xmlUrl") for o in outlines} == set(urls.values())
    assert all(o.get("type") == "rss" and o.get("text") for o in outlines)
    assert any(o.get("htmlUrl") == "https://e13.dev/blog/" for o in outlines)

    fresh = Bot.open(f"sqlite:///{tmp_path / 'fresh.db'}", fake_slack.api_url)
    with fresh.sessions.begin() as session:
        imported = import_opml(session, document.encode(), fresh.settings, "C0NEW")
    assert [i.error for i in imported] == [None, None, None]
    with fresh.sessions() as session:
        again = export_opml(session)
        views = list_subscriptions(session)
    assert [(o.get("xmlUrl"), o.get("title")) for o in ET.fromstring(again).iter("outline")] == [
        (o.get("xmlUrl"), o.get("title")) for o in outlines
    ]
    assert {v.channel_id for v in views} == {"C0NEW"}
    fresh.close()


def _settings_of(views):
    return sorted(
        (v.feed_url, v.channel_id, v.include, v.exclude, v.unfurl, v.status) for v in views
    )


def test_an_export_imported_into_an_empty_store_restores_every_subscription(
    bot, feed_server, tmp_path, fake_slack
):
    e13 = feed_server.serve("/e13.xml", seed("e13-dev.rss.xml"))
    shipit = feed_server.serve("/shipit.xml", seed("shipit-dev.atom.xml"))
    indexed = feed_server.serve("/analogous.xml", seed("analogous-dev.rss.xml"))
    bot.subscribe(e13, "C0OPS", include=["kubernetes", "re:^K8s"], exclude=["sponsored"])
    bot.subscribe(e13, "C0SRE", unfurl=True)
    paused = bot.subscribe(shipit, "C0OPS", exclude=['quote " & <tag>'])
    bot.subscribe(indexed, None)
    with bot.sessions.begin() as session:
        pause(session, str(paused.subscription.id))
    with bot.sessions() as session:
        before = _settings_of(list_subscriptions(session))
        document = export_opml(session)

    fresh = Bot.open(f"sqlite:///{tmp_path / 'fresh.db'}", fake_slack.api_url)
    with fresh.sessions.begin() as session:
        imported = import_opml(session, document.encode(), fresh.settings)
    with fresh.sessions() as session:
        after = _settings_of(list_subscriptions(session))
    fresh.close()
    assert [i.error for i in imported] == [None] * 4
    assert after == before
    assert ("C0OPS" in {c for _, c, *_ in after}) and any(s == "paused" for *_, s in after)


def test_other_readers_see_plain_outlines_in_an_export(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0OPS", include=["kubernetes"])
    with bot.sessions() as session:
        document = export_opml(session)
    (outline,) = ET.fromstring(document).iter("outline")
    plain = {k: v for k, v in outline.attrib.items() if not k.startswith("{")}
    assert plain["xmlUrl"] == url and plain["type"] == "rss" and plain["text"]
    assert 'xmlns:devopsbot="urn:devopsbot:opml:1"' in document


def test_opml_import_reports_bad_feeds_and_keeps_the_good_ones(bot, feed_server):
    good = feed_server.serve("/e13.xml", seed())
    missing = feed_server.url("/missing.xml")
    opml = f"""<?xml version="1.0"?><opml version="1.0"><head><title>mine</title></head><body>
      <outline text="Tech"><outline text="E13" type="rss" xmlUrl="{good}"/>
      <outline text="Gone" type="rss" xmlurl="{missing}"/></outline>
      <outline text="dup" xmlUrl="{good}"/></body></opml>"""
    with bot.sessions.begin() as session:
        imported = import_opml(session, opml.encode(), bot.settings)
    assert [(i.url, i.result is not None) for i in imported] == [(good, True), (missing, False)]
    assert "404" in imported[1].error
    assert imported[0].result.subscription.channel_id is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<rss/>", "not an OPML file"),
        (b"not xml", "not a readable OPML file"),
        (b"<opml><body/></opml>", "lists no feeds"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opml>&a;</opml>',
            "entities",
        ),
    ],
)
def test_bad_opml_is_a_sentence(bot, data, message):
    with bot.sessions.begin() as session, pytest.raises(SubscriptionError, match=message):
        import_opml(session, data, bot.settings)


def test_changed_filters_decide_the_next_posts_and_keep_what_was_seen(bot, feed_server, fake_slack):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, "C0OPS")
    with bot.sessions.begin() as session:
        [view] = change_subscription(session, url, "C0OPS", include=["kubernetes"], unfurl=True)
    assert view.include == ("kubernetes",) and view.unfurl and view.articles_seen == 10
    feed = with_new_item(seed(), rss_item("Kubernetes 2.0 is out", guid="k2"))
    feed_server.serve("/e13.xml", with_new_item(feed, rss_item("Cooking with gas", guid="c1")))
    bot.poll()
    assert [posted_title(p) for p in posts_to(fake_slack, "C0OPS")] == ["Kubernetes 2.0 is out"]
    with bot.sessions.begin() as session:
        [cleared] = change_subscription(session, url, include=[])
    assert cleared.include == () and cleared.unfurl  # only what was given changed


def test_changing_needs_valid_filters_and_a_channel_for_them(bot, feed_server):
    url = feed_server.serve("/e13.xml", seed())
    bot.subscribe(url, None)
    with bot.sessions.begin() as session, pytest.raises(SubscriptionError, match="only indexed"):
        change_subscription(session, url, include=["kubernetes"])
    with bot.sessions.begin() as session, pytest.raises(SubscriptionError, match="Bad filter"):
        change_subscription(session, url, exclude=["re:("])


def test_a_whole_channel_is_paused_resumed_and_emptied_at_once(bot, feed_server):
    urls = [feed_server.serve(f"/{n}", seed(n)) for n in ("e13-dev.rss.xml", "shipit-dev.atom.xml")]
    for url in urls:
        bot.subscribe(url, "C0OPS")
    bot.subscribe(urls[0], "C0OTHER")
    with bot.sessions.begin() as session:
        assert len(change_channel(session, "pause", "C0OPS")) == 2
    with bot.sessions() as session:
        status = {(v.feed_url, v.channel_id): v.status for v in list_subscriptions(session)}
    assert status[(urls[0], "C0OTHER")] == "active"
    assert {status[(u, "C0OPS")] for u in urls} == {"paused"}
    with bot.sessions.begin() as session:
        assert len(change_channel(session, "unsubscribe", "C0OPS")) == 2
    with bot.sessions() as session:
        assert [v.channel_id for v in list_subscriptions(session)] == ["C0OTHER"]
        assert change_channel(session, "resume", "C0EMPTY") == []
