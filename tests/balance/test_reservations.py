"""Credit reservations and settlement on a real database (SQLite and PostgreSQL in turn).

What must hold whatever the interleaving: the credit all live calls of an account hold never
exceeds what the account may spend (balance, plus credit limit when postpaid, within its daily
limit); ``accounts.reserved`` is the sum of its reservation rows; settling a call charges it
once and releases its reservation, however often the CDR is replayed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.database import database_url as database_url
from fixtures.database import engine as engine
from fixtures.database import postgres_url as postgres_url
from softswitch.balance import Reservations, ReserveOutcome, settle_rows
from softswitch.balance import reservations as reservations_module
from softswitch.storage import create_engine
from softswitch.storage.models import (
    Account,
    BillingMode,
    LedgerEntry,
    LedgerKind,
    Reservation,
)

D = Decimal
DAY = datetime(2026, 11, 25, tzinfo=UTC)
NOW = DAY + timedelta(hours=12)
SRC = Path(__file__).resolve().parents[2] / "src"


async def _account(
    engine: AsyncEngine,
    balance: str,
    *,
    mode: BillingMode = BillingMode.PREPAID,
    credit: str = "0",
    daily: str | None = None,
) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(Account)
            .values(
                code=f"acc-{os.urandom(4).hex()}",
                name="",
                billing_mode=mode,
                balance=D(balance),
                credit_limit=D(credit),
                currency="USD",
                daily_spend_limit=None if daily is None else D(daily),
                memo="",
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(Account.id)
        )
        return int(result.scalar_one())


async def _state(engine: AsyncEngine, account_id: int) -> tuple[Decimal, Decimal, Decimal]:
    """(balance, reserved, sum of reservation rows)."""
    async with engine.connect() as connection:
        balance, reserved = (
            await connection.execute(
                select(Account.balance, Account.reserved).where(Account.id == account_id)
            )
        ).one()
        rows = (
            await connection.execute(
                select(Reservation.amount).where(Reservation.account_id == account_id)
            )
        ).scalars()
        return balance, reserved, sum(rows, D(0))


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[Reservations]:
    yield Reservations(engine, "node-a")


async def test_reserve_until_the_balance_is_held_then_refuse(
    engine: AsyncEngine, store: Reservations
) -> None:
    account = await _account(engine, "1.00")
    outcomes = [
        await store.reserve(f"call-{i}", account, D("0.30"), 60, day_start=DAY) for i in range(4)
    ]
    assert outcomes == [ReserveOutcome.RESERVED] * 3 + [ReserveOutcome.INSUFFICIENT]
    balance, reserved, rows = await _state(engine, account)
    assert (balance, reserved, rows) == (D("1.00"), D("0.90"), D("0.90"))
    room = await store.headroom(account, day_start=DAY)
    assert room is not None and room.amount == D("0.10") and room.daily is None


async def test_postpaid_reserves_down_to_its_credit_limit(
    engine: AsyncEngine, store: Reservations
) -> None:
    account = await _account(engine, "0.50", mode=BillingMode.POSTPAID, credit="1.00")
    assert await store.reserve("a", account, D("1.50"), 60, day_start=DAY) is (
        ReserveOutcome.RESERVED
    )
    assert await store.reserve("b", account, D("0.000001"), 1, day_start=DAY) is (
        ReserveOutcome.INSUFFICIENT
    )
    prepaid = await _account(engine, "0.50", credit="1.00")  # credit ignored when prepaid
    assert await store.reserve("c", prepaid, D("0.60"), 60, day_start=DAY) is (
        ReserveOutcome.INSUFFICIENT
    )


async def test_daily_spend_limit_counts_todays_charges_and_live_reservations(
    engine: AsyncEngine, store: Reservations
) -> None:
    account = await _account(engine, "100", daily="1.00")
    async with engine.begin() as connection:
        for when, amount in (
            (DAY - timedelta(hours=1), "5.00"),
            (DAY + timedelta(hours=1), "0.40"),
        ):
            await connection.execute(
                insert(LedgerEntry).values(
                    account_id=account,
                    kind=LedgerKind.CALL_CHARGE,
                    amount=-D(amount),
                    balance_after=D("100"),
                    occurred_at=when,
                    memo="",
                )
            )
    # Yesterday's 5.00 does not count; today's 0.40 does: 0.60 left today.
    assert await store.reserve("a", account, D("0.50"), 60, day_start=DAY) is (
        ReserveOutcome.RESERVED
    )
    assert await store.reserve("b", account, D("0.20"), 60, day_start=DAY) is (
        ReserveOutcome.DAILY_LIMIT
    )
    room = await store.headroom(account, day_start=DAY)
    assert room is not None and room.daily == D("0.10") and room.amount == D("0.10")


async def test_extend_adds_to_the_reservation_and_refuses_past_the_balance(
    engine: AsyncEngine, store: Reservations
) -> None:
    account = await _account(engine, "1.00")
    await store.reserve("a", account, D("0.40"), 120, day_start=DAY)
    assert await store.extend("a", account, D("0.40"), 240, day_start=DAY) is (
        ReserveOutcome.RESERVED
    )
    assert await store.extend("a", account, D("0.40"), 360, day_start=DAY) is (
        ReserveOutcome.INSUFFICIENT
    )
    assert await _state(engine, account) == (D("1.00"), D("0.80"), D("0.80"))
    async with engine.connect() as connection:
        seconds = (
            await connection.execute(select(Reservation.seconds).where(Reservation.ref == "a"))
        ).scalar_one()
    assert seconds == 240  # the refused extension changed nothing
    assert await store.extend("gone", account, D("0.10"), 60, day_start=DAY) is (
        ReserveOutcome.GONE
    )


def _cdr(ref: str, account: int | None, fee: str, end: datetime = NOW) -> dict[str, Any]:
    return {"record_id": ref, "account_id": account, "fee": D(fee), "end_time": end, "callee": "44"}


async def test_settling_charges_once_and_releases_the_reservation(
    engine: AsyncEngine, store: Reservations
) -> None:
    account = await _account(engine, "1.00")
    await store.reserve("a", account, D("0.60"), 120, day_start=DAY)
    await store.reserve("b", account, D("0.30"), 60, day_start=DAY)
    rows = [_cdr("a", account, "0.4500"), _cdr("b", account, "0"), _cdr("x", None, "9")]
    for _ in range(3):  # the batch and two replays of it
        async with engine.begin() as connection:
            await settle_rows(connection, rows)
    assert await _state(engine, account) == (D("0.55"), D("0"), D("0"))
    async with engine.connect() as connection:
        ledger = (
            await connection.execute(
                select(LedgerEntry.amount, LedgerEntry.balance_after, LedgerEntry.call_ref).where(
                    LedgerEntry.account_id == account
                )
            )
        ).all()
    assert [tuple(row) for row in ledger] == [(D("-0.45"), D("0.55"), "a")]


async def test_release_node_gives_back_only_that_nodes_reservations(engine: AsyncEngine) -> None:
    account = await _account(engine, "1.00")
    mine, other = Reservations(engine, "node-a"), Reservations(engine, "node-b")
    await mine.reserve("a", account, D("0.10"), 60, day_start=DAY)
    await mine.reserve("b", account, D("0.20"), 60, day_start=DAY)
    await other.reserve("c", account, D("0.30"), 60, day_start=DAY)
    assert await mine.release_node() == 2
    assert await _state(engine, account) == (D("1.00"), D("0.30"), D("0.30"))


async def test_concurrent_reservations_of_several_engines_never_overdraw(
    database_url: str, engine: AsyncEngine
) -> None:
    """Three engines (three connection pools, as three switch processes have) race 40 calls
    each for one account that can pay 25 of them."""
    account = await _account(engine, "2.50")
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        stores = [Reservations(e, f"node-{i}") for i, e in enumerate(engines)]
        results = await asyncio.gather(
            *(
                s.reserve(f"{n}-{i}", account, D("0.10"), 60, day_start=DAY)
                for n, s in enumerate(stores)
                for i in range(40)
            ),
            return_exceptions=True,
        )
    finally:
        for e in engines:
            await e.dispose()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert results.count(ReserveOutcome.RESERVED) == 25
    assert await _state(engine, account) == (D("2.50"), D("2.50"), D("2.50"))


_RACER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    from decimal import Decimal
    from softswitch.balance import Reservations, ReserveOutcome
    from softswitch.storage import create_engine

    async def main() -> None:
        url, node, account = sys.argv[1], sys.argv[2], int(sys.argv[3])
        engine = create_engine(url)
        store = Reservations(engine, node)
        day = datetime(2026, 11, 25, tzinfo=UTC)
        got = 0
        for i in range(30):
            ref = f"{node}-{i}"
            outcome = await store.reserve(ref, account, Decimal("0.10"), 60, day_start=day)
            got += outcome is ReserveOutcome.RESERVED
        await engine.dispose()
        print(got)

    asyncio.run(main())
    """
)


