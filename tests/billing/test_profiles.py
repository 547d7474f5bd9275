"""Time-of-day profiles (``softswitch.billing.profiles``): syntax, matching, the next change,
errors that say what to fix, and a brute-force cross-check over generated profiles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.billing import DAY_NAMES, parse_profile

# 2024-07-01 is a Monday; day(0) is that Monday, day(6) the Sunday after.


def day(offset: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 7, 1 + offset, hour, minute, second)


MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        # Oracle BRM "Rating by Date and Time with Pipeline Manager" (docs.oracle.com): time
        # periods "Weekdays (Mon.-Fri.) 08:00 - 17:00" (peak), "17:00 - 22:00", "22:00 - 08:00"
        # and "Weekends ... 00:00-24:00".
        (
            "mon-fri 08:00-17:00",
            [day(MON, 8), day(FRI, 16, 59, 59), day(WED, 12)],
            [day(MON, 7, 59), day(MON, 17), day(SAT, 12), day(SUN, 9)],
        ),
        (
            "mon-fri 22:00-08:00",  # wraps midnight: the days name the day the window starts
            [day(MON, 22), day(TUE, 7, 59), day(FRI, 23), day(SAT, 7, 59)],
            [day(MON, 7, 59), day(MON, 8), day(MON, 21, 59), day(SAT, 22), day(SUN, 23)],
        ),
        (
            "sat,sun 00:00-24:00",
            [day(SAT, 0), day(SUN, 23, 59, 59)],
            [day(FRI, 23, 59, 59), day(MON, 0)],
        ),
        ("sat,sun", [day(SAT, 12), day(SUN, 0)], [day(FRI, 12), day(MON, 0)]),  # days only
        ("18:00-08:00", [day(TUE, 18), day(WED, 3)], [day(TUE, 12), day(THU, 8)]),  # time only
        (
            "mon,wed-fri 09:00-12:00",
            [day(MON, 9), day(WED, 11), day(FRI, 11, 59)],
            [day(TUE, 10), day(SAT, 10), day(THU, 12)],
        ),
        ("fri-mon", [day(FRI, 1), day(SAT, 1), day(SUN, 1), day(MON, 1)], [day(TUE, 1)]),
        (
            "MON-Fri 18:00-24:00; Sat,SUN",  # case-insensitive, several windows
            [day(MON, 18), day(FRI, 23, 59), day(SAT, 10)],
            [day(MON, 17, 59), day(TUE, 0)],
        ),
        ("sun 22:00-02:00", [day(SUN, 23), day(MON + 7, 1)], [day(TUE, 1), day(SAT, 23)]),
        ("  mon ,  tue   7:30 - 9:00 ", [day(MON, 7, 30), day(TUE, 8)], [day(WED, 8)]),
    ],
)
def test_matches(text: str, inside: list[datetime], outside: list[datetime]) -> None:
    profile = parse_profile(text)
    for when in inside:
        assert profile.matches(when), when
    for when in outside:
        assert not profile.matches(when), when


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("mon-fri 08:00-18:00", day(MON, 17, 59, 30), day(MON, 18)),
        ("mon-fri 08:00-18:00", day(MON, 18), day(TUE, 8)),
        ("mon-fri 08:00-18:00", day(FRI, 18), day(MON + 7, 8)),  # over the weekend
        ("mon-fri 08:00-18:00", day(SUN, 23, 59, 59), day(MON + 7, 8)),
        ("sat,sun", day(FRI, 12), day(SAT, 0)),
        ("sat,sun", day(SUN, 12), day(MON + 7, 0)),
        ("22:00-06:00", day(TUE, 23), day(WED, 6)),
        ("mon-fri 08:00-12:00; mon-fri 12:00-18:00", day(MON, 9), day(MON, 18)),  # merged
        ("00:00-24:00", day(MON, 9), None),  # never changes
        ("mon-sun", day(THU, 9), None),
        ("sun 18:00-24:00; mon 00:00-06:00", day(SUN, 19), day(MON + 7, 6)),  # no Monday 00:00 cut
    ],
)
def test_next_change(text: str, now: datetime, expected: datetime | None) -> None:
    assert parse_profile(text).next_change(now) == expected


def test_next_change_keeps_the_tzinfo_and_works_on_wall_clock() -> None:
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    now = datetime(2024, 7, 1, 17, 59, 30, tzinfo=london)
    assert parse_profile("mon-fri 08:00-18:00").next_change(now) == datetime(
        2024, 7, 1, 18, tzinfo=london
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "leave the profile out"),
        ("   ", "leave the profile out"),
        (";", "no window"),
        ("xyz", "unknown day 'xyz'.*mon, tue, wed, thu, fri, sat, sun"),
        ("mon-fry 08:00-18:00", "unknown day 'fry'"),
        ("monday", "unknown day 'monday'"),
        ("mon,,tue", "empty day"),
        ("25:00-26:00", "bad time 25:00.*00:00 to 23:59"),
        ("08:60-09:00", "bad time 08:60"),
        ("24:00-06:00", "24:00 only as the end"),
        ("08:00-08:00", "empty.*00:00-24:00"),
        ("08:00-18:00 mon", "days first"),
        ("mon 08:00-12:00 14:00-18:00", "days first"),
        ("mon 8-18", "days first"),
    ],
)
def test_errors_say_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_profile(text)


def test_text_is_kept_and_equal_profiles_compare_equal() -> None:
    profile = parse_profile("  mon-fri 08:00-18:00 ")
    assert profile.text == "mon-fri 08:00-18:00"
    assert str(profile) == "mon-fri 08:00-18:00"
    assert profile == parse_profile("mon-fri 08:00-18:00")
    assert hash(profile) == hash(parse_profile("mon-fri 08:00-18:00"))
    assert profile != parse_profile("mon-fri 08:00-17:00")


# --- cross-check against a brute-force reading of the windows ------------------------------


@st.composite
def windows(draw: st.DrawFn) -> tuple[str, set[int] | None, tuple[int, int] | None]:
    """A window's text, its day set (None: every day) and minutes (None: whole day)."""
    days: set[int] | None = None
    day_text = ""
    if draw(st.booleans()):
        chosen = draw(st.lists(st.integers(0, 6), min_size=1, max_size=3, unique=True))
        days = set(chosen)
        day_text = ",".join(DAY_NAMES[d] for d in chosen)
    span: tuple[int, int] | None = None
    time_text = ""
    if days is None or draw(st.booleans()):
        start = draw(st.integers(0, 24 * 60 - 1))
        end = draw(st.integers(1, 24 * 60).filter(lambda e: e != start))
        span = (start, end)
        time_text = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    return f"{day_text} {time_text}".strip(), days, span


