"""Checking the books: every balance against its ledger and its live calls (issue 5 §2).

The ledger is the record of every balance movement (``softswitch.storage.models.ledger``), and
``accounts.reserved`` the sum of the account's ``billing_reservations``. Both are kept by the
statements that change them, so they must agree; :func:`verify` proves it, account by account:

- ``balance``: ``accounts.balance`` equals the sum of the account's ledger amounts (all kinds);
- ``ledger_chain``: in id order, each row's ``balance_after`` is the previous row's plus its
  ``amount`` (the first: its ``amount``), so the ledger alone replays the balance;
- ``reserved``: ``accounts.reserved`` equals the sum of the account's reservations;
- ``floor``: no prepaid balance below zero, no postpaid balance below minus its credit limit.

Each row of the chain is checked against the row before it as stored, so one altered row shows
as two problems (itself and its successor) instead of every row after it.

All reads happen in one snapshot of the database (REPEATABLE READ on PostgreSQL, one read
transaction on SQLite in WAL mode), so a switch settling calls while this runs cannot make the
books look wrong: a CDR batch commits wholly before or wholly after the snapshot. Nothing is
written and no writer is blocked. The ledger is streamed in id order, so memory grows with the
number of accounts, not of ledger rows. Money is compared in integer micro-units, exactly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import BigInteger, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.storage.models import Account, BillingMode, LedgerEntry, Reservation
from softswitch.storage.types import from_micros

__all__ = [
    "MAX_PROBLEMS",
    "Check",
    "Problem",
    "VerifyReport",
    "begin_snapshot",
    "verify",
]

MAX_PROBLEMS = 1000
"""Problems listed in a report; :attr:`VerifyReport.problem_count` counts them all."""

_BATCH = 10_000
"""Ledger rows fetched per round trip."""


class Check(enum.Enum):
    """What disagreed."""

    BALANCE = "balance"
    """The balance is not the sum of the account's ledger amounts."""
    LEDGER_CHAIN = "ledger_chain"
    """A ledger row's balance_after is not the previous row's plus its amount."""
    RESERVED = "reserved"
    """``reserved`` is not the sum of the account's reservations."""
    FLOOR = "floor"
    """The balance is below what the account may reach (0, or minus the credit limit)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One discrepancy: on which account, which check, what was expected and what was found.
    ``ledger_id`` names the row a ``ledger_chain`` problem is about."""

    account_id: int
    account_code: str
    check: Check
    expected: str
    found: str
    ledger_id: int | None = None

    def __str__(self) -> str:
        row = "" if self.ledger_id is None else f" ledger row {self.ledger_id}"
        return (
            f"account {self.account_code} (id {self.account_id}): {self.check.value}{row}: "
            f"expected {self.expected}, found {self.found}"
        )


@dataclass(slots=True)
class VerifyReport:
    """What was checked and every problem found (the first :data:`MAX_PROBLEMS` listed)."""

    accounts: int = 0
    ledger_entries: int = 0
    reservations: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def clean(self) -> bool:
        """True when every check held."""
        return self.problem_count == 0

    def summary(self) -> str:
        """One line: what was checked and how it came out."""
        checked = (
            f"{self.accounts} account(s), {self.ledger_entries} ledger row(s), "
            f"{self.reservations} reservation(s)"
        )
        if self.clean:
            return f"billing verify: OK, {checked}"
        shown = ""
        if self.problem_count > len(self.problems):
            shown = f" (first {len(self.problems)} listed)"
        return f"billing verify: {self.problem_count} problem(s){shown} in {checked}"

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


@dataclass(slots=True)
class _Books:
    """One account as stored, in micro-units, and what its ledger added up to."""

    code: str
    prepaid: bool
    balance: int
    credit_limit: int
    reserved: int
    ledger_sum: int = 0
    held: int = 0


def _money(micros: int) -> str:
    return format(from_micros(micros), "f")


def _micros(value: object) -> int:
    """A micro-unit amount as the driver returns it (a sum is a Decimal on PostgreSQL)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(Decimal(str(value)))


async def begin_snapshot(session: AsyncSession) -> None:
    """Make every later read of ``session`` see one committed state of the database.

    PostgreSQL: the transaction runs at REPEATABLE READ (its snapshot is taken by the first
    statement). SQLite: the driver starts no transaction for reads, so each SELECT would see
    the latest commit; an explicit ``BEGIN`` holds one read snapshot (WAL) without blocking
    writers, until the session ends. Call it before the session's first statement.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return
    connection = await session.connection()
    await connection.exec_driver_sql("BEGIN")


