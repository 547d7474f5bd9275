"""Settling finished calls: the charge into the ledger, the reservation released (issue 5 §2).

The CDR writer calls :func:`settle_rows` inside the transaction that inserts a batch of CDRs,
so a call's CDR, its ledger row and its balance change commit together or not at all. The same
batch is delivered again after a crash (the journal replay); settling must then change nothing,
which two keys guarantee:

- the ledger row carries the CDR's ``record_id`` as ``call_ref`` (unique): a call that already
  has its ledger row is not charged again;
- the reservation row is found by the same ref and deleted: one that is gone is not released
  again.

Order within one call: release the reservation (``reserved - held``), charge the fee
(``balance - fee``), then write the ledger row with the balance it left (``balance_after``), all
while the account row is locked by the first UPDATE. The charge is never refused here: the
call happened, and what it may cost was reserved before it was allowed to run (a prepaid call
is cut when its reservation ends and billed at most for the seconds it reserved).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from softswitch.balance.reservations import release_ref
from softswitch.storage.models import Account, LedgerEntry, LedgerKind
from softswitch.storage.types import Money, utcnow

__all__ = ["settle_rows"]

_log = logging.getLogger(__name__)
_ZERO = Decimal(0)


async def settle_rows(connection: AsyncConnection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Settle each CDR row (``cdrs`` column values) of an account; the number charged."""
    charged = 0
    for row in rows:
        account_id = row.get("account_id")
        ref = row.get("record_id")
        if account_id is None or not ref:
            continue
        fee: Decimal = row.get("fee") or _ZERO
        if fee > 0 and await _charge(connection, account_id, str(ref), fee, row):
            charged += 1
            continue
        await release_ref(connection, str(ref))
    return charged


async def _charge(
    connection: AsyncConnection, account_id: int, ref: str, fee: Decimal, row: Mapping[str, Any]
) -> bool:
    """Charge ``fee`` once for ``ref``; False when it was charged before (a replay)."""
    done = (
        await connection.execute(select(LedgerEntry.id).where(LedgerEntry.call_ref == ref))
    ).first()
    if done is not None:
        return False
    await release_ref(connection, ref)
    # release_ref took the reservation off ``reserved`` already; the charge moves the balance.
    balance = (
        await connection.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(balance=Account.balance - literal(fee, Money()))
            .returning(Account.balance)
        )
    ).scalar_one_or_none()
    if balance is None:
        _log.error("call %s: account %s is gone; its charge %s is not booked", ref, account_id, fee)
        return True
    occurred: datetime = row.get("end_time") or utcnow()
    await connection.execute(
        insert(LedgerEntry).values(
            account_id=account_id,
            kind=LedgerKind.CALL_CHARGE,
            amount=-fee,
            balance_after=balance,
            occurred_at=occurred,
            call_ref=ref,
            memo=f"call to {row.get('callee', '')}"[:200],
        )
    )
    return True
