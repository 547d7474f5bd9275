"""Rating: from a callee number, an answer time and a hold time to a rounded fee.

The order of operations (docs/rating.md has the worked examples):

1. **Billable seconds** from the hold time in milliseconds: whole seconds, plus one when the
   fraction over a whole second is at least SERVER_BILLING_HOLD_TIME_PRECISION ms
   (:func:`billable_seconds`). A prepaid call's reservation caps them (``max_seconds``).
2. **Free callee**: a callee matching SERVER_BILLING_FREE_E164S costs nothing, rate or not.
3. **Rate**: the longest prefix of the callee having a rate in force at the answer time
   (:meth:`RateBook.rate_for`).
4. **Charged seconds** (:func:`charged_seconds`): minus SERVER_BILLING_FREE_TIME and the
   rate's free seconds (nothing left: the call costs nothing, connection fee included), at
   least the rate's minimum duration, then the first period in full and whole next periods.
5. **Unrounded amount** (:func:`price`): connection fee + first period + next periods, exact
   (one division by 60 at the end, so 0.1/min for 180 s is exactly 0.3, never 0.2999…).
6. **Fee**: :func:`round_fee`, the one rounding, up, to SERVER_BILLING_FEE_PRECISION places and
   then to a multiple of SERVER_BILLING_FEE_UNIT.

Time-of-day modes of a rate book: *answer* (the rate in force at the answer prices the whole
call, the VOS3000 way) and *split* (the charged timeline is cut where the applicable rate
changes and each part is priced at its own rate; CGRateS-style).

Everything is pure: time comes in as arguments, nothing here reads a clock. Money is Decimal;
the arithmetic uses one module-level decimal context (50 digits), never the thread's context,
so a caller that changed its own decimal context cannot change a fee.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from softswitch.billing.profiles import Profile
from softswitch.routing.prefix_tree import PrefixTree

__all__ = [
    "BillingRules",
    "Charge",
    "Rate",
    "RateBook",
    "billable_seconds",
    "charged_seconds",
    "parse_e164_list",
    "price",
    "round_fee",
]

STORED_PLACES = 6
"""Decimal places the database keeps for money; a fee precision above it acts as this."""

# One context for all money arithmetic: 50 significant digits is far beyond any amount we
# handle, so sums and products are exact and the single division by 60 is exact whenever the
# result terminates (and otherwise off by < 1e-40, far below any rounding step).
_CTX = Context(prec=50, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
_SIXTY = Decimal(60)
# Quantum per SERVER_BILLING_FEE_PRECISION 0-7; 7 is kept as 6 places (what storage holds).
_QUANTA = tuple(Decimal(1).scaleb(-min(places, STORED_PLACES)) for places in range(8))
# Bound methods of the context: positional calls of these cost about what an operator costs,
# where ``amount.quantize(q, rounding=…, context=…)`` with keywords costs twice as much.
_mul = _CTX.multiply
_div = _CTX.divide
_add = _CTX.add
_ONE_SECOND = timedelta(seconds=1)
_SEPARATORS = re.compile(r"[\s,;]+")


def _money(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal (money is never float), not {value!r}")
    amount = value if isinstance(value, Decimal) else Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{name} must be a finite amount >= 0, not {value!r}")
    return amount


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware (UTC), not naive {value!r}")


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of calls to one prefix: per-minute rate, billing periods and validity.

    ``first_period``/``next_period`` are the "60/6"-style billing increments: the first
    ``first_period`` seconds are charged in full as soon as anything is charged, the rest in
    whole ``next_period`` blocks counted *after* the first block."""

    prefix: str
    rate_per_minute: Decimal
    first_period: int = 60
    next_period: int = 60
    first_price: Decimal | None = None
    """Flat price of the whole first period; None: ``rate_per_minute * first_period / 60``."""
    connection_fee: Decimal = _ZERO
    min_duration: int = 0
    """An answered call with billable time is charged at least this many seconds."""
    free_seconds: int = 0
    area_name: str = ""
    effective_from: datetime | None = None
    """Aware; None: since always."""
    effective_to: datetime | None = None
    """Aware, exclusive; None: open-ended."""
    profile: Profile | None = None
    """Time-of-day window, read in the rate book's zone; None: at any time."""
    simple: bool = field(init=False, repr=False, compare=False)
    """No validity window and no profile: the rate applies whenever it is looked up (the
    common case the rate book's fast path serves without looking at the time)."""

    def __post_init__(self) -> None:
        # Written for speed as well as safety: a snapshot builds a million of these.
        if type(self.prefix) is not str:
            raise TypeError(f"prefix must be a str, not {self.prefix!r}")
        for name in ("rate_per_minute", "connection_fee", "first_price"):
            value = getattr(self, name)
            exact = type(value) is Decimal and value.is_finite() and not value.is_signed()
            if not exact and (value is not None or name != "first_price"):
                object.__setattr__(self, name, _money(value, name))
        first, step = self.first_period, self.next_period
        minimum, free = self.min_duration, self.free_seconds
        if (
            type(first) is not int
            or type(step) is not int
            or type(minimum) is not int
            or type(free) is not int
            or first < 1
            or step < 1
            or minimum < 0
            or free < 0
        ):
            _explain_seconds(self)
        start, end = self.effective_from, self.effective_to
        if start is not None or end is not None:
            _aware(start, "effective_from")
            _aware(end, "effective_to")
            if start is not None and end is not None and end <= start:
                raise ValueError(
                    f"rate {self.prefix!r}: effective_to {end} must be after effective_from {start}"
                )
        simple = self.profile is None and self.effective_from is None and self.effective_to is None
        object.__setattr__(self, "simple", simple)

    def applies_at(self, at: datetime) -> bool:
        """Whether ``at`` is inside the validity window (the profile is not looked at)."""
        start, end = self.effective_from, self.effective_to
        return (start is None or start <= at) and (end is None or at < end)

    def per_minute_first(self) -> Decimal:
        """The per-minute price of the first period (``first_price`` spread over it, or the
        rate itself): what a caller compares when the first block is what matters, e.g. a
        report of short-call prices or an LCR ceiling for short calls."""
        if self.first_price is None:
            return self.rate_per_minute
        return _div(_mul(self.first_price, _SIXTY), self.first_period)


