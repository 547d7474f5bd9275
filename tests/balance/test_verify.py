"""``softswitch.balance.verify`` and ``softswitch billing verify`` on real databases (an SQLite
file, and PostgreSQL): books written by the payment service and by hand check clean; each kind
of damage (a balance changed behind the ledger's back, an altered ledger row, reserved credit
that is not the sum of the reservations, a balance below its floor) is reported on its account
with what was expected and what was found; the reads see one snapshot; the command's exit code
is 0 when clean and 1 otherwise."""

from __future__ import annotations

import argparse
import asyncio
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
from softswitch.balance.verify import Check, Problem, begin_snapshot, verify
from softswitch.cli import _parser
from softswitch.manage import ChangeFeed, ManageContext, Who
from softswitch.manage.payments import PaymentService
from softswitch.operators import SYSTEM
from softswitch.params import ParamStore, load_catalog
from softswitch.runtime.admin import AdminError, upgrade_database
from softswitch.runtime.billing_cli import run
from softswitch.runtime.settings import Settings, load_settings
from softswitch.storage import create_engine, sessions
from softswitch.storage.models import (
    Account,
    BillingMode,
    LedgerEntry,
    LedgerKind,
    Reservation,
)
from softswitch.storage.repos import ChangeFeedRepo

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _context(engine: AsyncEngine) -> ManageContext:
    factory = sessions(engine)
    return ManageContext(
        sessions=factory,
        params=ParamStore(load_catalog()),
        clock=lambda: T0,
        feed=ChangeFeed(ChangeFeedRepo(factory)),
    )


async def _books(engine: AsyncEngine) -> dict[str, int]:
    """Clean books: P1 (prepaid) moved by the payment service (top-up 10, refund 3, adjustment
    -0.5); Q2 (postpaid, credit 50) with a top-up, two call charges down to -20 and a live call
    holding 2.5; Z3 untouched. Returns the ids by code."""
    factory = sessions(engine)
    async with factory.begin() as session:
        p1 = Account(code="P1", currency="USD")
        q2 = Account(
            code="Q2",
            currency="USD",
            billing_mode=BillingMode.POSTPAID,
            credit_limit=Decimal(50),
        )
        z3 = Account(code="Z3", currency="USD")
        session.add_all([p1, q2, z3])
        await session.flush()
        ids = {"P1": p1.id, "Q2": q2.id, "Z3": z3.id}
    payments = PaymentService(_context(engine))
    who = Who(SYSTEM)
    await payments.pay(who, ids["P1"], "10")
    await payments.pay(who, ids["P1"], "-3")
    await payments.adjust(who, ids["P1"], "-0.5", "rounding")
    movements = [
        (LedgerKind.TOP_UP, Decimal(5), Decimal(5), None),
        (LedgerKind.CALL_CHARGE, Decimal("-12.5"), Decimal("-7.5"), "call-a"),
        (LedgerKind.CALL_CHARGE, Decimal("-12.5"), Decimal(-20), "call-b"),
    ]
    async with factory.begin() as session:
        for kind, amount, after, ref in movements:
            session.add(
                LedgerEntry(
                    account_id=ids["Q2"],
                    kind=kind,
                    amount=amount,
                    balance_after=after,
                    occurred_at=T0,
                    call_ref=ref,
                )
            )
        session.add(
            Reservation(ref="call-c", account_id=ids["Q2"], amount=Decimal("2.5"), node="n1")
        )
        await session.execute(
            update(Account)
            .where(Account.id == ids["Q2"])
            .values(balance=Decimal(-20), reserved=Decimal("2.5"))
        )
    return ids


async def _ledger_ids(engine: AsyncEngine, account_id: int) -> list[int]:
    async with sessions(engine)() as session:
        found = await session.scalars(
            select(LedgerEntry.id)
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.id)
        )
        return list(found)


async def test_clean_books_verify_clean(engine: AsyncEngine) -> None:
    await _books(engine)
    report = await verify(sessions(engine))
    assert report.problems == [] and report.clean
    assert (report.accounts, report.ledger_entries, report.reservations) == (3, 6, 1)
    assert report.summary() == (
        "billing verify: OK, 3 account(s), 6 ledger row(s), 1 reservation(s)"
    )


async def test_a_balance_changed_behind_the_ledger_is_reported(engine: AsyncEngine) -> None:
    ids = await _books(engine)
    async with sessions(engine).begin() as session:
        await session.execute(
            update(Account).where(Account.id == ids["P1"]).values(balance=Decimal("7.5"))
        )
    report = await verify(sessions(engine))
    assert report.problems == [
        Problem(ids["P1"], "P1", Check.BALANCE, "6.500000 (the sum of its ledger)", "7.500000")
    ]
    assert not report.clean
    assert str(report.problems[0]) == (
        f"account P1 (id {ids['P1']}): balance: expected 6.500000 (the sum of its ledger), "
        "found 7.500000"
    )


async def test_an_altered_ledger_row_breaks_the_chain_at_it_and_its_successor(
    engine: AsyncEngine,
) -> None:
    ids = await _books(engine)
    first, middle, last = await _ledger_ids(engine, ids["Q2"])
    async with sessions(engine).begin() as session:
        await session.execute(
            update(LedgerEntry).where(LedgerEntry.id == middle).values(balance_after=Decimal(-8))
        )
    report = await verify(sessions(engine))
    # The amounts still add up to the balance: only the chain is wrong, at two rows.
    assert report.problems == [
        Problem(ids["Q2"], "Q2", Check.LEDGER_CHAIN, "-7.500000", "-8.000000", middle),
        Problem(ids["Q2"], "Q2", Check.LEDGER_CHAIN, "-20.500000", "-20.000000", last),
    ]
    assert f"ledger row {middle}" in str(report.problems[0])
    assert first < middle < last


