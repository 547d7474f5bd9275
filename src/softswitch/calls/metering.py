"""Money on the call path (issue 5 §1-§2): may the call start, how long may it run, what it cost.

Three moments of a call:

1. **Before routing** (:meth:`Metering.open`, then :meth:`Metering.reserve`): the callee is
   rated in the account's table (longest prefix, rate in force now). No rate: NoRate. A
   callee on SERVER_BILLING_FREE_E164S costs nothing and has no time limit. Otherwise the call
   must reserve, atomically in the database, what its first period plus
   SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME minutes cost; if the account cannot pay that
   (balance + credit limit - what its live calls hold) it is refused with
   CallerBalanceInsufficient (403), or DailySpendLimit when the daily spend limit is what stops
   it. An account without a rate table is not rated when postpaid (its calls cost 0 here) and
   refused with NoRate when prepaid, since nothing could protect its balance. A call to a
   phone of this switch without a rate is free; a DID a carrier delivers is charged to nobody.
2. **While it runs** (:meth:`Metering.answered`): a timer at the end of the reserved time cuts
   the call (BalanceExhausted, BYE on both legs); a few seconds before it, the reservation is
   extended by another chunk (the advance time, at least a minute). When the account cannot
   pay a whole chunk, as much as it can pay is reserved (the fee of the longest duration the
   rest covers), so a balance for exactly N minutes gives exactly N minutes.
3. **At the end** (:meth:`Metering.price`): the CDR gets the customer's charge (at most the
   reserved seconds are billed), the agent's fee (the agent's table), the carrier's cost (the
   routing gateway's table, the callee as sent with SERVER_BILLING_GATEWAY_ROUTE_PREFIX in
   front) and the profit per SERVER_BILLING_PROFIT_CALCULATE. The writer settles the charge
   into the ledger in the transaction that stores the CDR (``balance.settle``).

Many calls of one account thus share its credit through the database, and together they can
never spend more than it has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from softswitch.balance import Headroom, ReserveOutcome
from softswitch.billing import (
    DEFAULT_PROFIT_FORMULA,
    BillingRules,
    ProfitFormula,
    least_cost,
    parse_e164_list,
    parse_profit,
)
from softswitch.calls.call import Call, Meter
from softswitch.calls.ingress import Kind
from softswitch.calls.wire import Wire
from softswitch.cdr.record import TerminationReason
from softswitch.params import ParamChange, ParamStore
from softswitch.routing import GatewayRoute
from softswitch.snapshot import Snapshot
from softswitch.snapshot.rates import RateSnapshot
from softswitch.storage.models import BillingMode

__all__ = ["Metering", "RateSource", "ReservationStore"]

_log = logging.getLogger(__name__)
R = TerminationReason

_EXTEND_LEAD = 5.0
"""Seconds before the reserved time ends that the next chunk is asked for."""
_MIN_CHUNK = 60
_RETRY_AFTER_FAULT = 1.0
"""Seconds before an extension that failed with a fault (not for want of credit) is retried."""
_ZERO = Decimal(0)
_PARAMS = frozenset(
    {
        "SERVER_BILLING_HOLD_TIME_PRECISION",
        "SERVER_BILLING_FREE_TIME",
        "SERVER_BILLING_FEE_PRECISION",
        "SERVER_BILLING_FEE_UNIT",
        "SERVER_BILLING_FREE_E164S",
        "SERVER_BILLING_PROFIT_CALCULATE",
    }
)


class SnapshotSource(Protocol):
    @property
    def current(self) -> Snapshot: ...


class RateSource(Protocol):
    @property
    def current(self) -> RateSnapshot: ...


class ReservationStore(Protocol):
    """The database side (``balance.Reservations`` fits)."""

    async def reserve(
        self, ref: str, account_id: int, amount: Decimal, seconds: int, *, day_start: datetime
    ) -> ReserveOutcome: ...

    async def extend(
        self, ref: str, account_id: int, extra: Decimal, seconds: int, *, day_start: datetime
    ) -> ReserveOutcome: ...

    async def headroom(self, account_id: int, *, day_start: datetime) -> Headroom | None: ...

    async def release(self, ref: str) -> Decimal: ...


Clear = Callable[..., None]
Order = Callable[[list[GatewayRoute]], list[GatewayRoute]]
"""Re-ranks the gateways a call may try (least-cost routing)."""


class Metering:
    """Rating, reservations and pricing of every call of one engine."""

    def __init__(
        self,
        wire: Wire,
        params: ParamStore,
        snapshots: SnapshotSource,
        rates: RateSource,
        store: ReservationStore | None,
        *,
        clear: Clear,
        wall_clock: Callable[[], datetime],
        zone: str = "UTC",
    ) -> None:
        self._wire = wire
        self._params = params
        self._snapshots = snapshots
        self._rates = rates
        self._store = store
        self._clear = clear
        self._wall = wall_clock
        self._zone = ZoneInfo(zone)
        self._rules: BillingRules | None = None
        self._profit: ProfitFormula | None = None
        self._unsubscribe = params.subscribe(self._on_param)

    # ------------------------------------------------------------------ parameters
    def rules(self) -> BillingRules:
        """The SERVER_BILLING_* parameters as rating rules (rebuilt after a change)."""
        if self._rules is None:
            params = self._params
            self._rules = BillingRules(
                hold_precision_ms=params.get_int("SERVER_BILLING_HOLD_TIME_PRECISION"),
                free_time_s=params.get_int("SERVER_BILLING_FREE_TIME"),
                fee_precision=params.get_int("SERVER_BILLING_FEE_PRECISION"),
                fee_unit=params.get_decimal("SERVER_BILLING_FEE_UNIT"),
                free_prefixes=parse_e164_list(params.get_str("SERVER_BILLING_FREE_E164S")),
            )
        return self._rules

    def _formula(self) -> ProfitFormula:
        if self._profit is None:
            text = self._params.get_str("SERVER_BILLING_PROFIT_CALCULATE")
            try:
                self._profit = parse_profit(text)
            except ValueError as exc:
                _log.error(
                    "SERVER_BILLING_PROFIT_CALCULATE %r: %s; using %r",
                    text,
                    exc,
                    DEFAULT_PROFIT_FORMULA,
                )
                self._profit = parse_profit(DEFAULT_PROFIT_FORMULA)
        return self._profit

    def _on_param(self, change: ParamChange) -> None:
        if change.name in _PARAMS:
            self._rules = None
            self._profit = None

    def close(self) -> None:
        self._unsubscribe()

    def _advance_seconds(self) -> int:
        return 60 * self._params.get_int("SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME")

    def day_start(self, now: datetime) -> datetime:
        """Midnight of today in the switch's zone, in UTC: where the daily spend starts."""
        local = now.astimezone(self._zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=self._zone)
        return midnight.astimezone(UTC)

    # ------------------------------------------------------------------ before routing
    def open(self, call: Call) -> TerminationReason | None:
        """Rate the call and decide what it must reserve; a refusal reason, or None."""
        rates = self._rates.current
        rules = self.rules()
        meter = call.meter = Meter(rates, rules)
        account = call.ident.account
        if account is None or call.ident.kind is Kind.CARRIER:
            meter.free = call.ident.kind is Kind.CARRIER  # a DID delivered to us: nobody pays
            return None
        callee = call.ident.callee
        if rules.is_free(callee):
            meter.free = True
            return None
        # A call to a phone of this switch costs the operator no carrier: it is rated when the
        # account's table prices the number, and free otherwise (never refused for want of a
        # rate).
        on_net = callee in self._snapshots.current.phones
        book = rates.book(account.rate_table_id)
        if book is None:
            if on_net or account.billing_mode is not BillingMode.PREPAID:
                return None
            return R.NO_RATE
        rate = book.rate_for(callee, call.start_wall)
        if rate is None:
            if on_net:
                meter.free = True
                return None
            return R.NO_RATE
        meter.book, meter.rate = book, rate
        if self._store is None:
            return None
        seconds = rate.first_period + self._advance_seconds()
        amount = book.fee_for(callee, call.start_wall, seconds, rules)
        if amount is None or amount <= 0:
            return None  # a free rate: nothing to hold, no limit
        meter.want = (amount, seconds)
        return None

    async def reserve(self, call: Call) -> TerminationReason | None:
        """Take the first reservation ``open`` asked for; a refusal reason, or None."""
        meter, account = call.meter, call.ident.account
        if meter is None or meter.want is None or account is None or self._store is None:
            return None
        amount, seconds = meter.want
        try:
            outcome = await self._store.reserve(
                call.record_id, account.id, amount, seconds, day_start=self.day_start(self._wall())
            )
        except Exception:
            _log.exception("call %s: the credit reservation failed; refusing the call", call.id)
            return R.SERVER_ERROR
        if outcome is ReserveOutcome.RESERVED:
            meter.want = None
            meter.reserved_amount, meter.reserved_seconds = amount, seconds
            return None
        _log.info(
            "call %s: account %s cannot reserve %s for %d s (%s)",
            call.id,
            account.code,
            amount,
            seconds,
            outcome.value,
        )
        if outcome is ReserveOutcome.DAILY_LIMIT:
            return R.DAILY_SPEND_LIMIT
        if outcome is ReserveOutcome.INACTIVE:
            return R.CALLER_LOCKED
        return R.CALLER_BALANCE_INSUFFICIENT

    async def release(self, call: Call) -> None:
        """Give a reservation back early (a call that ended while it was being taken)."""
        if self._store is not None and call.record_id:
            try:
                await self._store.release(call.record_id)
            except Exception:
                _log.exception("call %s: releasing its reservation failed", call.id)

    # ------------------------------------------------------------------ least-cost routing
    def order(self, call: Call, snapshot: Snapshot) -> Order | None:
        """For an account in least-cost mode: a function ranking gateways by carrier cost for
        this callee, without those whose per-minute cost exceeds the customer's per-minute
        price minus the account's margin. None: the usual order."""
        account = call.ident.account
        meter = call.meter
        if account is None or not account.least_cost or meter is None:
            return None
        rates = meter.rates
        callee = call.ident.callee
        at = call.start_wall
        route_prefix = self._params.get_str("SERVER_BILLING_GATEWAY_ROUTE_PREFIX")
        ceiling = None
        if meter.rate is not None:
            ceiling = meter.rate.rate_per_minute - account.lcr_min_margin

        def cost(route: GatewayRoute) -> Decimal | None:
            info = snapshot.gateways.get(route.id)
            book = rates.book(info.rate_table_id if info is not None else None)
            if book is None:
                return None
            found = book.rate_for(route_prefix + route.rewrite_callee(callee), at)
            return None if found is None else found.rate_per_minute

        return lambda routes: least_cost(routes, cost, ceiling=ceiling)

    # ------------------------------------------------------------------ while it runs
    def answered(self, call: Call) -> None:
        """Arm the cut at the end of the reserved time and the extension before it."""
        meter = call.meter
        if meter is None or meter.reserved_seconds is None or call.answer_mono is None:
            return
        self._arm(call)

    def _arm(self, call: Call) -> None:
        meter = call.meter
        assert meter is not None and meter.reserved_seconds is not None
        assert call.answer_mono is not None
        wire = self._wire
        end = call.answer_mono + meter.reserved_seconds
        now = wire.now()
        call.cancel_timer("credit-end")
        call.cancel_timer("credit-extend")

        def cut() -> None:
            call.timers.pop("credit-end", None)
            if not call.ended:
                _log.info(
                    "call %s: reserved credit used up after %d s", call.id, meter.reserved_seconds
                )
                self._clear(call, R.BALANCE_EXHAUSTED, "system")

        call.timers["credit-end"] = wire.later(max(0.0, end - now), cut)
        call.timers["credit-extend"] = wire.later(
            max(0.0, end - _EXTEND_LEAD - now), lambda: self._start_extend(call)
        )

    async def _extend(self, call: Call) -> None:
        """Ask for the next chunk. Only a grown reservation moves the cut; one that could not
        grow leaves the cut where it is and is not asked again (the account has nothing
        more), except after a fault, which is retried a second later while time remains."""
        meter, account = call.meter, call.ident.account
        assert meter is not None and account is not None and self._store is not None
        covered = meter.reserved_seconds
        failed = False
        try:
            await self._extend_once(call, meter, account.id)
        except Exception:
            failed = True
            _log.exception("call %s: extending its reservation failed", call.id)
        finally:
            meter.extending = False
        if call.ended or call.answer_mono is None or meter.reserved_seconds is None:
            return
        if meter.reserved_seconds != covered:
            self._arm(call)
        elif failed:
            end = call.answer_mono + meter.reserved_seconds
            if end - self._wire.now() > _RETRY_AFTER_FAULT:
                call.timers["credit-extend"] = self._wire.later(
                    _RETRY_AFTER_FAULT, lambda: self._start_extend(call)
                )

    def _start_extend(self, call: Call) -> None:
        call.timers.pop("credit-extend", None)
        meter = call.meter
        if meter is not None and not call.ended and not meter.extending:
            meter.extending = True
            self._wire.spawn(self._extend(call))

    async def _extend_once(self, call: Call, meter: Meter, account_id: int) -> None:
        assert self._store is not None and meter.book is not None
        assert meter.reserved_seconds is not None
        book, rules = meter.book, meter.rules
        callee = call.ident.callee
        at = call.answer_wall or call.start_wall
        held, covered = meter.reserved_amount, meter.reserved_seconds
        target = covered + max(self._advance_seconds(), _MIN_CHUNK)
        day_start = self.day_start(self._wall())
        fee = book.fee_for(callee, at, target, rules)
        if fee is None:
            return
        outcome = await self._store.extend(
            call.record_id, account_id, fee - held, target, day_start=day_start
        )
        if outcome in (ReserveOutcome.INSUFFICIENT, ReserveOutcome.DAILY_LIMIT):
            # Not a whole chunk: reserve what the rest of the credit pays for, to the second.
            room = await self._store.headroom(account_id, day_start=day_start)
            if room is None or call.ended:
                return
            target = book.affordable_seconds(callee, at, held + room.amount, rules, limit=target)
            if target <= covered:
                return
            fee = book.fee_for(callee, at, target, rules)
            if fee is None:
                return
            outcome = await self._store.extend(
                call.record_id, account_id, fee - held, target, day_start=day_start
            )
        if outcome is ReserveOutcome.RESERVED:
            meter.reserved_amount, meter.reserved_seconds = fee, target

    # ------------------------------------------------------------------ at the end
    def price(self, call: Call, record: dict[str, Any]) -> None:
        """Fill the money fields of the call's CDR ``record`` (``Call.cdr`` values)."""
        meter = call.meter
        account = call.ident.account
        hold = int(record["hold_time_ms"])
        if meter is None or account is None or call.answer_wall is None or hold <= 0:
            return
        if call.ident.kind is Kind.CARRIER:
            return  # a DID delivered by a carrier: no charge, and its cost is not ours to rate
        rules = meter.rules
        callee = call.ident.callee
        at = call.answer_wall
        limit = meter.reserved_seconds
        fee = _ZERO
        if meter.free:
            record["rate_prefix"] = ""
        elif meter.book is not None:
            charge = meter.book.charge(callee, at, hold, rules, max_seconds=limit)
            if charge is not None:
                fee = charge.fee
                record["fee"] = charge.fee
                record["fee_unrounded"] = _micros(charge.unrounded)
                record["billed_seconds"] = charge.billable_seconds
                if charge.rate is not None:
                    record["rate_prefix"] = charge.rate.prefix
                    record["area_name"] = charge.rate.area_name[:128]
        agent_fee: Decimal | None = None
        if account.agent_id is not None:
            agent_fee = _ZERO
            agent_book = meter.rates.book(account.agent_rate_table_id)
            if agent_book is not None and not meter.free:
                found = agent_book.charge(callee, at, hold, rules, max_seconds=limit)
                if found is not None:
                    agent_fee = found.fee
            record["agent_fee"] = agent_fee
        cost = self._cost(call, meter, hold, record)
        record["profit"] = self._formula().evaluate(charge=fee, agent_fee=agent_fee, cost=cost)

    def _cost(self, call: Call, meter: Meter, hold: int, record: dict[str, Any]) -> Decimal:
        attempt = call.attempt
        gateway = attempt.target.gateway if attempt is not None else None
        if gateway is None or attempt is None or call.answer_wall is None:
            return _ZERO
        info = self._snapshots.current.gateways.get(gateway.id)
        book = meter.rates.book(info.rate_table_id if info is not None else None)
        if book is None:
            return _ZERO
        rules = BillingRules(
            hold_precision_ms=meter.rules.hold_precision_ms,
            fee_precision=meter.rules.fee_precision,
            fee_unit=meter.rules.fee_unit,
        )
        number = self._params.get_str("SERVER_BILLING_GATEWAY_ROUTE_PREFIX") + (
            attempt.target.callee_out
        )
        charge = book.charge(number, call.answer_wall, hold, rules)
        if charge is None:
            return _ZERO
        record["cost"] = charge.fee
        if charge.rate is not None:
            record["cost_prefix"] = charge.rate.prefix[:32]
        return charge.fee


def _micros(amount: Decimal) -> Decimal:
    """``amount`` to the micro-unit the database keeps (the unrounded fee is an audit figure;
    a repeating decimal such as 0.0049 * 7 / 60 cannot be stored exactly)."""
    return amount.quantize(Decimal("0.000001"))
