"""Digest schedules and daily threads as values: parsing, canonical form, when one is due. Pure.

A digest schedule is `daily@HH:MM` or `weekly@DAY HH:MM`, optionally followed by an IANA time
zone; a thread mode is `daily`, optionally with a time zone. What is stored always names its
zone (the default one filled in when the user gave none), so a stored schedule means the same
thing wherever it is read, and an OPML export restores it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: i for i, name in enumerate(DAYS)} | {
    full: i
    for i, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_DAILY = re.compile(r"^daily\s*@\s*(\d{1,2}):(\d{2})(?:\s+(\S+))?$", re.I)
_WEEKLY = re.compile(r"^weekly\s*@\s*([a-z]+)[\s@,]+(\d{1,2}):(\d{2})(?:\s+(\S+))?$", re.I)
_THREAD = re.compile(r"^daily(?:\s+(\S+))?$", re.I)
OFF = frozenset({"", "off", "none", "no"})

SCHEDULE_FORMS = (
    "daily@HH:MM or weekly@DAY HH:MM (DAY is mon…sun, 24-hour time), optionally followed by a "
    "time zone such as Europe/Berlin; `off` turns the digest off"
)
THREAD_FORMS = "daily, optionally followed by a time zone such as Europe/Berlin; `off` turns it off"


class ScheduleError(ValueError):
    """A schedule or thread mode that cannot be read; the message names the accepted forms."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; a ScheduleError naming the problem when there is none."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{name[:80]!r} is not a time zone; use an IANA name such as Europe/Berlin or UTC."
        ) from None


@dataclass(frozen=True)
class Schedule:
    """When a digest is posted: every day, or one weekday, at hour:minute in `tz`."""

    hour: int
    minute: int
    tz: str
    weekday: int | None = None  # 0 = Monday; None: daily

    @property
    def spec(self) -> str:
        """The canonical stored form: `daily@09:00 UTC`, `weekly@mon 09:00 Europe/Berlin`."""
        at = f"{self.hour:02d}:{self.minute:02d}"
        if self.weekday is None:
            return f"daily@{at} {self.tz}"
        return f"weekly@{DAYS[self.weekday]} {at} {self.tz}"

    def describe(self) -> str:
        """In words: `daily at 09:00 (Europe/Berlin)`."""
        at = f"{self.hour:02d}:{self.minute:02d}"
        when = "daily" if self.weekday is None else f"every {DAYS[self.weekday].title()}"
        return f"{when} at {at} ({self.tz})"

    def last_due(self, now: datetime) -> datetime:
        """The latest scheduled moment at or before `now` (aware, in `tz`)."""
        tz = ZoneInfo(self.tz)
        local = now.astimezone(tz)
        day = local.date()
        for _ in range(8):
            if self.weekday is None or day.weekday() == self.weekday:
                moment = self._at(day, tz)
                if moment <= now:
                    return moment
            day -= timedelta(days=1)
        raise AssertionError("a weekly schedule repeats within 8 days")  # pragma: no cover

    def next_due(self, now: datetime) -> datetime:
        """The first scheduled moment after `now` (aware, in `tz`)."""
        tz = ZoneInfo(self.tz)
        day = now.astimezone(tz).date()
        for _ in range(9):
            if self.weekday is None or day.weekday() == self.weekday:
                moment = self._at(day, tz)
                if moment > now:
                    return moment
            day += timedelta(days=1)
        raise AssertionError("a weekly schedule repeats within 8 days")  # pragma: no cover

    def _at(self, day: date, tz: ZoneInfo) -> datetime:
        # A time skipped by a DST change (02:30 on spring-forward day) lands an hour later;
        # a repeated one (autumn) means its first occurrence.
        return datetime.combine(day, time(self.hour, self.minute), tzinfo=tz)


def _time(hour: str, minute: str, text: str) -> tuple[int, int]:
    h, m = int(hour), int(minute)
    if h > 23 or m > 59:
        raise ScheduleError(f"{text[:80]!r} is not a time of day. Use {SCHEDULE_FORMS}.")
    return h, m


def parse_schedule(text: str, default_tz: str = "UTC") -> Schedule | None:
    """A digest schedule from what a user typed (None: `off`); a ScheduleError otherwise."""
    text = " ".join((text or "").split())
    if text.lower() in OFF:
        return None
    daily = _DAILY.match(text)
    if daily:
        hour, minute = _time(daily.group(1), daily.group(2), text)
        tz = daily.group(3) or default_tz
        zone(tz)
        return Schedule(hour, minute, tz)
    weekly = _WEEKLY.match(text)
    if weekly:
        day = _DAY_NAMES.get(weekly.group(1).lower())
        if day is None:
            day_text = weekly.group(1)[:20]
            raise ScheduleError(
                f"{day_text!r} is not a day of the week (mon…sun). Use {SCHEDULE_FORMS}."
            )
        hour, minute = _time(weekly.group(2), weekly.group(3), text)
        tz = weekly.group(4) or default_tz
        zone(tz)
        return Schedule(hour, minute, tz, day)
    raise ScheduleError(f"{text[:80]!r} is not a digest schedule. Use {SCHEDULE_FORMS}.")


def parse_thread(text: str, default_tz: str = "UTC") -> str | None:
    """A thread mode's canonical form (`daily Europe/Berlin`; None: `off`)."""
    text = " ".join((text or "").split())
    if text.lower() in OFF:
        return None
    match = _THREAD.match(text)
    if not match:
        raise ScheduleError(f"{text[:80]!r} is not a thread mode. Use {THREAD_FORMS}.")
    tz = match.group(1) or default_tz
    zone(tz)
    return f"daily {tz}"


def stored_schedule(spec: str | None) -> Schedule | None:
    """A stored (canonical) schedule back as a value; None for none or one no longer readable."""
    if not spec:
        return None
    try:
        return parse_schedule(spec)
    except ScheduleError:
        return None


def thread_zone(spec: str | None) -> str | None:
    """The time zone of a stored thread mode (`daily Europe/Berlin`), None without one."""
    if not spec:
        return None
    return spec.split()[-1] if " " in spec else "UTC"


def thread_day(spec: str | None, now: datetime) -> str | None:
    """The day (YYYY-MM-DD in the thread mode's zone) whose thread a post of `now` goes in."""
    tz = thread_zone(spec)
    if tz is None:
        return None
    try:
        return now.astimezone(ZoneInfo(tz)).date().isoformat()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date().isoformat()


def describe_thread(spec: str | None) -> str | None:
    """In words: `a thread per day (Europe/Berlin)`."""
    tz = thread_zone(spec)
    return None if tz is None else f"a thread per day ({tz})"