async def test_the_first_ledger_row_must_equal_its_amount(engine: AsyncEngine) -> None:
    ids = await _books(engine)
    first = (await _ledger_ids(engine, ids["P1"]))[0]
    async with sessions(engine).begin() as session:
        await session.execute(
            update(LedgerEntry).where(LedgerEntry.id == first).values(balance_after=Decimal(11))
        )
    report = await verify(sessions(engine))
    assert [(p.check, p.ledger_id, p.expected, p.found) for p in report.problems] == [
        (Check.LEDGER_CHAIN, first, "10.000000", "11.000000"),
        (Check.LEDGER_CHAIN, first + 1, "8.000000", "7.000000"),
    ]


async def test_reserved_must_be_the_sum_of_the_reservations(engine: AsyncEngine) -> None:
    ids = await _books(engine)
    async with sessions(engine).begin() as session:
        await session.execute(
            update(Account).where(Account.id == ids["Z3"]).values(reserved=Decimal(1))
        )
        session.add(Reservation(ref="call-d", account_id=ids["Q2"], amount=Decimal(1), node="n1"))
    report = await verify(sessions(engine))
    assert report.problems == [
        Problem(
            ids["Q2"], "Q2", Check.RESERVED, "3.500000 (the sum of its reservations)", "2.500000"
        ),
        Problem(
            ids["Z3"], "Z3", Check.RESERVED, "0.000000 (the sum of its reservations)", "1.000000"
        ),
    ]
    assert report.reservations == 2


async def test_balances_below_their_floor_are_reported(engine: AsyncEngine) -> None:
    ids = await _books(engine)
    async with sessions(engine).begin() as session:
        # Consistent ledgers (each row follows the last), but below what each account may reach.
        session.add_all(
            [
                LedgerEntry(
                    account_id=ids["Z3"],
                    kind=LedgerKind.ADJUSTMENT,
                    amount=Decimal("-0.000001"),
                    balance_after=Decimal("-0.000001"),
                    occurred_at=T0,
                ),
                LedgerEntry(
                    account_id=ids["Q2"],
                    kind=LedgerKind.CALL_CHARGE,
                    amount=Decimal(-31),
                    balance_after=Decimal(-51),
                    occurred_at=T0,
                    call_ref="call-e",
                ),
            ]
        )
        for code, balance in (("Z3", Decimal("-0.000001")), ("Q2", Decimal(-51))):
            await session.execute(
                update(Account).where(Account.id == ids[code]).values(balance=balance)
            )
    report = await verify(sessions(engine))
    assert report.problems == [
        Problem(ids["Q2"], "Q2", Check.FLOOR, ">= -50.000000 (postpaid)", "-51.000000"),
        Problem(ids["Z3"], "Z3", Check.FLOOR, ">= 0.000000 (prepaid)", "-0.000001"),
    ]


async def test_the_reads_see_one_snapshot(engine: AsyncEngine) -> None:
    """A commit made after the snapshot began is not seen by it (else a switch settling calls
    while verify runs could make the books look wrong)."""
    ids = await _books(engine)
    factory = sessions(engine)
    async with factory() as reader:
        await begin_snapshot(reader)
        query = select(Account.balance).where(Account.id == ids["P1"])
        assert await reader.scalar(query) == Decimal("6.5")
        async with factory.begin() as writer:
            await writer.execute(
                update(Account).where(Account.id == ids["P1"]).values(balance=Decimal(100))
            )
        assert await reader.scalar(query) == Decimal("6.5")
    async with factory() as later:
        assert await later.scalar(query) == Decimal(100)


# -- the command -----------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    """The command line as ``softswitch`` parses it."""
    return _parser().parse_args(argv)


async def _seed_data_dir(data_dir: Path) -> tuple[Settings, dict[str, int]]:
    """A migrated database in ``data_dir`` (as ``softswitch db upgrade`` makes it) with the
    clean books of :func:`_books`."""
    settings = load_settings({}, overrides={"data_dir": str(data_dir)})
    await upgrade_database(settings)
    engine = create_engine(settings.database_url)
    try:
        return settings, await _books(engine)
    finally:
        await engine.dispose()


async def _set_balance(settings: Settings, account_id: int, balance: Decimal) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with sessions(engine).begin() as session:
            await session.execute(
                update(Account).where(Account.id == account_id).values(balance=balance)
            )
    finally:
        await engine.dispose()


def test_the_command_exits_0_when_clean_and_1_with_a_problem(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings, ids = asyncio.run(_seed_data_dir(data_dir))
    args = _parse(["billing", "verify", "--data-dir", str(data_dir)])
    assert (args.command, args.verb) == ("billing", "verify")
    out = io.StringIO()
    assert run(args, settings, out) == 0
    assert out.getvalue() == "billing verify: OK, 3 account(s), 6 ledger row(s), 1 reservation(s)\n"

    asyncio.run(_set_balance(settings, ids["P1"], Decimal(7)))
    out = io.StringIO()
    assert run(args, settings, out) == 1
    assert out.getvalue().splitlines() == [
        "billing verify: 1 problem(s) in 3 account(s), 6 ledger row(s), 1 reservation(s)",
        f"account P1 (id {ids['P1']}): balance: expected 6.500000 (the sum of its ledger), "
        "found 7.000000",
    ]


def test_the_command_refuses_a_missing_database(tmp_path: Path) -> None:
    settings = load_settings({}, overrides={"data_dir": str(tmp_path / "none")})
    with pytest.raises(AdminError, match="softswitch db upgrade"):
        run(_parse(["billing", "verify"]), settings, io.StringIO())
