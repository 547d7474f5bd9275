"""Time-of-day / day-of-week profiles: *when* a rate applies (peak, off-peak, weekend).

A profile is written as text, stored beside the rate (``rates.profile``) and parsed once when a
rate book is built. The format, one or more windows separated by ``;``::

    [days] [HH:MM-HH:MM]

* ``days``: comma-separated English three-letter day names or ranges, case-insensitive:
  ``mon-fri``, ``sat,sun``, ``mon,wed-fri``. A range may wrap the week (``fri-mon`` is Friday
  to Monday). Omitted: every day.
* ``HH:MM-HH:MM``: a wall-clock window, start included, end excluded. ``24:00`` is allowed as
  an end (``00:00-24:00`` is the whole day). A window whose end is before its start wraps
  midnight (``22:00-06:00``); its days name the day the window *starts* (``fri 22:00-06:00``
  is Friday 22:00 to Saturday 06:00). Omitted: the whole day.
* at least one of the two must be present in each window.

Examples: ``mon-fri 08:00-18:00`` (peak), ``mon-fri 18:00-08:00; sat,sun`` (off-peak),
``sat 00:00-24:00``.

Why minute-of-week intervals: every profile, however written, becomes a sorted tuple of
disjoint ``[start, end)`` intervals over the 10,080 minutes of a week. ``matches`` is then one
binary search and ``next_change`` (the next instant the answer may flip, which the split
time-of-day mode cuts calls at) is one more, with no calendar arithmetic per call.

Profiles work on *wall-clock* fields (weekday, hour, minute) of the datetime they are given and
ignore its tzinfo: the rate book converts instants to its zone before asking, and converts the
wall-clock answer of ``next_change`` back to an instant, handling DST there.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["DAY_NAMES", "Profile", "parse_profile"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Accepted day names, in ``datetime.weekday()`` order (Monday is 0)."""

_DAY = 1440  # minutes in a day
_WEEK = 7 * _DAY
_TIME_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY_HELP = "use mon, tue, wed, thu, fri, sat, sun, lists (sat,sun) or ranges (mon-fri)"


@dataclass(frozen=True)
class Profile:
    """A parsed profile: its text as written and its disjoint minute-of-week intervals.

    Build one with :func:`parse_profile`; the constructor trusts its arguments."""

    text: str
    intervals: tuple[tuple[int, int], ...] = field(repr=False)
    """Sorted disjoint ``[start, end)`` minute-of-week intervals (Monday 00:00 is minute 0)."""
    boundaries: tuple[int, ...] = field(repr=False, compare=False)
    """Minutes of the week where the match result flips, sorted; empty when it never does."""

    def matches(self, local: datetime) -> bool:
        """Whether the wall-clock time ``local`` (in the rate table's zone) is inside."""
        minute = local.weekday() * _DAY + local.hour * 60 + local.minute
        intervals = self.intervals
        index = bisect_right(intervals, (minute, _WEEK + 1)) - 1
        return index >= 0 and minute < intervals[index][1]

    def next_change(self, local: datetime) -> datetime | None:
        """The next wall-clock time after ``local`` at which :meth:`matches` may change.

        Returned with ``local``'s tzinfo (wall-clock arithmetic); None when the profile covers
        the whole week or nothing, so its answer never changes."""
        boundaries = self.boundaries
        if not boundaries:
            return None
        minute = local.weekday() * _DAY + local.hour * 60 + local.minute
        index = bisect_right(boundaries, minute)
        target = boundaries[index] if index < len(boundaries) else boundaries[0] + _WEEK
        start_of_minute = local.replace(second=0, microsecond=0)
        return start_of_minute + timedelta(minutes=target - minute)

    def __str__(self) -> str:
        return self.text


def parse_profile(text: str) -> Profile:
    """Parse the profile syntax of this module's docstring.

    Raises ValueError with a message saying what to fix; empty text is an error too (a rate
    that applies at any time has no profile: the caller uses None)."""
    stripped = text.strip()
    if not stripped:
        raise ValueError(
            "empty time profile: leave the profile out for 'any time', "
            "or write windows like 'mon-fri 08:00-18:00'"
        )
    raw: list[tuple[int, int]] = []
    windows = [part.strip() for part in stripped.split(";")]
    if not any(windows):
        raise ValueError(f"time profile {text!r} has no window: write e.g. 'mon-fri 08:00-18:00'")
    for window in windows:
        if window:
            raw.extend(_window_intervals(window))
    intervals = _merge(raw)
    return Profile(text=stripped, intervals=intervals, boundaries=_boundaries(intervals))


def _window_intervals(window: str) -> list[tuple[int, int]]:
    lowered = window.lower()
    found = _TIME_RANGE.search(lowered)
    if found is not None:
        days_text = lowered[: found.start()]
        start, end = _time_range(window, found)
    else:
        days_text = lowered
        start, end = 0, _DAY
    days_text = re.sub(r"\s+", "", days_text)
    if any(char.isdigit() for char in days_text):
        raise ValueError(
            f"window {window!r}: write the days first, then one time range: "
            "'[days] [HH:MM-HH:MM]', e.g. 'mon-fri 08:00-18:00'"
        )
    days = _days(window, days_text) if days_text else tuple(range(7))
    intervals: list[tuple[int, int]] = []
    for day in days:
        base = day * _DAY
        if start < end:
            intervals.append((base + start, base + end))
        else:  # wraps midnight: the rest of this day, then the morning of the next
            intervals.append((base + start, base + _DAY))
            next_base = ((day + 1) % 7) * _DAY
            if end:
                intervals.append((next_base, next_base + end))
    return intervals


def _time_range(window: str, found: re.Match[str]) -> tuple[int, int]:
    start_h, start_m, end_h, end_m = (int(group) for group in found.groups())
    for hour, minute, is_end in ((start_h, start_m, False), (end_h, end_m, True)):
        if minute > 59 or hour > 24 or (hour == 24 and (minute or not is_end)):
            raise ValueError(
                f"bad time {hour:02d}:{minute:02d} in window {window!r}: use HH:MM from 00:00 "
                "to 23:59 (24:00 only as the end of a window)"
            )
    start = start_h * 60 + start_m
    end = end_h * 60 + end_m
    if start == end:
        raise ValueError(
            f"window {window!r} is empty (start equals end): use 00:00-24:00 for a whole day"
        )
    if end == _DAY:
        return start, _DAY
    return start, end


def _days(window: str, days_text: str) -> tuple[int, ...]:
    chosen: list[int] = []
    for item in days_text.split(","):
        if not item:
            raise ValueError(f"empty day in window {window!r}: {_DAY_HELP}")
        first, sep, last = item.partition("-")
        begin = _day(window, first)
        if not sep:
            chosen.append(begin)
            continue
        finish = _day(window, last)
        day = begin
        chosen.append(day)
        while day != finish:  # a range may wrap the week: fri-mon
            day = (day + 1) % 7
            chosen.append(day)
    return tuple(sorted(set(chosen)))


def _day(window: str, name: str) -> int:
    try:
        return DAY_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown day {name!r} in window {window!r}: {_DAY_HELP}") from None


def _merge(raw: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(raw):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _boundaries(intervals: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """Minutes of the week where membership flips (the week wraps: Sunday 24:00 is Monday
    00:00, so an interval ending there and one starting at 0 make no boundary)."""

    def inside(minute: int) -> bool:
        return any(start <= minute < end for start, end in intervals)

    points = {start % _WEEK for start, _ in intervals} | {end % _WEEK for _, end in intervals}
    return tuple(sorted(point for point in points if inside(point) != inside((point - 1) % _WEEK)))
