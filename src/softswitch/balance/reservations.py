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

import enum
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from softswitch.storage.models import (
    Account,
    AccountStatus,
    BillingMode,
    LedgerEntry,
    LedgerKind,
    Reservation,
)
from softswitch.storage.types import Money, utcnow

__all__ = ["Headroom", "Reservations", "ReserveOutcome"]

_log = logging.getLogger(__name__)

_ZERO = Decimal(0)


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


class Reservations:
    """The reservation statements of one switch process (``node``)."""

    def __init__(self, engine: AsyncEngine, node: str) -> None:
        self._engine = engine
        self.node = node
        self.reserved_total = 0
        self.refused_total = 0

    async def reserve(
        self,
        ref: str,
        account_id: int,
        amount: Decimal,
        seconds: int,
        *,
        day_start: datetime,
    ) -> ReserveOutcome:
        """Hold ``amount`` (covering ``seconds`` billable seconds) for the call ``ref``."""
        async with self._engine.begin() as connection:
            taken = await self._take(connection, account_id, amount, day_start)
            if taken is not ReserveOutcome.RESERVED:
                self.refused_total += 1
                return taken
            now = utcnow()
            await connection.execute(
                insert(Reservation).values(
                    ref=ref,
                    account_id=account_id,
                    amount=amount,
                    seconds=seconds,
                    node=self.node,
                    created_at=now,
                    updated_at=now,
                )
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
        """Add ``extra`` to the call's reservation, which then covers ``seconds``."""
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
        # Every amount is bound as Money (micro-units) explicitly: in expressions mixing
        # columns the bound value's type must not depend on SQLAlchemy's inference.
        want = literal(amount, Money())
        limit_holds = (Account.daily_spend_limit.is_(None)) | (
            Account.daily_spend_limit
            >= Account.reserved + want + _spent_since(account_id, day_start)
        )
        statement = (
            update(Account)
            .where(
                Account.id == account_id,
                Account.status == AccountStatus.ACTIVE,
                _credit() - Account.reserved >= want,
                limit_holds,
            )
            .values(reserved=Account.reserved + want)
        )
        result = await connection.execute(statement)
        if result.rowcount == 1:
            return ReserveOutcome.RESERVED
        why = (
            await connection.execute(
                select(
                    Account.status,
                    (_credit() - Account.reserved >= want).label("covered"),
                ).where(Account.id == account_id)
            )
        ).first()
        if why is None or why.status is not AccountStatus.ACTIVE:
            return ReserveOutcome.INACTIVE
        return ReserveOutcome.INSUFFICIENT if not why.covered else ReserveOutcome.DAILY_LIMIT


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
