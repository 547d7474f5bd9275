"""Rate-table CSV: reading rows into validated values, and writing them back (issue 3 §2).

The format, one rate per line after a header row::

    prefix,area,rate,initial_increment,subsequent_increment,connection_fee,effective_from
    44,United Kingdom,0.012500,60,60,0,2026-03-01

- Columns are found by the header, in any order. Header names ignore case and treat spaces
  and hyphens as underscores, so the issue's spelling ("initial increment", "effective-from")
  works too. ``area_name`` and ``rate_per_minute`` (the model's names) are accepted for
  ``area`` and ``rate``. ``prefix`` and ``rate`` are required; ``area`` (default empty),
  ``initial_increment`` and ``subsequent_increment`` (seconds, default 60), ``connection_fee``
  (default 0), ``free_seconds`` (default 0), ``effective_from`` (default: the time of the
  import), ``effective_to`` (default: open-ended), ``first_price`` (default: none, the first
  period is priced at the rate), ``min_duration`` (seconds, default 0) and ``profile`` (default
  empty: at any time) are optional, and so is an empty cell in them. ``first period price``
  and ``minimum duration`` are read as ``first_price`` and ``min_duration``. An unknown or
  repeated column refuses the whole file: a misspelt ``efective_to`` would otherwise be
  ignored silently.
- ``prefix``: digits only, up to 32. One leading ``+`` is removed (numbers written in E.164
  style, "+44"), because the switch matches prefixes against digit strings.
- Money (``rate``, ``connection_fee``, ``first_price``): a plain non-negative decimal such as
  ``0.0125`` — no exponent, no sign, no thousands separator — exact to six decimal places; a
  seventh non-zero decimal is refused rather than rounded (the database stores micro-units, see
  ``softswitch.storage.types``). Parsed straight into integer micro-units, never a float.
- Times (``effective_from``, ``effective_to``): ISO 8601 date (``2026-03-01``, midnight) or
  date and time (``2026-03-01T08:00:00``, ``2026-03-01 08:00``, ``…+02:00``, ``…Z``). A time
  without an offset is **UTC**, not the machine's zone, so a file means the same everywhere.
- ``area``: up to 128 characters, no control characters (PostgreSQL refuses NUL; a line
  break in a name is a broken export). Quote it when it holds a comma (RFC 4180); a row with
  more non-empty cells than the header has columns is refused, since that is what an unquoted
  "Korea, Republic of" looks like.
- ``profile``: a time-of-day window such as ``mon-fri 08:00-18:00`` (up to 64 characters),
  read by ``softswitch.billing.profiles.parse_profile``, whose reason a bad one is refused with.
- Two rows with the same prefix, effective_from and profile are an error naming both lines: the
  table holds one price per prefix, start time and window (a peak and an off-peak price of one
  prefix from the same date are two rows with different profiles).
- Written back (:func:`rate_line`): every column of :data:`EXPORT_COLUMNS`, money with six
  places, times as ``2026-03-01T00:00:00Z``, CRLF line ends; reading that gives the same values.

Line numbers are the file's own (the header is line 1; a quoted area spanning lines counts its
lines). Reading is streaming: :func:`read_rates` yields one value or error per row and keeps
only the (prefix, effective_from, profile) keys seen, so a million-row file never sits parsed
in memory.

Pure module: no clock (``now`` is an argument), no I/O besides the iterables given.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from softswitch.billing.profiles import parse_profile

__all__ = [
    "EXPORT_COLUMNS",
    "MAX_AREA_LENGTH",
    "MAX_FREE_SECONDS",
    "MAX_INCREMENT",
    "MAX_MIN_DURATION",
    "MAX_PREFIX_LENGTH",
    "MAX_PROFILE_LENGTH",
    "RateRow",
    "RowError",
    "format_micros",
    "format_time",
    "header_line",
    "parse_money",
    "parse_time",
    "profile_error",
    "rate_line",
    "read_rates",
]

MAX_PREFIX_LENGTH = 32
MAX_AREA_LENGTH = 128
MAX_INCREMENT = 3600
MAX_FREE_SECONDS = 86400
MAX_MIN_DURATION = 86400
MAX_PROFILE_LENGTH = 64
_MICROS = 1_000_000
_MAX_MICROS = 2**63 - 1

EXPORT_COLUMNS = (
    "prefix",
    "area",
    "rate",
    "initial_increment",
    "subsequent_increment",
    "connection_fee",
    "effective_from",
    "effective_to",
    "free_seconds",
    "first_price",
    "min_duration",
    "profile",
)
"""The columns :func:`rate_line` writes, in this order (what :func:`read_rates` reads back)."""

_ALIASES = {
    "prefix": "prefix",
    "area": "area",
    "area_name": "area",
    "rate": "rate",
    "rate_per_minute": "rate",
    "initial_increment": "initial_increment",
    "subsequent_increment": "subsequent_increment",
    "connection_fee": "connection_fee",
    "free_seconds": "free_seconds",
    "effective_from": "effective_from",
    "effective_to": "effective_to",
    "first_price": "first_price",
    "first_period_price": "first_price",
    "min_duration": "min_duration",
    "minimum_duration": "min_duration",
    "profile": "profile",
}
_REQUIRED = ("prefix", "rate")
_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^\s|\s$')
"""A cell the reader would split, or strip: quote it (RFC 4180 section 2)."""
_MONEY = re.compile(r"([0-9]*)(?:\.([0-9]*))?")


class RateRow(NamedTuple):
    """One validated rate from line ``line``; money in integer micro-units (exact).

    A named tuple rather than a dataclass: a million of these are built per import, and a
    tuple is several times cheaper to create. The fields after ``effective_to`` (issue 5) have
    defaults, so a row without them is a rate as before.
    """

    line: int
    prefix: str
    area_name: str
    rate_micros: int
    initial_increment: int
    subsequent_increment: int
    connection_fee_micros: int
    free_seconds: int
    effective_from: datetime
    effective_to: datetime | None
    first_price_micros: int | None = None
    min_duration: int = 0
    profile: str = ""

    @property
    def rate_per_minute(self) -> Decimal:
        """The rate as a Decimal with six places."""
        return Decimal(self.rate_micros).scaleb(-6)

    @property
    def connection_fee(self) -> Decimal:
        """The connection fee as a Decimal with six places."""
        return Decimal(self.connection_fee_micros).scaleb(-6)

    @property
    def first_price(self) -> Decimal | None:
        """The first period's flat price as a Decimal with six places (None: none)."""
        if self.first_price_micros is None:
            return None
        return Decimal(self.first_price_micros).scaleb(-6)


