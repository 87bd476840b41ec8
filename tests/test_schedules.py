"""Digest schedules and thread modes as values: parsing, canonical form, when one is due."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.schedules import ScheduleError, parse_schedule, parse_thread, thread_day


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("daily@09:00", "daily@09:00 UTC"),
        ("Daily@9:05", "daily@09:05 UTC"),
        ("weekly@mon 09:00", "weekly@mon 09:00 UTC"),
        ("weekly@Friday 17:30 Europe/Berlin", "weekly@fri 17:30 Europe/Berlin"),
        ("weekly@sun@08:00", "weekly@sun 08:00 UTC"),
        ("daily@09:00   America/New_York", "daily@09:00 America/New_York"),
    ],
)
def test_schedules_are_stored_in_canonical_form_naming_their_zone(typed, stored):
    assert parse_schedule(typed).spec == stored
    assert parse_schedule(stored).spec == stored  # the stored form reads back the same


def test_a_schedule_without_a_zone_takes_the_default_one():
    assert parse_schedule("daily@07:00", "Asia/Tokyo").spec == "daily@07:00 Asia/Tokyo"
    assert parse_thread("daily", "Europe/Berlin") == "daily Europe/Berlin"
    assert parse_schedule("off") is None and parse_thread("OFF") is None


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("hourly", "is not a digest schedule. Use daily@HH:MM or weekly@DAY HH:MM"),
        ("daily@24:00", "is not a time of day"),
        ("weekly@funday 09:00", "is not a day of the week (mon…sun)"),
        ("daily@09:00 Europe/Nowhere", "is not a time zone; use an IANA name"),
        ("daily@09:00 ../../etc/passwd", "is not a time zone"),
    ],
)
def test_bad_schedules_say_what_is_accepted(typed, says):
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(typed)
    assert says in str(raised.value)
    with pytest.raises(ScheduleError, match=r"is not a thread mode\. Use daily"):
        parse_thread("weekly")


def test_berlin_nine_is_eight_utc_in_winter_and_seven_in_summer():
    schedule = parse_schedule("daily@09:00 Europe/Berlin")
    winter = schedule.last_due(datetime(2027, 1, 12, 12, 0, tzinfo=UTC))
    summer = schedule.last_due(datetime(2027, 7, 12, 12, 0, tzinfo=UTC))
    assert winter.astimezone(UTC) == datetime(2027, 1, 12, 8, 0, tzinfo=UTC)
    assert summer.astimezone(UTC) == datetime(2027, 7, 12, 7, 0, tzinfo=UTC)
    # Before 09:00 local the latest one is yesterday's; the next one is today's.
    early = datetime(2027, 1, 12, 7, 59, tzinfo=UTC)
    assert schedule.last_due(early).astimezone(UTC) == datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    assert schedule.next_due(early).astimezone(UTC) == datetime(2027, 1, 12, 8, 0, tzinfo=UTC)


def test_a_weekly_schedule_is_due_on_its_weekday_only():
    schedule = parse_schedule("weekly@mon 09:00")
    wednesday = datetime(2027, 1, 13, 12, 0, tzinfo=UTC)
    assert schedule.last_due(wednesday) == datetime(2027, 1, 11, 9, 0, tzinfo=UTC)  # Monday
    assert schedule.next_due(wednesday) == datetime(2027, 1, 18, 9, 0, tzinfo=UTC)
    monday_nine = datetime(2027, 1, 18, 9, 0, tzinfo=UTC)
    assert schedule.last_due(monday_nine) == monday_nine  # due at its very moment


def test_a_thread_day_is_the_date_in_its_zone():
    late_utc = datetime(2027, 1, 12, 23, 30, tzinfo=UTC)
    assert thread_day("daily UTC", late_utc) == "2027-01-12"
    assert thread_day("daily Europe/Berlin", late_utc) == "2027-01-13"  # already tomorrow there
    assert thread_day(None, late_utc) is None