def brute_force(
    spec: list[tuple[str, set[int] | None, tuple[int, int] | None]], when: datetime
) -> bool:
    minute = when.hour * 60 + when.minute
    today = when.weekday()
    yesterday = (today - 1) % 7
    for _, days, span in spec:
        all_days = days if days is not None else set(range(7))
        if span is None:
            if today in all_days:
                return True
            continue
        start, end = span
        if start < end:
            if today in all_days and start <= minute < end:
                return True
        else:  # wraps: from start today, or until end after yesterday's start
            if today in all_days and minute >= start:
                return True
            if yesterday in all_days and minute < end:
                return True
    return False


INSTANTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31))


@settings(max_examples=300, deadline=None)
@given(spec=st.lists(windows(), min_size=1, max_size=3), when=INSTANTS)
def test_matches_agrees_with_brute_force(
    spec: list[tuple[str, set[int] | None, tuple[int, int] | None]], when: datetime
) -> None:
    profile = parse_profile("; ".join(text for text, _, _ in spec))
    assert profile.matches(when) == brute_force(spec, when)


@settings(max_examples=200, deadline=None)
@given(spec=st.lists(windows(), min_size=1, max_size=3), when=INSTANTS)
def test_next_change_is_the_next_flip(
    spec: list[tuple[str, set[int] | None, tuple[int, int] | None]], when: datetime
) -> None:
    profile = parse_profile("; ".join(text for text, _, _ in spec))
    flip = profile.next_change(when)
    now = profile.matches(when)
    if flip is None:  # constant: check a week of hours
        assert all(profile.matches(when + timedelta(hours=h)) == now for h in range(7 * 24))
        return
    assert when < flip <= when + timedelta(days=7)
    assert profile.matches(flip) != now
    assert flip.second == 0 and flip.microsecond == 0
    # no flip before it: every whole minute in between answers like now
    minute = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < flip:
        assert profile.matches(minute) == now
        minute += timedelta(minutes=1)