async def test_several_processes_share_one_balance(database_url: str, engine: AsyncEngine) -> None:
    """Real OS processes, each with its own engine, reserve from one account at once."""
    account = await _account(engine, "3.00")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, database_url, f"proc-{n}", str(account)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(3)
    ]
    taken = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        taken += int(out.strip())
    assert taken == 30  # 90 attempts, 3.00 / 0.10
    assert await _state(engine, account) == (D("3.00"), D("3.00"), D("3.00"))
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(Reservation))).scalar()
    assert count == 30


async def test_a_burst_is_decided_in_few_transactions_in_arrival_order(
    engine: AsyncEngine, store: Reservations
) -> None:
    account = await _account(engine, "1.00")
    outcomes = await asyncio.gather(
        *(store.reserve(f"b{i}", account, D("0.10"), 60, day_start=DAY) for i in range(15))
    )
    assert outcomes == [ReserveOutcome.RESERVED] * 10 + [ReserveOutcome.INSUFFICIENT] * 5
    assert store.batches < 15  # group commit: the burst shared transactions
    assert await _state(engine, account) == (D("1.00"), D("1.00"), D("1.00"))


async def test_a_batch_that_lost_a_race_is_decided_again_call_by_call(
    engine: AsyncEngine, store: Reservations, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await _account(engine, "0.25")

    async def raced(batch: object) -> None:
        raise reservations_module._Raced

    monkeypatch.setattr(store, "_decide", raced)
    outcomes = await asyncio.gather(
        *(store.reserve(f"r{i}", account, D("0.10"), 60, day_start=DAY) for i in range(3))
    )
    assert outcomes == [ReserveOutcome.RESERVED] * 2 + [ReserveOutcome.INSUFFICIENT]
    assert await _state(engine, account) == (D("0.25"), D("0.20"), D("0.20"))


async def test_under_load_reservations_a_few_milliseconds_apart_share_a_transaction(
    engine: AsyncEngine, store: Reservations
) -> None:
    """Calls at a few hundred a second arrive milliseconds apart, never together: without the
    gather window each would pay a transaction of its own. A lone call on a quiet switch does
    not wait for it."""
    account = await _account(engine, "10.00")
    assert await store.reserve("lone", account, D("0.10"), 60, day_start=DAY) is (
        ReserveOutcome.RESERVED
    )
    assert store.batches == 1

    async def spaced(i: int) -> ReserveOutcome:
        await asyncio.sleep(i * store.GATHER_S / 8)  # all inside one gather window
        return await store.reserve(f"s{i}", account, D("0.10"), 60, day_start=DAY)

    outcomes = await asyncio.gather(*(spaced(i) for i in range(4)))

    assert outcomes == [ReserveOutcome.RESERVED] * 4
    assert store.batches == 2  # the four shared one transaction
    assert await _state(engine, account) == (D("10.00"), D("0.50"), D("0.50"))


async def test_extensions_of_many_calls_share_transactions_and_keep_the_sums(
    engine: AsyncEngine, store: Reservations
) -> None:
    """Calls answered together reach the end of their first chunk together: their extensions
    are decided in shared transactions, in arrival order, with the same rules one at a time
    would apply (a settled call's extension is GONE, the credit runs out in order)."""
    account = await _account(engine, "5.00")
    for i in range(20):
        assert await store.reserve(f"e{i}", account, D("0.10"), 60, day_start=DAY) is (
            ReserveOutcome.RESERVED
        )
    await store.release("e0")  # this call ended meanwhile
    before = store.batches

    outcomes = await asyncio.gather(
        *(store.extend(f"e{i}", account, D("0.40"), 300, day_start=DAY) for i in range(20))
    )

    # 1.90 held; 3.10 left covers seven more 0.40s, not eight.
    assert outcomes == (
        [ReserveOutcome.GONE] + [ReserveOutcome.RESERVED] * 7 + [ReserveOutcome.INSUFFICIENT] * 12
    )
    assert store.batches - before < 5
    assert await _state(engine, account) == (D("5.00"), D("4.70"), D("4.70"))
