"""Settling finished calls: the charge into the ledger, the reservation released (issue 5 §2).

The CDR writer calls :func:`settle_rows` inside the transaction that inserts a batch of CDRs,
so a call's CDR, its ledger row and its balance change commit together or not at all. The same
batch is delivered again after a crash (the journal replay); settling must then change nothing,
which two keys guarantee:

- the ledger row carries the CDR's ``record_id`` as ``call_ref`` (unique): a call that already
  has its ledger row is not charged again;
- the reservation row is found by the same ref and deleted: one that is gone is not released
  again.

Set-based, because the batch holds the database's write lock (SQLite has one writer): a
statement per call would keep the lock across hundreds of awaits of a busy event loop, and new
calls waiting to reserve credit would time out. A batch costs two statements (delete the
reservations, find the calls already charged), one UPDATE per account touched (balance minus
its fees, reserved minus what its calls held, the account row locked from then on) and one
multi-row INSERT of the ledger rows, whose ``balance_after`` follow the batch's order.

The charge is never refused here: the call happened, and what it may cost was reserved before
it was allowed to run (a prepaid call is cut when its reservation ends and billed at most for
the seconds it reserved).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, delete, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from softswitch.storage.models import Account, LedgerEntry, LedgerKind, Reservation
from softswitch.storage.types import Money, utcnow

__all__ = ["settle_rows"]

_log = logging.getLogger(__name__)
_ZERO = Decimal(0)


async def settle_rows(connection: AsyncConnection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Settle each CDR row (``cdrs`` column values) of an account; the number charged."""
    calls: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        ref = row.get("record_id")
        if row.get("account_id") is not None and ref:
            calls.setdefault(str(ref), row)  # a ref twice in one batch is one call
    if not calls:
        return 0
    refs = list(calls)
    released: dict[int, Decimal] = {}
    for account_id, amount in (
        await connection.execute(
            delete(Reservation)
            .where(Reservation.ref.in_(refs))
            .returning(Reservation.account_id, Reservation.amount)
        )
    ).all():
        released[account_id] = released.get(account_id, _ZERO) + amount
    charged_before = set(
        (
            await connection.execute(
                select(LedgerEntry.call_ref).where(LedgerEntry.call_ref.in_(refs))
            )
        ).scalars()
    )
    charges: dict[int, list[tuple[str, Mapping[str, Any], Decimal]]] = {}
    for ref, row in calls.items():
        fee: Decimal = row.get("fee") or _ZERO
        if fee > 0 and ref not in charged_before:
            charges.setdefault(int(row["account_id"]), []).append((ref, row, fee))
    ledger: list[dict[str, Any]] = []
    for account_id in sorted(set(released) | set(charges)):
        due = charges.get(account_id, [])
        total = sum((fee for _, _, fee in due), _ZERO)
        held = released.get(account_id, _ZERO)
        balance = (
            await connection.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(
                    balance=Account.balance - literal(total, Money()),
                    reserved=case(
                        (
                            Account.reserved >= literal(held, Money()),
                            Account.reserved - literal(held, Money()),
                        ),
                        else_=literal(_ZERO, Money()),
                    ),
                )
                .returning(Account.balance)
            )
        ).scalar_one_or_none()
        if balance is None:
            _log.error("account %s is gone; %d call charges not booked", account_id, len(due))
            continue
        running = balance + total  # the balance before this batch's charges, then each one
        for ref, row, fee in due:
            running -= fee
            occurred: datetime = row.get("end_time") or utcnow()
            ledger.append(
                {
                    "account_id": account_id,
                    "kind": LedgerKind.CALL_CHARGE,
                    "amount": -fee,
                    "balance_after": running,
                    "occurred_at": occurred,
                    "call_ref": ref,
                    "memo": f"call to {row.get('callee', '')}"[:200],
                }
            )
    if ledger:
        await connection.execute(insert(LedgerEntry), ledger)
    return len(ledger)
