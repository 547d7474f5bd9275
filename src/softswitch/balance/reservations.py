"""Credit held by live calls: reserved before routing, extended while the call runs.

Why in the database and not in a dictionary of this process: several switch processes may
share one PostgreSQL database (and an operator's payment or refund lands there too), so the
one place that can decide "does this account still have ``x``" for all of them is the row of
the account. Each change is a single conditional UPDATE::

    UPDATE accounts SET reserved = reserved + :x
     WHERE id = :id AND balance + <credit> - reserved >= :x [AND <daily limit holds>]

which PostgreSQL re-checks under the row lock (READ COMMITTED) and SQLite runs with its one
writer, so two calls can never both take the last ``x``. The per-call row in
``billing_reservations`` says how much each call holds; ``accounts.reserved`` is their sum,
kept by the same transactions. Settlement (``settle``) deletes the row and charges the call.

A process that dies holds reservations nobody will settle; :meth:`Reservations.release_node`
gives them back when that process (its ``node`` name) starts again, after the CDR journal was
replayed (which settles every call that finished).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from softswitch.storage.models import (
    Account,
    AccountStatus,
    BillingMode,
    LedgerEntry,
    LedgerKind,
    Reservation,
)
from softswitch.storage.types import Money, UtcDateTime, utcnow

__all__ = ["Headroom", "Reservations", "ReserveOutcome"]

_log = logging.getLogger(__name__)

_ZERO = Decimal(0)
T = TypeVar("T")


class ReserveOutcome(enum.Enum):
    """Why a reservation was (not) taken."""

    RESERVED = "reserved"
    INSUFFICIENT = "insufficient"
    """balance + credit limit - reserved is below the amount."""
    DAILY_LIMIT = "daily_limit"
    """Today's charges + reserved + the amount would pass the daily spend limit."""
    INACTIVE = "inactive"
    """The account is locked, expired or gone (the snapshot was older than the database)."""
    GONE = "gone"
    """Extension only: the call's reservation no longer exists (it was settled)."""


@dataclass(frozen=True, slots=True)
class Headroom:
    """What an account may still reserve: ``min(available, daily)``."""

    available: Decimal
    """balance + credit limit (postpaid) - reserved."""
    daily: Decimal | None
    """daily spend limit - today's charges - reserved; None without a limit."""

    @property
    def amount(self) -> Decimal:
        return self.available if self.daily is None else min(self.available, self.daily)


def _credit() -> ColumnElement[Decimal]:
    """What the account may spend in all: its balance, plus the credit limit when postpaid."""
    return Account.balance + case(
        (Account.billing_mode == BillingMode.POSTPAID, Account.credit_limit),
        else_=literal(_ZERO, Money()),
    )


def _spent_since(account_id: int, since: datetime) -> ColumnElement[Decimal]:
    """Call charges of the account since ``since`` (positive)."""
    return (
        select(func.coalesce(-func.sum(LedgerEntry.amount), 0))
        .where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.kind == LedgerKind.CALL_CHARGE,
            LedgerEntry.occurred_at >= since,
        )
        .scalar_subquery()
    )


