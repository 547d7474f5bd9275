"""Integrity on real SQLite and PostgreSQL databases: foreign keys, CHECKs, refused values,
exact money and time (fixtures ``engine``/``session`` in conftest.py run each test on both)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fixtures.postgres import ENGINES, empty_database
from softswitch.storage import create_engine, sessions, upgrade
from softswitch.storage.models import Account, LedgerEntry, LedgerKind, Phone


async def _account(session: AsyncSession, code: str = "1001") -> Account:
    account = Account(code=code, currency="USD")
    session.add(account)
    await session.flush()
    return account


async def test_foreign_keys_are_enforced(session: AsyncSession) -> None:
    session.add(Phone(number="999", password="pw", account_id=12345))
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        await session.flush()


async def test_account_with_phones_cannot_be_deleted(session: AsyncSession) -> None:
    account = await _account(session)
    session.add(Phone(number="1001001", password="pw", account_id=account.id))
    await session.commit()
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        await session.execute(text("DELETE FROM accounts WHERE id = :id"), {"id": account.id})


async def test_enum_check_constraint_refuses_unknown_values(session: AsyncSession) -> None:
    await _account(session)
    with pytest.raises(IntegrityError, match="ck_accounts_status"):
        await session.execute(text("UPDATE accounts SET status = 'frozen'"))


async def test_naive_datetime_refused_on_write(session: AsyncSession) -> None:
    account = await _account(session)
    account.valid_until = datetime(2027, 1, 1)
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()


async def test_money_with_seven_places_refused_on_write(session: AsyncSession) -> None:
    account = await _account(session)
    account.balance = Decimal("1.0000001")
    with pytest.raises(StatementError, match="more than 6 decimal places"):
        await session.flush()


async def test_float_money_refused_on_write(session: AsyncSession) -> None:
    account = await _account(session)
    account.balance = 1.1  # type: ignore[assignment]
    with pytest.raises(StatementError, match="float"):
        await session.flush()


async def test_times_in_other_zones_come_back_as_the_same_instant_in_utc(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    tokyo = timezone(timedelta(hours=9))
    account = await _account(session)
    account.valid_until = datetime(2027, 1, 1, 9, 0, 0, 123456, tzinfo=tokyo)
    await session.commit()
    async with sessions(engine)() as fresh:
        loaded = (await fresh.execute(select(Account))).scalar_one()
        assert loaded.valid_until == datetime(2027, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
        assert loaded.valid_until is not None and loaded.valid_until.tzinfo is UTC
        # Range queries compare instants, whatever zone the bound is given in.
        found = await fresh.execute(
            select(Account.code).where(
                Account.valid_until > datetime(2027, 1, 1, 8, 59, tzinfo=tokyo)
            )
        )
        assert found.scalars().all() == ["1001"]


# Money through the real database, to the last micro-unit (one migrated file for all examples).

amounts = st.decimals(
    min_value=Decimal(-(10**12)),
    max_value=Decimal(10**12),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


@pytest.fixture(scope="module", params=ENGINES)
def money_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with empty_database(request.param, request, tmp_path_factory.mktemp("money")) as url:
        upgrade(url)
        yield url


async def _round_trip(url: str, values: list[Decimal]) -> list[Decimal]:
    engine = create_engine(url)
    try:
        async with sessions(engine)() as session:
            account = Account(code=f"money-{uuid.uuid4()}", currency="USD")
            session.add(account)
            await session.flush()
            entries = [
                LedgerEntry(
                    account_id=account.id, kind=LedgerKind.ADJUSTMENT, amount=v, balance_after=v
                )
                for v in values
            ]
            session.add_all(entries)
            await session.commit()
            ids = [e.id for e in entries]
        async with sessions(engine)() as session:
            rows = await session.execute(
                select(LedgerEntry.id, LedgerEntry.amount, LedgerEntry.balance_after).where(
                    LedgerEntry.id.in_(ids)
                )
            )
            by_id = {row.id: (row.amount, row.balance_after) for row in rows}
            assert all(by_id[i][1] == by_id[i][0] for i in ids)
            return [by_id[i][0] for i in ids]
    finally:
        await engine.dispose()


@settings(max_examples=30, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=20))
def test_money_round_trips_through_the_database(money_db: str, values: list[Decimal]) -> None:
    assert asyncio.run(_round_trip(money_db, values)) == values


def test_money_extremes_round_trip_through_the_database(money_db: str) -> None:
    extremes = [
        Decimal("9223372036854.775807"),
        Decimal("-9223372036854.775808"),
        Decimal("0.000001"),
        Decimal("-0.000001"),
        Decimal(10**12),
    ]
    back = asyncio.run(_round_trip(money_db, extremes))
    assert back == extremes
    assert [str(v) for v in back[2:4]] == ["0.000001", "-0.000001"]