class RowError(NamedTuple):
    """Why line ``line`` was refused; ``field`` is the column to fix (``header`` for the
    header row, None for the row as a whole)."""

    line: int
    field: str | None
    message: str

    @property
    def fatal(self) -> bool:
        """True for an error in the header: no row of the file can be read."""
        return self.field == "header"


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_money(text: str) -> int:
    """``text`` (plain decimal, ≥ 0, at most six significant decimal places) in micro-units.
    Raises ``ValueError`` saying what is allowed."""
    try:
        return _money(text, "")
    except _Bad as exc:
        raise ValueError(exc.message) from None


def format_micros(micros: int) -> str:
    """Micro-units as a decimal with exactly six places (``12500`` → ``0.012500``)."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), _MICROS)
    return f"{sign}{whole}.{fraction:06d}"


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime (no offset: UTC).
    Raises ``ValueError``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-03-01 or 2026-03-01T08:00:00Z)"
        ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def format_time(value: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with ``Z`` (microseconds only when present)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def header_line() -> str:
    """The export header (with its line ending)."""
    return ",".join(EXPORT_COLUMNS) + "\r\n"


def _quoted(text: str) -> str:
    if _NEEDS_QUOTES.search(text) is not None:
        return '"' + text.replace('"', '""') + '"'
    return text


def rate_line(
    prefix: str,
    area_name: str,
    rate_micros: int,
    initial_increment: int,
    subsequent_increment: int,
    connection_fee_micros: int,
    effective_from: datetime,
    effective_to: datetime | None,
    free_seconds: int,
    first_price_micros: int | None = None,
    min_duration: int = 0,
    profile: str = "",
) -> str:
    """One CSV line in :data:`EXPORT_COLUMNS` order (with its line ending)."""
    end = "" if effective_to is None else format_time(effective_to)
    first = "" if first_price_micros is None else format_micros(first_price_micros)
    return (
        f"{_quoted(prefix)},{_quoted(area_name)},{format_micros(rate_micros)},"
        f"{initial_increment},{subsequent_increment},{format_micros(connection_fee_micros)},"
        f"{format_time(effective_from)},{end},{free_seconds},{first},{min_duration},"
        f"{_quoted(profile)}\r\n"
    )


def _columns(header: list[str]) -> dict[str, int]:
    """Column name → index; raises ``_Bad`` for unknown, repeated or missing columns."""
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = re.sub(r"[\s\-]+", "_", raw.strip().lstrip("\ufeff").strip().lower())
        if not name and index == len(header) - 1 and index > 0:
            continue  # a trailing comma after the last column
        canonical = _ALIASES.get(name)
        if canonical is None:
            known = ", ".join(EXPORT_COLUMNS)
            raise _Bad("header", f"unknown column {raw.strip()!r}: the columns are {known}")
        if canonical in found:
            raise _Bad("header", f"column {canonical!r} appears twice")
        found[canonical] = index
    missing = [name for name in _REQUIRED if name not in found]
    if missing:
        raise _Bad("header", f"missing column(s) {', '.join(missing)} in the header row")
    return found


def _int(text: str, field: str, default: int, low: int, high: int) -> int:
    if not text:
        return default
    if not (text.isdigit() and text.isascii()):
        raise _Bad(field, f"{text!r} is not a whole number of seconds")
    value = int(text)
    if not low <= value <= high:
        raise _Bad(field, f"{value} is outside {low}..{high}")
    return value


def _money(text: str, field: str) -> int:
    match = _MONEY.fullmatch(text)
    if match is None or text in ("", "."):
        raise _Bad(field, f"{text!r} is not an amount: write a plain decimal such as 0.0125")
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > 6:
        raise _Bad(field, f"{text} has more than 6 decimal places")
    micros = int(whole or "0") * _MICROS + (int(fraction.ljust(6, "0")) if fraction else 0)
    if micros > _MAX_MICROS:
        raise _Bad(field, f"{text} is too large")
    return micros


class _Times:
    """Parsed times by text: a file repeats a handful of start dates a million times."""

    def __init__(self) -> None:
        self._known: dict[str, datetime] = {}

    def get(self, text: str, field: str) -> datetime:
        found = self._known.get(text)
        if found is None:
            try:
                found = parse_time(text)
            except ValueError as exc:
                raise _Bad(field, str(exc)) from None
            if len(self._known) > 4096:
                self._known.clear()
            self._known[text] = found
        return found


def profile_error(text: str) -> str | None:
    """Why ``text`` (stripped, not empty) is not a profile a rate may have, or None when it is:
    at most :data:`MAX_PROFILE_LENGTH` characters, no control characters (a line break in a
    cell is a broken export), and readable by ``softswitch.billing.profiles.parse_profile``."""
    if len(text) > MAX_PROFILE_LENGTH:
        return f"the profile is longer than {MAX_PROFILE_LENGTH} characters"
    if any(c < " " or "\x7f" <= c < "\xa0" for c in text):
        return "the profile contains a control character"
    try:
        parse_profile(text)
    except ValueError as exc:
        return f"{text!r} is not a time-of-day profile: {exc}"
    return None


class _Profiles:
    """Checked profiles by text (None: valid, else the parser's reason): a file repeats a
    handful of windows on every row."""

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}

    def check(self, text: str) -> None:
        if text not in self._known:
            if len(self._known) > 4096:
                self._known.clear()
            self._known[text] = profile_error(text)
        found = self._known[text]
        if found is not None:
            raise _Bad("profile", found)


def _rate(
    line: int,
    cells: list[str],
    at: tuple[int, ...],
    now: datetime,
    times: _Times,
    profiles: _Profiles,
) -> RateRow:
    """One record. ``at`` holds the cell index of each column of ``_ORDER``; an absent
    column points at an empty cell appended after the last one."""
    prefix = cells[at[0]].strip()
    if prefix[:1] == "+":
        prefix = prefix[1:]
    if not (prefix.isdigit() and prefix.isascii()):
        if not prefix:
            raise _Bad("prefix", "the prefix is empty")
        raise _Bad("prefix", f"{prefix!r} is not a prefix: digits only (one leading + allowed)")
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise _Bad("prefix", f"the prefix is longer than {MAX_PREFIX_LENGTH} digits")
    area = cells[at[1]].strip()
    if len(area) > MAX_AREA_LENGTH:
        raise _Bad("area", f"the area name is longer than {MAX_AREA_LENGTH} characters")
    if not area.isprintable() and any(c < " " or "\x7f" <= c < "\xa0" for c in area):
        # PostgreSQL refuses NUL in text; other control characters are garbage from a bad export.
        raise _Bad("area", "the area name contains a control character")
    rate_text = cells[at[2]].strip()
    if not rate_text:
        raise _Bad("rate", "the rate is empty")
    rate = _money(rate_text, "rate")
    fee_text = cells[at[5]].strip()
    fee = _money(fee_text, "connection_fee") if fee_text else 0
    initial = _int(cells[at[3]].strip(), "initial_increment", 60, 1, MAX_INCREMENT)
    subsequent = _int(cells[at[4]].strip(), "subsequent_increment", 60, 1, MAX_INCREMENT)
    start_text = cells[at[6]].strip()
    start = times.get(start_text, "effective_from") if start_text else now
    end_text = cells[at[7]].strip()
    end = times.get(end_text, "effective_to") if end_text else None
    if end is not None and end <= start:
        raise _Bad("effective_to", f"effective_to {end_text} is not after effective_from")
    free = _int(cells[at[8]].strip(), "free_seconds", 0, 0, MAX_FREE_SECONDS)
    first_text = cells[at[9]].strip()
    first = _money(first_text, "first_price") if first_text else None
    minimum = _int(cells[at[10]].strip(), "min_duration", 0, 0, MAX_MIN_DURATION)
    profile = cells[at[11]].strip()
    if profile:
        profiles.check(profile)
    return RateRow(
        line,
        prefix,
        area,
        rate,
        initial,
        subsequent,
        fee,
        free,
        start,
        end,
        first,
        minimum,
        profile,
    )


_ORDER = EXPORT_COLUMNS


def read_rates(lines: Iterable[str], *, now: datetime) -> Iterator[RateRow | RowError]:
    """Validate the CSV text ``lines`` (a text file opened with ``newline=""``, or any
    iterable of lines with their endings); yield a :class:`RateRow` or a :class:`RowError`
    per record, in file order.

    An empty cell for effective_from means ``now`` (aware). A header problem yields one fatal
    error (``RowError.fatal``) and nothing else. Blank lines are skipped.
    """
    reader = csv.reader(lines, strict=True)
    times, profiles = _Times(), _Profiles()
    # (effective_from → prefix, or (prefix, profile) for a row with a profile → first line):
    # the prefixes are the rows' own strings, so the index costs one dict entry per row, not a
    # copy of the key.
    seen: dict[datetime, dict[str | tuple[str, str], int]] = {}
    at: tuple[int, ...] = ()
    width = 0
    previous_end = 0
    columns: dict[str, int] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if columns is None:
                yield RowError(previous_end + 1, "header", f"not valid CSV: {exc}")
                return
            yield RowError(previous_end + 1, None, f"not valid CSV: {exc}")
            previous_end = reader.line_num
            continue
        line, previous_end = previous_end + 1, reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if columns is None:
            try:
                columns = _columns(cells)
            except _Bad as exc:
                yield RowError(line, "header", exc.message)
                return
            width = len(cells)
            at = tuple(columns.get(name, width) for name in _ORDER)
            continue
        if len(cells) == width:
            cells.append("")  # what an absent column reads
        elif len(cells) < width:
            cells.extend([""] * (width + 1 - len(cells)))
        elif any(cell.strip() for cell in cells[width:]):
            yield RowError(
                line,
                None,
                f"{len(cells)} cells but the header has {width} columns "
                "(quote an area name that contains a comma)",
            )
            continue
        else:
            cells[width:] = [""]
        try:
            rate = _rate(line, cells, at, now, times, profiles)
        except _Bad as exc:
            yield RowError(line, exc.field, exc.message)
            continue
        group = seen.get(rate.effective_from)
        if group is None:
            group = seen[rate.effective_from] = {}
        key: str | tuple[str, str] = (rate.prefix, rate.profile) if rate.profile else rate.prefix
        first = group.setdefault(key, line)
        if first != line:
            window = f" and profile {rate.profile!r}" if rate.profile else ""
            yield RowError(
                line,
                "effective_from",
                f"prefix {rate.prefix} with effective_from {format_time(rate.effective_from)}"
                f"{window} is already on line {first}",
            )
            continue
        yield rate
    if columns is None:
        yield RowError(1, "header", "the file is empty: it needs a header row")