async def verify(sessions: async_sessionmaker[AsyncSession]) -> VerifyReport:
    """Check every account's balance, ledger chain, reserved credit and floor (see the module
    docstring); read-only."""
    report = VerifyReport()
    async with sessions() as session:
        await begin_snapshot(session)
        books = await _accounts(session)
        report.accounts = len(books)
        await _ledger(session, books, report)
        report.reservations = await _reservations(session, books)
    for account_id, book in books.items():
        _compare(account_id, book, report)
    report.problems.sort(key=lambda p: (p.account_id, p.ledger_id or 0, p.check.value))
    return report


async def _accounts(session: AsyncSession) -> dict[int, _Books]:
    c = Account.__table__.c
    query = select(
        c.id,
        c.code,
        c.billing_mode,
        type_coerce(c.balance, BigInteger()),
        type_coerce(c.credit_limit, BigInteger()),
        type_coerce(c.reserved, BigInteger()),
    ).order_by(c.id)
    books: dict[int, _Books] = {}
    for ident, code, mode, balance, credit, reserved in (await session.execute(query)).all():
        prepaid = mode == BillingMode.PREPAID.value or mode is BillingMode.PREPAID
        books[int(ident)] = _Books(
            code, prepaid, _micros(balance), _micros(credit), _micros(reserved)
        )
    return books


async def _ledger(session: AsyncSession, books: dict[int, _Books], report: VerifyReport) -> None:
    """One pass over the ledger in (account, id) order: the chain row by row, and each
    account's sum of amounts."""
    c = LedgerEntry.__table__.c
    query = (
        select(
            c.id,
            c.account_id,
            type_coerce(c.amount, BigInteger()),
            type_coerce(c.balance_after, BigInteger()),
        )
        .order_by(c.account_id, c.id)
        .execution_options(yield_per=_BATCH)
    )
    current: int | None = None
    previous = 0
    total = 0
    book: _Books | None = None
    result = await session.stream(query)
    async for rows in result.partitions():
        for ident, account_id, amount_value, after_value in rows:
            amount, after = _micros(amount_value), _micros(after_value)
            if account_id != current:
                if book is not None:
                    book.ledger_sum = total
                current, previous, total = account_id, 0, 0
                book = books.get(account_id)
            total += amount
            if after != previous + amount and book is not None:
                report.add(
                    Problem(
                        account_id,
                        book.code,
                        Check.LEDGER_CHAIN,
                        _money(previous + amount),
                        _money(after),
                        ledger_id=int(ident),
                    )
                )
            previous = after
            report.ledger_entries += 1
    if book is not None:
        book.ledger_sum = total


async def _reservations(session: AsyncSession, books: dict[int, _Books]) -> int:
    """Each account's held credit from its reservation rows; the number of rows."""
    c = Reservation.__table__.c
    query = select(
        c.account_id, func.sum(type_coerce(c.amount, BigInteger())), func.count()
    ).group_by(c.account_id)
    rows = 0
    for account_id, held, count in (await session.execute(query)).all():
        rows += int(count)
        book = books.get(int(account_id))
        if book is not None:
            book.held = _micros(held)
    return rows


def _compare(account_id: int, book: _Books, report: VerifyReport) -> None:
    if book.balance != book.ledger_sum:
        report.add(
            Problem(
                account_id,
                book.code,
                Check.BALANCE,
                f"{_money(book.ledger_sum)} (the sum of its ledger)",
                _money(book.balance),
            )
        )
    if book.reserved != book.held:
        report.add(
            Problem(
                account_id,
                book.code,
                Check.RESERVED,
                f"{_money(book.held)} (the sum of its reservations)",
                _money(book.reserved),
            )
        )
    floor = 0 if book.prepaid else -book.credit_limit
    if book.balance < floor:
        kind = "prepaid" if book.prepaid else "postpaid"
        report.add(
            Problem(
                account_id,
                book.code,
                Check.FLOOR,
                f">= {_money(floor)} ({kind})",
                _money(book.balance),
            )
        )
