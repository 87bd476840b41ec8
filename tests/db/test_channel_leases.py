"""Channel leases on a real store: one owner at a time, handed back, lapsing after a crash."""

from __future__ import annotations

from datetime import timedelta

from bot.db.channel_leases import (
    CHANNEL_LEASE,
    keep_channel,
    posted_in_channel,
    release_channels,
    take_channel,
)
from bot.db.models import utcnow


def test_one_owner_at_a_time_then_the_next_paces_from_the_last_post(sessions):
    now = utcnow()
    with sessions.begin() as s:
        assert take_channel(s, "C1", "replica-a", now).owned
    with sessions.begin() as s:
        assert not take_channel(s, "C1", "replica-b", now).owned  # A holds it
        assert take_channel(s, "C2", "replica-b", now).owned  # other channels are free
        assert take_channel(s, "C1", "replica-a", now).owned  # the owner renews
        posted_in_channel(s, "C1", "replica-a", now)
        posted_in_channel(s, "C1", "replica-b", now + timedelta(seconds=5))  # not the owner
    with sessions.begin() as s:
        release_channels(s, {"C1"}, "replica-a", now)
    with sessions.begin() as s:
        turn = take_channel(s, "C1", "replica-b", now)
    assert turn.owned and turn.last_post_at == now


def test_a_dead_owners_lease_lapses(sessions):
    now = utcnow()
    with sessions.begin() as s:
        assert take_channel(s, "C1", "crashed", now).owned
    with sessions.begin() as s:
        assert not take_channel(s, "C1", "survivor", now + CHANNEL_LEASE / 2).owned
        assert take_channel(s, "C1", "survivor", now + CHANNEL_LEASE).owned


def test_releasing_leaves_others_leases_alone(sessions):
    now = utcnow()
    with sessions.begin() as s:
        take_channel(s, "C1", "replica-a", now)
        release_channels(s, {"C1"}, "replica-b", now)
    with sessions.begin() as s:
        assert not take_channel(s, "C1", "replica-b", now).owned


def test_only_the_owner_renews_and_not_after_losing_the_channel(sessions):
    now = utcnow()
    with sessions.begin() as s:
        assert take_channel(s, "C1", "replica-a", now).owned
        assert keep_channel(s, "C1", "replica-a", now)
        assert not keep_channel(s, "C1", "replica-b", now)
    with sessions.begin() as s:  # A stalled past its lease and B took the channel
        assert take_channel(s, "C1", "replica-b", now + CHANNEL_LEASE).owned
        assert not keep_channel(s, "C1", "replica-a", now + CHANNEL_LEASE)