# The statements of the call path, built once: building a statement costs more than the
# database's work for it (about half of a reservation's CPU when they were built per call).
_ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
_AMOUNT = bindparam("amount", type_=Money())
_SPENT = (
    select(func.coalesce(-func.sum(LedgerEntry.amount), 0))
    .where(
        LedgerEntry.account_id == bindparam("account_id"),
        LedgerEntry.kind == LedgerKind.CALL_CHARGE,
        LedgerEntry.occurred_at >= bindparam("since", type_=UtcDateTime()),
    )
    .scalar_subquery()
)
_TAKE = (
    update(_ACCOUNTS)
    .where(
        _ACCOUNTS.c.id == bindparam("account_id"),
        _ACCOUNTS.c.status == AccountStatus.ACTIVE,
        _credit() - _ACCOUNTS.c.reserved >= _AMOUNT,
        _ACCOUNTS.c.daily_spend_limit.is_(None)
        | (_ACCOUNTS.c.daily_spend_limit >= _ACCOUNTS.c.reserved + _AMOUNT + _SPENT),
    )
    .values(reserved=_ACCOUNTS.c.reserved + _AMOUNT)
)
"""Hold ``amount`` of the account's credit, if it has it (and its daily limit allows)."""
_WHY = select(
    _ACCOUNTS.c.status, (_credit() - _ACCOUNTS.c.reserved >= _AMOUNT).label("covered")
).where(_ACCOUNTS.c.id == bindparam("account_id"))
"""Why ``_TAKE`` changed nothing: an inactive account, or not enough credit (else the limit)."""
_INSERT = insert(Reservation)
_RESERVATIONS: Table = Reservation.__table__  # type: ignore[assignment]
_EXISTING = (
    select(_RESERVATIONS.c.ref)
    .where(_RESERVATIONS.c.ref.in_(bindparam("refs", expanding=True)))
    .with_for_update()
)
"""Which of the reservations to extend still exist (none is deleted before the commit)."""
_GROW = (
    update(_RESERVATIONS)
    .where(_RESERVATIONS.c.ref == bindparam("wanted_ref"))
    .values(
        amount=_RESERVATIONS.c.amount + bindparam("extra", type_=Money()),
        seconds=bindparam("seconds"),
        updated_at=bindparam("now", type_=UtcDateTime()),
    )
)
"""Add the granted extra to one call's reservation (run for many calls at once)."""
_ACCOUNTS_OF = select(
    _ACCOUNTS.c.id,
    _ACCOUNTS.c.status,
    _ACCOUNTS.c.balance,
    _ACCOUNTS.c.credit_limit,
    _ACCOUNTS.c.billing_mode,
    _ACCOUNTS.c.reserved,
    _ACCOUNTS.c.daily_spend_limit,
).where(_ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
_SPENT_OF = (
    select(LedgerEntry.account_id, type_coerce(-func.sum(LedgerEntry.amount), Money()))
    .where(
        LedgerEntry.account_id.in_(bindparam("ids", expanding=True)),
        LedgerEntry.kind == LedgerKind.CALL_CHARGE,
        LedgerEntry.occurred_at >= bindparam("since", type_=UtcDateTime()),
    )
    .group_by(LedgerEntry.account_id)
)


class _Raced(Exception):
    """A batch's account had less credit at its UPDATE than when it was read."""


@dataclass(slots=True)
class _Wanted:
    """One call's reservation, or the extension of one (``extend``: ``amount`` is the extra),
    waiting for the next batch."""

    ref: str
    account_id: int
    amount: Decimal
    seconds: int
    day_start: datetime
    extend: bool = False
    done: asyncio.Future[ReserveOutcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Reservations:
    """The reservation statements of one switch process (``node``)."""

    GATHER_S = 0.004
    """Under load, how long the next batch waits for more reservations to join it."""
    BUSY_S = 0.05
    """A batch that follows the previous one within this is "under load"."""

    def __init__(self, engine: AsyncEngine, node: str) -> None:
        self._engine = engine
        self.node = node
        self._last_batch = -1.0
        self.reserved_total = 0
        self.refused_total = 0
        self.batches = 0
        """Transactions that decided reservations together (far fewer than calls under load)."""
        self._pending: list[_Wanted] = []
        self._worker: asyncio.Task[None] | None = None

    async def reserve(
        self,
        ref: str,
        account_id: int,
        amount: Decimal,
        seconds: int,
        *,
        day_start: datetime,
    ) -> ReserveOutcome:
        """Hold ``amount`` (covering ``seconds`` billable seconds) for the call ``ref``.

        Group commit: the reservations asked for while a transaction runs are decided together
        in the next one (see :meth:`_decide`), so a burst of calls costs a handful of
        statements, not two per call."""
        return await self._enqueue(_Wanted(ref, account_id, amount, seconds, day_start))

    async def _enqueue(self, wanted: _Wanted) -> ReserveOutcome:
        self._pending.append(wanted)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="credit-reservations")
        return await wanted.done

    async def close(self) -> None:
        """Let the batch being decided finish (the switch stops after its calls did)."""
        worker = self._worker
        if worker is not None and not worker.done():
            await asyncio.wait({worker}, timeout=10.0)

    async def _work(self) -> None:
        # A transaction costs far more CPU than a row in it, and at a few hundred calls a
        # second each would otherwise carry one or two reservations. So, when the previous
        # batch was recent, wait a few milliseconds for others to join; a lone call on a quiet
        # switch does not wait.
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_batch < self.BUSY_S:
            await asyncio.sleep(self.GATHER_S)
        self._last_batch = loop.time()
        while self._pending:
            day = self._pending[0].day_start
            batch = [w for w in self._pending if w.day_start == day]
            self._pending = [w for w in self._pending if w.day_start != day]
            try:
                outcomes = await _retrying(functools.partial(self._decide, batch))
            except _Raced:
                outcomes = None  # another process took credit meanwhile: one at a time
            except Exception as exc:
                for wanted in batch:
                    if not wanted.done.done():
                        wanted.done.set_exception(exc)
                continue
            if outcomes is None:
                outcomes = [await self._one(wanted) for wanted in batch]
            for wanted, outcome in zip(batch, outcomes, strict=True):
                if outcome is not None and not wanted.done.done():
                    wanted.done.set_result(outcome)

    async def _one(self, w: _Wanted) -> ReserveOutcome | None:
        """``w`` on its own transaction (after a race); None when it failed (the caller's
        future then holds the error)."""
        try:
            one = self._extend if w.extend else self._reserve
            return await _retrying(
                functools.partial(one, w.ref, w.account_id, w.amount, w.seconds, w.day_start)
            )
        except Exception as exc:
            if not w.done.done():
                w.done.set_exception(exc)
            return None

    async def _decide(self, batch: list[_Wanted]) -> list[ReserveOutcome | None]:
        """One transaction for the whole batch: read each account once, grant in order what
        its credit (and daily limit) covers, then take each account's total with ONE
        conditional UPDATE. If that UPDATE finds less credit than was read (another process
        reserved in between), everything is rolled back (``_Raced``)."""
        day_start = batch[0].day_start
        ids = sorted({w.account_id for w in batch})
        async with self._engine.begin() as connection:
            rows = {
                row.id: row for row in (await connection.execute(_ACCOUNTS_OF, {"ids": ids})).all()
            }
            limited = [i for i in ids if i in rows and rows[i].daily_spend_limit is not None]
            spent: dict[int, Decimal] = {}
            if limited:
                for account_id, total in (
                    await connection.execute(_SPENT_OF, {"ids": limited, "since": day_start})
                ).all():
                    spent[account_id] = total or _ZERO
            extended = [w.ref for w in batch if w.extend]
            existing: set[str] = set()
            if extended:
                # Locked (PostgreSQL) until the end of the transaction: a settlement cannot
                # delete one between this read and the UPDATE below. SQLite's one writer
                # makes the same true there.
                existing = set((await connection.execute(_EXISTING, {"refs": extended})).scalars())
            held = {i: rows[i].reserved for i in rows}
            taken: dict[int, Decimal] = {}
            outcomes: list[ReserveOutcome | None] = []
            granted: list[_Wanted] = []
            for w in batch:
                if w.extend and w.ref not in existing:
                    outcomes.append(ReserveOutcome.GONE)  # settled meanwhile
                    continue
                row = rows.get(w.account_id)
                if row is None or row.status is not AccountStatus.ACTIVE:
                    outcomes.append(ReserveOutcome.INACTIVE)
                    continue
                credit = row.credit_limit if row.billing_mode is BillingMode.POSTPAID else _ZERO
                if row.balance + credit - held[w.account_id] < w.amount:
                    outcomes.append(ReserveOutcome.INSUFFICIENT)
                    continue
                limit = row.daily_spend_limit
                used = spent.get(w.account_id, _ZERO) + held[w.account_id]
                if limit is not None and used + w.amount > limit:
                    outcomes.append(ReserveOutcome.DAILY_LIMIT)
                    continue
                held[w.account_id] += w.amount
                taken[w.account_id] = taken.get(w.account_id, _ZERO) + w.amount
                granted.append(w)
                outcomes.append(ReserveOutcome.RESERVED)
            for account_id, total in taken.items():
                params = {"account_id": account_id, "amount": total, "since": day_start}
                if (await connection.execute(_TAKE, params)).rowcount != 1:
                    raise _Raced
            now = utcnow()
            new = [w for w in granted if not w.extend]
            if new:
                await connection.execute(
                    _INSERT,
                    [
                        {
                            "ref": w.ref,
                            "account_id": w.account_id,
                            "amount": w.amount,
                            "seconds": w.seconds,
                            "node": self.node,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for w in new
                    ],
                )
            grown = [w for w in granted if w.extend]
            if grown:
                await connection.execute(
                    _GROW,
                    [
                        {"wanted_ref": w.ref, "extra": w.amount, "seconds": w.seconds, "now": now}
                        for w in grown
                    ],
                )
        self.batches += 1
        fresh = [w for w in batch if not w.extend]
        self.reserved_total += len(new)
        self.refused_total += len(fresh) - len(new)
        return outcomes

    async def _reserve(
        self, ref: str, account_id: int, amount: Decimal, seconds: int, day_start: datetime
    ) -> ReserveOutcome:
        async with self._engine.begin() as connection:
            taken = await self._take(connection, account_id, amount, day_start)
            if taken is not ReserveOutcome.RESERVED:
                self.refused_total += 1
                return taken
            now = utcnow()
            await connection.execute(
                _INSERT,
                {
                    "ref": ref,
                    "account_id": account_id,
                    "amount": amount,
                    "seconds": seconds,
                    "node": self.node,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        self.reserved_total += 1
        return ReserveOutcome.RESERVED

    async def extend(
        self,
        ref: str,
        account_id: int,
        extra: Decimal,
        seconds: int,
        *,
        day_start: datetime,
    ) -> ReserveOutcome:
        """Add ``extra`` to the call's reservation, which then covers ``seconds``.

        Decided in the same batches as new reservations: calls answered at a few hundred a
        second come to the end of their first chunk at that rate too, and one transaction
        each (two statements and a connection from the pool) was what collapsed a switch
        holding 40,000 prepaid calls (docs/performance.md)."""
        return await self._enqueue(_Wanted(ref, account_id, extra, seconds, day_start, extend=True))

    async def _extend(
        self, ref: str, account_id: int, extra: Decimal, seconds: int, day_start: datetime
    ) -> ReserveOutcome:
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    update(Reservation)
                    .where(Reservation.ref == ref)
                    .values(
                        amount=Reservation.amount + literal(extra, Money()),
                        seconds=seconds,
                        updated_at=utcnow(),
                    )
                    .returning(Reservation.id)
                )
            ).first()
            if row is None:
                return ReserveOutcome.GONE
            taken = await self._take(connection, account_id, extra, day_start)
            if taken is not ReserveOutcome.RESERVED:
                await connection.rollback()
                return taken
        return ReserveOutcome.RESERVED

    async def headroom(self, account_id: int, *, day_start: datetime) -> Headroom | None:
        """What the account may still reserve now (None: no such account)."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(
                        Account.balance,
                        Account.credit_limit,
                        Account.billing_mode,
                        Account.reserved,
                        Account.daily_spend_limit,
                        type_coerce(_spent_since(account_id, day_start), Money()).label("spent"),
                    ).where(Account.id == account_id)
                )
            ).first()
        if row is None:
            return None
        credit = row.credit_limit if row.billing_mode is BillingMode.POSTPAID else _ZERO
        available = row.balance + credit - row.reserved
        daily = None
        if row.daily_spend_limit is not None:
            daily = row.daily_spend_limit - (row.spent or _ZERO) - row.reserved
        return Headroom(available, daily)

    async def release(self, ref: str) -> Decimal:
        """Give back the whole reservation of ``ref`` (a call that ended before it was
        routed, or whose reservation raced its end); 0 when there is none."""
        async with self._engine.begin() as connection:
            return await release_ref(connection, ref)

    async def release_node(self) -> int:
        """Release every reservation this node holds: run at start, after the CDR journal
        was replayed, so what remains belongs to calls that died with the previous run."""
        async with self._engine.begin() as connection:
            refs = (
                await connection.execute(
                    select(Reservation.ref).where(Reservation.node == self.node)
                )
            ).scalars()
            count = 0
            for ref in list(refs):
                await release_ref(connection, ref)
                count += 1
        if count:
            _log.warning(
                "released %d billing reservations of calls that were live when node %s stopped",
                count,
                self.node,
            )
        return count

    async def _take(
        self, connection: AsyncConnection, account_id: int, amount: Decimal, day_start: datetime
    ) -> ReserveOutcome:
        params = {"account_id": account_id, "amount": amount, "since": day_start}
        result = await connection.execute(_TAKE, params)
        if result.rowcount == 1:
            return ReserveOutcome.RESERVED
        why = (await connection.execute(_WHY, params)).first()
        if why is None or why.status is not AccountStatus.ACTIVE:
            return ReserveOutcome.INACTIVE
        return ReserveOutcome.INSUFFICIENT if not why.covered else ReserveOutcome.DAILY_LIMIT


_RETRIES = 5


async def _retrying(work: Callable[[], Awaitable[T]]) -> T:
    """Run a short write transaction again when SQLite reports its lock busy.

    The busy timeout makes a writer wait for the lock, but SQLite gives up at once (and does
    not wait) when waiting could deadlock, and a writer held up by a busy event loop may keep
    the lock past the timeout. The transaction was rolled back either way, so running it
    again is safe; a few tries a few milliseconds apart ride out a burst."""
    for attempt in range(_RETRIES):
        try:
            return await work()
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or attempt == _RETRIES - 1:
                raise
            await asyncio.sleep(0.005 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


async def release_ref(connection: AsyncConnection, ref: str) -> Decimal:
    """Delete the reservation ``ref`` and take its amount off the account's ``reserved``
    (never below zero: a hand-edited database must not make every later batch fail)."""
    row = (
        await connection.execute(
            delete(Reservation)
            .where(Reservation.ref == ref)
            .returning(Reservation.account_id, Reservation.amount)
        )
    ).first()
    if row is None:
        return _ZERO
    amount: Decimal = row.amount
    await connection.execute(
        update(Account)
        .where(Account.id == row.account_id)
        .values(
            reserved=case(
                (
                    Account.reserved >= literal(amount, Money()),
                    Account.reserved - literal(amount, Money()),
                ),
                else_=literal(_ZERO, Money()),
            )
        )
    )
    return amount