def _explain_seconds(rate: Rate) -> None:
    """Raise the ValueError naming the first bad whole-seconds field of ``rate``."""
    for name, low in (
        ("first_period", 1),
        ("next_period", 1),
        ("min_duration", 0),
        ("free_seconds", 0),
    ):
        value = getattr(rate, name)
        if type(value) is not int or value < low:
            raise ValueError(f"{name} must be a whole number of seconds >= {low}, not {value!r}")


@dataclass(frozen=True, slots=True)
class BillingRules:
    """The SERVER_BILLING_* parameters that rating reads, as values.

    ``fee_precision`` accepts 0-7 like the parameter, but money is stored with six places, so
    7 acts as 6 (a fee is never rounded to a place the database would drop)."""

    hold_precision_ms: int = 1000
    free_time_s: int = 0
    fee_precision: int = 4
    fee_unit: Decimal = _ZERO
    free_prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        checks = (
            ("hold_precision_ms", self.hold_precision_ms, 0, 1000),
            ("free_time_s", self.free_time_s, 0, None),
            ("fee_precision", self.fee_precision, 0, 7),
        )
        for name, value, low, high in checks:
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < low
                or (high is not None and value > high)
            ):
                span = f"{low}-{high}" if high is not None else f">= {low}"
                raise ValueError(f"{name} must be an integer {span}, not {value!r}")
        object.__setattr__(self, "fee_unit", _money(self.fee_unit, "fee_unit"))
        prefixes = tuple(self.free_prefixes)
        if not all(isinstance(prefix, str) and prefix for prefix in prefixes):
            raise ValueError(f"free_prefixes must be non-empty strings, not {prefixes!r}")
        object.__setattr__(self, "free_prefixes", prefixes)

    def is_free(self, callee: str) -> bool:
        """Whether ``callee`` starts with one of the free (toll-free) prefixes; a leading
        ``+`` of the callee is ignored, as it is in the list."""
        if not self.free_prefixes:
            return False
        if callee[:1] == "+":
            callee = callee[1:]
        return callee.startswith(self.free_prefixes)


def parse_e164_list(text: str) -> tuple[str, ...]:
    """Callee prefixes of SERVER_BILLING_FREE_E164S / SERVER_BILLING_NO_CDR_E164S.

    Separated by commas, semicolons or white space; a leading ``+`` is dropped (``+800`` and
    ``800`` are the same prefix); duplicates are kept once, in first-seen order."""
    found: dict[str, None] = {}
    for token in _SEPARATORS.split(text):
        prefix = token[1:] if token.startswith("+") else token
        if prefix:
            found.setdefault(prefix, None)
    return tuple(found)


def billable_seconds(hold_ms: int, precision_ms: int) -> int:
    """Whole billable seconds of a hold time (SERVER_BILLING_HOLD_TIME_PRECISION).

    The fraction over a whole second counts as a full second when it is at least
    ``precision_ms``: 0 rounds any fraction up, 1000 always rounds down, 500 is "half up"."""
    if hold_ms < 0:
        raise ValueError(f"hold time must be >= 0 ms, not {hold_ms}")
    if precision_ms < 0:
        raise ValueError(f"hold time precision must be >= 0 ms, not {precision_ms}")
    whole, fraction = divmod(hold_ms, 1000)
    if fraction and fraction >= precision_ms:
        return whole + 1
    return whole


def charged_seconds(billable: int, rate: Rate, free_time_s: int) -> int:
    """The seconds a call is charged for: free time off, minimum duration, then periods.

    ``billable - free_time_s - rate.free_seconds`` (0 when nothing is left: such a call costs
    nothing at all); then at least ``rate.min_duration``; then the first period in full and
    the rest rounded up to whole next periods after the first block (30/20 bills 35 s as 50 s,
    60/6 bills 61 s as 66 s, 60/60 bills 1 s as 60 s)."""
    seconds = billable - free_time_s - rate.free_seconds
    if seconds <= 0:
        return 0
    if seconds < rate.min_duration:
        seconds = rate.min_duration
    first = rate.first_period
    if seconds <= first:
        return first
    step = rate.next_period
    return first + -(-(seconds - first) // step) * step


def price(rate: Rate, charged: int) -> Decimal:
    """The exact, unrounded amount of ``charged`` seconds at ``rate``.

    Connection fee + the first period (``first_price``, or its seconds at the rate) + the
    seconds after it at ``rate_per_minute / 60``; 0 seconds cost nothing. The per-minute part
    is multiplied first and divided by 60 once, so no per-second rounding can drift."""
    if charged <= 0:
        if charged < 0:
            raise ValueError(f"charged seconds must be >= 0, not {charged}")
        return _ZERO
    first_price = rate.first_price
    if first_price is None:
        amount = _div(_mul(rate.rate_per_minute, charged), _SIXTY)
    else:
        extra = charged - rate.first_period
        amount = first_price
        if extra > 0:
            amount = _add(amount, _div(_mul(rate.rate_per_minute, extra), _SIXTY))
    connection_fee = rate.connection_fee
    return _add(connection_fee, amount) if connection_fee else amount


def round_fee(amount: Decimal, precision: int, unit: Decimal) -> Decimal:
    """THE one rounding of a fee: up to ``min(precision, 6)`` places, then up to a multiple of
    ``unit`` when it is positive.

    Rounding is toward +infinity, so a positive amount never becomes 0 (0.0049/min is never
    billed 0.00) and a fee is never under its exact amount. 0 stays 0. The result carries the
    precision's exponent (0.3 at precision 4 is ``Decimal('0.3000')``). A ``unit`` finer than
    the precision cannot be honoured beyond it."""
    if precision < 0 or amount < _ZERO:
        if precision < 0:
            raise ValueError(f"fee precision must be >= 0, not {precision}")
        raise ValueError(f"a fee is never negative: {amount}")
    quantum = _QUANTA[precision] if precision < 8 else _QUANTA[STORED_PLACES]
    rounded = amount.quantize(quantum, ROUND_CEILING, _CTX)
    if unit and rounded:
        if unit < _ZERO:
            raise ValueError(f"fee unit must be >= 0, not {unit}")
        units = _div(rounded, unit).to_integral_value(ROUND_CEILING, _CTX)
        rounded = _mul(units, unit).quantize(quantum, ROUND_CEILING, _CTX)
    return rounded


@dataclass(frozen=True, slots=True)
class Charge:
    """What rating one call produced: the inputs it used and the amounts, for the CDR."""

    rate: Rate | None
    """The rate at the answer; None for a free (toll-free) callee."""
    billable_seconds: int
    charged_seconds: int
    unrounded: Decimal
    fee: Decimal
    """``round_fee(unrounded, …)``: what the account is charged."""
    parts: tuple[tuple[Rate, int], ...]
    """``(rate, seconds)`` per time-of-day segment; one element in answer mode, empty for a
    free callee. The first element covers at least the first period."""


class _Choice:
    """The rates filed under one prefix when more than one (or one that is not ``simple``)."""

    __slots__ = ("edges", "profiles", "rates")

    def __init__(self, rates: tuple[Rate, ...]) -> None:
        self.rates = rates
        edges = {r.effective_from for r in rates} | {r.effective_to for r in rates}
        self.edges = tuple(sorted(edge for edge in edges if edge is not None))
        profiles: dict[Profile, None] = {}
        for rate in rates:
            if rate.profile is not None:
                profiles.setdefault(rate.profile, None)
        self.profiles = tuple(profiles)

    def pick(self, at: datetime, local: Callable[[], datetime]) -> Rate | None:
        """The rate applying at ``at``: among rates in their validity window, one whose
        profile matches beats a profile-less one; then the latest ``effective_from`` wins
        (ties: the first given)."""
        best: Rate | None = None
        best_profiled = False
        when: datetime | None = None
        for rate in self.rates:
            if not rate.applies_at(at):
                continue
            profile = rate.profile
            if profile is not None and not profile.matches(local()):
                continue
            profiled = profile is not None
            if best is not None:
                if best_profiled and not profiled:
                    continue
                start = rate.effective_from
                if best_profiled == profiled and (
                    start is None or (when is not None and start <= when)
                ):
                    continue
            best, best_profiled, when = rate, profiled, rate.effective_from
        return best


_Entry = Rate | _Choice

# Building a Charge through the slots' own descriptors: a frozen dataclass's __init__ pays one
# object.__setattr__ per field, which was a seventh of a whole rating (bench/rating.py).
_new_charge = object.__new__
_CHARGE_SLOTS = tuple(
    getattr(Charge, name).__set__
    for name in ("rate", "billable_seconds", "charged_seconds", "unrounded", "fee", "parts")
)


def _charge(
    rate: Rate | None,
    billable: int,
    charged: int,
    unrounded: Decimal,
    fee: Decimal,
    parts: tuple[tuple[Rate, int], ...],
) -> Charge:
    """``Charge(rate, billable, charged, unrounded, fee, parts)``, at a third of the cost."""
    made: Charge = _new_charge(Charge)
    set_rate, set_billable, set_charged, set_unrounded, set_fee, set_parts = _CHARGE_SLOTS
    set_rate(made, rate)
    set_billable(made, billable)
    set_charged(made, charged)
    set_unrounded(made, unrounded)
    set_fee(made, fee)
    set_parts(made, parts)
    return made


class RateBook:
    """One rate table: rates by prefix (a PrefixTree), its time-of-day mode and zone.

    Built once per snapshot and never changed, so it can be shared by every call. The common
    entry — one rate under a prefix, no validity window, no profile — is stored bare and found
    with one prefix lookup and one type test; anything else goes through :class:`_Choice`."""

    __slots__ = ("_count", "_longest", "_split", "_tree", "_zone")

    def __init__(self, rates: Iterable[Rate], *, split: bool = False, zone: str = "UTC") -> None:
        """``split``: the split time-of-day mode (else answer mode). ``zone``: the IANA zone
        the rates' profiles are read in; an unknown zone is a ValueError."""
        try:
            self._zone: tzinfo = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {zone!r}: use an IANA name") from error
        self._split = split
        grouped: dict[str, Rate | list[Rate]] = {}
        count = 0
        for rate in rates:
            count += 1
            held = grouped.get(rate.prefix)
            if held is None:
                grouped[rate.prefix] = rate
            elif isinstance(held, list):
                held.append(rate)
            else:
                grouped[rate.prefix] = [held, rate]
        self._count = count
        self._tree: PrefixTree[_Entry] = PrefixTree(
            (prefix, _entry(held)) for prefix, held in grouped.items()
        )
        self._longest = self._tree.longest

    @property
    def split(self) -> bool:
        """Whether the book prices calls in split time-of-day mode."""
        return self._split

    @property
    def zone(self) -> tzinfo:
        """The zone profiles are read in."""
        return self._zone

    def __len__(self) -> int:
        """The number of rates in the book."""
        return self._count

    def __repr__(self) -> str:
        mode = "split" if self._split else "answer"
        return f"RateBook({self._count} rates, {len(self._tree)} prefixes, {mode}, {self._zone})"

    def rate_for(self, number: str, at: datetime) -> Rate | None:
        """The rate of ``number`` at instant ``at`` (aware): the longest prefix having a rate
        that applies then (``effective_from <= at < effective_to`` and its profile, read in
        the book's zone, matching); shorter prefixes are tried when none of the longest
        one's rates applies. Within one prefix, a matching profiled rate beats a profile-less
        one, then the latest ``effective_from`` wins."""
        found = self._longest(number)
        if not found:
            return None
        entry = found[0]
        if isinstance(entry, Rate):
            return entry
        return self._slow_rate(number, at)

    def _slow_rate(self, number: str, at: datetime) -> Rate | None:
        _aware(at, "the rating time")
        local_cache: list[datetime] = []
        zone = self._zone

        def local() -> datetime:
            if not local_cache:
                local_cache.append(at.astimezone(zone))
            return local_cache[0]

        for _prefix, entries in self._tree.matches(number):
            entry = entries[0]
            if isinstance(entry, Rate):
                return entry
            picked = entry.pick(at, local)
            if picked is not None:
                return picked
        return None

    def charge(
        self,
        number: str,
        answer_at: datetime,
        hold_ms: int,
        rules: BillingRules,
        *,
        max_seconds: int | None = None,
    ) -> Charge | None:
        """Rate one answered call; None when no rate applies (and the callee is not free).

        ``max_seconds`` caps the billable seconds: a prepaid call is never billed past what
        it reserved. Split mode: see :meth:`_split_price`."""
        # billable_seconds(), inlined: this is the call path's hot spot (bench/rating.py).
        if hold_ms < 0:
            raise ValueError(f"hold time must be >= 0 ms, not {hold_ms}")
        billable, fraction = divmod(hold_ms, 1000)
        if fraction and fraction >= rules.hold_precision_ms:
            billable += 1
        if max_seconds is not None and billable > max_seconds:
            billable = max_seconds if max_seconds > 0 else 0
        return self._rate(number, answer_at, billable, rules)

    def fee_for(
        self, number: str, answer_at: datetime, seconds: int, rules: BillingRules
    ) -> Decimal | None:
        """The rounded fee of a call of ``seconds`` billable seconds (what a reservation
        holds); None when no rate applies, 0 for a free callee."""
        if seconds < 0:
            raise ValueError(f"billable seconds must be >= 0, not {seconds}")
        charged = self._rate(number, answer_at, seconds, rules)
        return None if charged is None else charged.fee

    def affordable_seconds(
        self,
        number: str,
        answer_at: datetime,
        available: Decimal,
        rules: BillingRules,
        *,
        limit: int = 86400,
    ) -> int:
        """The largest billable seconds ``s <= limit`` with ``fee_for(s) <= available``.

        0 when even the first period is not affordable (or no rate applies); ``limit`` when
        everything up to it is (a free callee). ``fee_for`` never decreases as seconds grow,
        so a binary search over whole seconds finds the exact answer."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        if available < 0:
            return 0

        def fee(seconds: int) -> Decimal | None:
            charged = self._rate(number, answer_at, seconds, rules)
            return None if charged is None else charged.fee

        top = fee(limit)
        if top is None:
            return 0
        if top <= available:
            return limit
        low, high = 0, limit  # fee(low) <= available < fee(high); fee(0) is always 0
        while high - low > 1:
            middle = (low + high) // 2
            amount = fee(middle)
            assert amount is not None
            if amount <= available:
                low = middle
            else:
                high = middle
        return low

    def _rate(
        self, number: str, answer_at: datetime, billable: int, rules: BillingRules
    ) -> Charge | None:
        if answer_at.tzinfo is None:
            raise ValueError(f"answer_at must be timezone-aware (UTC), not naive {answer_at!r}")
        if rules.free_prefixes and rules.is_free(number):
            zero = round_fee(_ZERO, rules.fee_precision, _ZERO)
            return _charge(None, billable, 0, _ZERO, zero, ())
        found = self._longest(number)  # rate_for(), its fast path inlined
        if not found:
            return None
        entry = found[0]
        if isinstance(entry, Rate):
            rate = entry
        else:
            picked = self._slow_rate(number, answer_at)
            if picked is None:
                return None
            rate = picked
        # charged_seconds(), inlined (the property tests hold the two equal).
        seconds = billable - rules.free_time_s - rate.free_seconds
        first = rate.first_period
        if seconds <= 0:
            charged = 0
        elif seconds <= first and rate.min_duration <= first:
            charged = first
        else:
            if seconds < rate.min_duration:
                seconds = rate.min_duration
            step = rate.next_period
            charged = first + -(-(seconds - first) // step) * step
        if charged > first and self._split:
            unrounded, parts = self._split_price(number, rate, answer_at, charged)
        elif charged and rate.first_price is None:  # price(), inlined for the common case
            unrounded = _div(_mul(rate.rate_per_minute, charged), _SIXTY)
            if rate.connection_fee:
                unrounded = _add(rate.connection_fee, unrounded)
            parts = ((rate, charged),)
        else:
            unrounded = price(rate, charged)
            parts = ((rate, charged),)
        fee = round_fee(unrounded, rules.fee_precision, rules.fee_unit)
        return _charge(rate, billable, charged, unrounded, fee, parts)

    def _split_price(
        self, number: str, first_rate: Rate, answer_at: datetime, charged: int
    ) -> tuple[Decimal, tuple[tuple[Rate, int], ...]]:
        """Split mode: the first period (and the connection fee) from the answer-time rate;
        the charged seconds after it cut where the applicable rate changes and each stretch
        priced at its own rate's per-minute price. A stretch where no rate applies (a
        validity window ended with no successor) keeps the answer-time rate. One sum, one
        division by 60, no rounding here."""
        _aware(answer_at, "answer_at")
        first = first_rate.first_period
        numerator = _ZERO  # sum of seconds * rate_per_minute, divided by 60 once
        amount = first_rate.connection_fee
        if first_rate.first_price is None:
            numerator = _mul(first_rate.rate_per_minute, first)
        else:
            amount = _add(amount, first_rate.first_price)
        parts: list[tuple[Rate, int]] = [(first_rate, first)]
        position = first
        while position < charged:
            at = answer_at + timedelta(seconds=position)
            rate = self.rate_for(number, at) or first_rate
            change = self._next_change(number, at)
            end = charged
            if change is not None:
                ahead = change - answer_at
                whole = ahead // _ONE_SECOND + (1 if ahead % _ONE_SECOND else 0)
                end = min(charged, max(whole, position + 1))
            numerator = _add(numerator, _mul(rate.rate_per_minute, end - position))
            last_rate, last_seconds = parts[-1]
            if last_rate is rate:
                parts[-1] = (rate, last_seconds + end - position)
            else:
                parts.append((rate, end - position))
            position = end
        amount = _add(amount, _div(numerator, _SIXTY))
        return amount, tuple(parts)

    def _next_change(self, number: str, at: datetime) -> datetime | None:
        """The next instant after ``at`` at which the rate of ``number`` may change: the
        nearest validity edge or profile boundary of any rate that could apply. Prefixes
        shorter than one holding a bare (always applying) rate are never consulted, so their
        edges do not matter."""
        nearest: datetime | None = None
        for _prefix, entries in self._tree.matches(number):
            entry = entries[0]
            if isinstance(entry, Rate):
                break
            for edge in entry.edges:
                if edge > at:
                    if nearest is None or edge < nearest:
                        nearest = edge
                    break
            for profile in entry.profiles:
                flip = self._profile_change(profile, at)
                if flip is not None and (nearest is None or flip < nearest):
                    nearest = flip
        return nearest

    def _profile_change(self, profile: Profile, at: datetime) -> datetime | None:
        """The instant of the profile's next wall-clock boundary after ``at``, or of the DST
        transition before it when the zone's offset changes first (wall time jumps there, so
        the profile's answer may change at the transition itself)."""
        zone = self._zone
        local = at.astimezone(zone)
        offset = local.utcoffset()
        wall = profile.next_change(local.replace(tzinfo=None))
        if wall is None or offset is None:
            return None
        candidate = (wall - offset).replace(tzinfo=UTC)
        if candidate.astimezone(zone).utcoffset() == offset:
            return candidate
        # A transition lies in (at, candidate]: find its first whole second by bisection.
        low, high = 0, -((at - candidate) // _ONE_SECOND)
        while high - low > 1:
            middle = (low + high) // 2
            if (at + timedelta(seconds=middle)).astimezone(zone).utcoffset() == offset:
                low = middle
            else:
                high = middle
        return at + timedelta(seconds=high)


def _entry(held: Rate | list[Rate]) -> _Entry:
    if isinstance(held, Rate):
        return held if held.simple else _Choice((held,))
    return _Choice(tuple(held))
