"""Payments and balance adjustments: every change of a balance an operator makes, single or in
a batch (issue 3, section 2).

Each movement is one ledger row (``softswitch.storage.models.ledger``) whose ``balance_after``
the account balance equals once it applied. A payment (top-up, positive) or refund (negative)
also keeps a payment row with its commercial facts (method, reference); an adjustment — an
operator's correction — is a ledger row only, and needs a memo saying why.

Concurrency: the balance is never read, changed in Python and written back. One conditional
``UPDATE accounts SET balance = balance + :amount WHERE … RETURNING balance`` both applies the
amount and enforces the floor (0 for prepaid, minus the credit limit for postpaid), so two
concurrent top-ups cannot lose one, and two concurrent debits cannot together overdraw: on
PostgreSQL the row lock orders them and the second re-evaluates the condition on the committed
balance; SQLite has one writer at a time. The ledger row is written after the UPDATE, while the
row is locked, so ledger ids follow the balance order of each account.

Credit held by live calls (``accounts.reserved``, issue 5) is not the operator's to give back: a
debit must leave ``balance - reserved`` at or above the floor, or a refund could take money a
call in progress was promised, and that call would then settle below the floor. The same
conditional UPDATE checks it, against the reserved amount of the moment (the call path changes
it with statements on the same row, so the row lock orders the two).

Who may do what (``softswitch.operators.policy``, ``Resource.PAYMENT``): admins and operators,
any account; an agent may record payments and refunds for the accounts under its agent and read
them; a customer may read its own account's payments and ledger. Adjustments are for admins and
operators only: a reseller corrects its customers' balances with a payment or refund it can
account for. An account the actor may not see does not exist for it (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, case, false, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from softswitch.manage.context import ManageContext, Who
from softswitch.manage.errors import Forbidden, Invalid, NotFound
from softswitch.manage.listing import Page, page_of
from softswitch.manage.payment_csv import LineError, PaymentLine, parse_amount
from softswitch.operators import Action, Actor, Resource, Role, Target, can
from softswitch.operators.policy import ScopeKind, visible_scope
from softswitch.storage.models import (
    Account,
    BillingMode,
    LedgerEntry,
    LedgerKind,
    Payment,
    PaymentMethod,
)
from softswitch.storage.repos import record_audit, record_change
from softswitch.storage.types import Money

__all__ = ["MAX_BALANCE", "BulkResult", "PaymentFilter", "PaymentService"]

MAX_BALANCE = Decimal(1_000_000_000_000)
"""No balance goes above this: far inside the BIGINT of micro-units, so no engine overflows."""

_MEMO_WIDTH = 2000


@dataclass(frozen=True, slots=True)
class PaymentFilter:
    """What a payment list asks for: an account, a time range [since, until), a method."""

    account_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    method: PaymentMethod | None = None
    page: int = 1
    page_size: int | None = None


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a batch did: how many lines were applied, and every refused line."""

    applied: int
    errors: Sequence[LineError]
    payment_ids: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class _Movement:
    """One balance change to apply, already checked for form."""

    account: Account
    amount: Decimal
    kind: LedgerKind
    memo: str
    method: PaymentMethod = PaymentMethod.OTHER
    reference: str = ""


class _Refused(Exception):
    """A movement the account's limit refuses (a bulk line's error, or a single request's)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _BatchRefused(Exception):
    """Rolls back an all-or-nothing batch that had bad lines."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__(f"{len(errors)} bad lines")
        self.errors = errors


class PaymentService:
    """Payments, refunds, adjustments and their listings for one actor's requests."""

    def __init__(self, ctx: ManageContext) -> None:
        self._ctx = ctx

    # -- single movements --------------------------------------------------------------------

    async def pay(
        self,
        who: Who,
        account_id: int,
        amount: object,
        *,
        currency: str | None = None,
        method: PaymentMethod = PaymentMethod.OTHER,
        reference: str = "",
        memo: str = "",
    ) -> tuple[Payment, LedgerEntry]:
        """Record a payment (positive: a top-up) or a refund (negative) and move the balance.

        ``currency`` defaults to the account's; another currency is refused (no conversion).
        """
        value = _amount(amount)
        async with self._ctx.sessions.begin() as session:
            account = await self._visible(session, who.actor, account_id)
            if not can(who.actor, Action.CREATE, _target(account)):
                raise Forbidden(
                    f"{who.actor.username} ({who.actor.role.value}) may not record payments "
                    f"for account {account.code}"
                )
            if currency is not None and currency != account.currency:
                raise Invalid(
                    f"account {account.code} is kept in {account.currency}, not {currency}: "
                    "convert the amount first",
                    field="currency",
                )
            kind = LedgerKind.TOP_UP if value > 0 else LedgerKind.REFUND
            movement = _Movement(account, value, kind, memo.strip(), method, reference.strip())
            try:
                payment, entry = await self._apply(session, who, movement)
            except _Refused as exc:
                raise Invalid(exc.message, field="amount") from None
            assert payment is not None
        await self._ctx.feed.catch_up()
        return payment, entry

    async def adjust(self, who: Who, account_id: int, amount: object, memo: str) -> LedgerEntry:
        """An operator's correction of a balance (signed), with the memo saying why."""
        value = _amount(amount)
        reason = memo.strip()
        if not reason:
            raise Invalid("say why the balance is adjusted", field="memo")
        if len(reason) > _MEMO_WIDTH:
            raise Invalid(f"the memo is longer than {_MEMO_WIDTH} characters", field="memo")
        async with self._ctx.sessions.begin() as session:
            account = await self._visible(session, who.actor, account_id)
            if who.actor.role not in (Role.ADMIN, Role.OPERATOR):
                raise Forbidden(
                    f"{who.actor.username} ({who.actor.role.value}) may not adjust balances: "
                    "record a payment or refund instead"
                )
            movement = _Movement(account, value, LedgerKind.ADJUSTMENT, reason)
            try:
                _, entry = await self._apply(session, who, movement)
            except _Refused as exc:
                raise Invalid(exc.message, field="amount") from None
        await self._ctx.feed.catch_up()
        return entry

    # -- batches -----------------------------------------------------------------------------

    async def bulk(
        self,
        who: Who,
        lines: Sequence[PaymentLine],
        errors: Sequence[LineError],
        *,
        skip_bad: bool = False,
    ) -> BulkResult:
        """Apply a batch of payments in one transaction.

        All or nothing unless ``skip_bad``: any bad line (``errors`` from parsing, an unknown or
        invisible account, a refused payment, an overdraft) leaves every balance as it was and
        the answer lists every bad line. With ``skip_bad`` the good lines are applied.
        Lines of one account apply in file order, so a refund after a top-up sees the top-up.
        """
        if who.actor.role is Role.CUSTOMER:
            raise Forbidden(f"{who.actor.username} (customer) may not record payments")
        if not lines and not errors:
            raise Invalid("the batch has no lines", field="file")
        bad = list(errors)
        applied: list[int] = []
        moved: set[int] = set()
        try:
            async with self._ctx.sessions.begin() as session:
                accounts = await self._accounts_by_code(session, {line.account for line in lines})
                checked: list[tuple[PaymentLine, Account]] = []
                for line in lines:
                    account = accounts.get(line.account)
                    if account is None or not can(who.actor, Action.READ, _target(account)):
                        bad.append(_error(line, "account", f"no account {line.account!r}"))
                    elif not can(who.actor, Action.CREATE, _target(account)):
                        message = f"{who.actor.username} may not record payments for it"
                        bad.append(_error(line, "account", message))
                    else:
                        checked.append((line, account))
                # The good lines run even when bad ones were found (and roll back with them),
                # so the answer reports every overdraft too. Accounts are locked in id order
                # (no deadlock between two batches on PostgreSQL); the sort is stable, so one
                # account's lines keep their file order.
                checked.sort(key=lambda pair: pair[1].id)
                for line, account in checked:
                    kind = LedgerKind.TOP_UP if line.amount > 0 else LedgerKind.REFUND
                    memo = line.memo or f"batch line {line.line}"
                    movement = _Movement(
                        account, line.amount, kind, memo, line.method, line.reference
                    )
                    try:
                        payment, _ = await self._apply(session, who, movement, announce=False)
                    except _Refused as exc:
                        bad.append(_error(line, "amount", exc.message))
                        continue
                    assert payment is not None
                    applied.append(payment.id)
                    moved.add(account.id)
                if bad and not skip_bad:
                    raise _BatchRefused(bad)
                # One feed row per account, not per line: the call path reloads an account once.
                now = self._ctx.now()
                for account_id in sorted(moved):
                    record_change(
                        session,
                        entity="account",
                        entity_id=str(account_id),
                        action="update",
                        now=now,
                    )
        except _BatchRefused as refused:
            return BulkResult(0, sorted(refused.errors, key=lambda e: e.line))
        if applied:
            await self._ctx.feed.catch_up()
        return BulkResult(len(applied), sorted(bad, key=lambda e: e.line), applied)

    # -- reading -----------------------------------------------------------------------------

    async def list_payments(self, actor: Actor, query: PaymentFilter) -> Page[Payment]:
        """Payments the actor may see, newest first."""
        statement = self._scoped(select(Payment), actor)
        if query.account_id is not None:
            async with self._ctx.sessions() as session:
                await self._visible(session, actor, query.account_id)
            statement = statement.where(Payment.account_id == query.account_id)
        if query.since is not None:
            statement = statement.where(Payment.paid_at >= query.since)
        if query.until is not None:
            statement = statement.where(Payment.paid_at < query.until)
        if query.method is not None:
            statement = statement.where(Payment.method == query.method)
        statement = statement.order_by(Payment.paid_at.desc(), Payment.id.desc())
        size = self._ctx.page_size(query.page_size)
        async with self._ctx.sessions() as session:
            rows, total = await page_of(session, statement, query.page, size)
        return Page(list(rows), total, query.page, size)

    async def ledger(
        self,
        actor: Actor,
        account_id: int,
        *,
        kind: LedgerKind | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> Page[LedgerEntry]:
        """One account's balance movements, newest first."""
        size = self._ctx.page_size(page_size)
        async with self._ctx.sessions() as session:
            await self._visible(session, actor, account_id)
            statement = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
            if kind is not None:
                statement = statement.where(LedgerEntry.kind == kind)
            statement = statement.order_by(LedgerEntry.id.desc())
            rows, total = await page_of(session, statement, page, size)
        return Page(list(rows), total, page, size)

    # -- internals ---------------------------------------------------------------------------

    async def _visible(self, session: AsyncSession, actor: Actor, account_id: int) -> Account:
        account = await session.get(Account, account_id)
        if account is None or not can(actor, Action.READ, _target(account)):
            raise NotFound(f"no account {account_id}", field="account_id")
        return account

    async def _accounts_by_code(self, session: AsyncSession, codes: set[str]) -> dict[str, Account]:
        found: dict[str, Account] = {}
        ordered = sorted(codes)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            for account in (
                await session.scalars(select(Account).where(Account.code.in_(chunk)))
            ).all():
                found[account.code] = account
        return found

    def _scoped(self, statement: Select[tuple[Payment]], actor: Actor) -> Select[tuple[Payment]]:
        scope = visible_scope(actor)
        if scope.kind is ScopeKind.ALL:
            return statement
        if scope.kind is ScopeKind.AGENT:
            mine = select(Account.id).where(Account.agent_id == scope.id)
            return statement.where(Payment.account_id.in_(mine))
        if scope.kind is ScopeKind.ACCOUNT:
            return statement.where(Payment.account_id == scope.id)
        return statement.where(false())

    async def _apply(
        self, session: AsyncSession, who: Who, movement: _Movement, *, announce: bool = True
    ) -> tuple[Payment | None, LedgerEntry]:
        """Move the balance (refused past the account's floor), then write the rows."""
        now = self._ctx.now()
        account, amount = movement.account, movement.amount
        new_balance = Account.balance + amount
        statement = update(Account).where(Account.id == account.id)
        if amount < 0:
            # Bound as Money (micro-units), like the column they are compared with.
            zero = literal(Decimal(0), Money())
            floor = case(
                (Account.billing_mode == BillingMode.PREPAID, zero), else_=-Account.credit_limit
            )
            statement = statement.where(new_balance - Account.reserved >= floor)
        else:
            statement = statement.where(new_balance <= literal(MAX_BALANCE, Money()))
        statement = (
            statement.values(balance=new_balance, updated_at=now)
            .returning(Account.balance)
            .execution_options(synchronize_session=False)
        )
        balance = (await session.execute(statement)).scalar_one_or_none()
        if balance is None:
            raise _Refused(await self._refusal(session, account, amount))
        payment = None
        if movement.kind is not LedgerKind.ADJUSTMENT:
            payment = Payment(
                account_id=account.id,
                amount=amount,
                currency=account.currency,
                method=movement.method,
                reference=movement.reference,
                paid_at=now,
                operator_user_id=who.actor.user_id,
                memo=movement.memo,
            )
            session.add(payment)
            await session.flush()
        entry = LedgerEntry(
            account_id=account.id,
            kind=movement.kind,
            amount=amount,
            balance_after=balance,
            occurred_at=now,
            payment_id=None if payment is None else payment.id,
            operator_user_id=who.actor.user_id,
            memo=movement.memo,
        )
        session.add(entry)
        await session.flush()
        record_audit(
            session,
            user_id=who.actor.user_id,
            username=who.actor.username,
            action=movement.kind.value,
            entity="account",
            entity_id=str(account.id),
            before={"balance": str(balance - amount)},
            after={
                "balance": str(balance),
                "amount": str(amount),
                "currency": account.currency,
                "ledger_id": entry.id,
                "payment_id": None if payment is None else payment.id,
                "memo": movement.memo,
            },
            now=now,
            remote_addr=who.remote_addr,
        )
        if announce:
            # Authorisation on the call path reads balances from its snapshot: tell it.
            record_change(
                session, entity="account", entity_id=str(account.id), action="update", now=now
            )
        return payment, entry

    async def _refusal(self, session: AsyncSession, account: Account, amount: Decimal) -> str:
        found = (
            await session.execute(
                select(Account.balance, Account.reserved).where(Account.id == account.id)
            )
        ).one()
        current, reserved = found
        shown = f"{current} {account.currency}"
        if amount > 0:
            return f"the balance of account {account.code} ({shown}) would exceed {MAX_BALANCE}"
        held = ""
        if reserved:
            held = f" of which {reserved} is held by live calls"
        if account.billing_mode is BillingMode.PREPAID:
            return (
                f"account {account.code} is prepaid and its balance is {shown}{held}: "
                f"{amount} would take it below zero"
            )
        return (
            f"account {account.code} has a balance of {shown}{held} and a credit limit of "
            f"{account.credit_limit}: {amount} would take it below -{account.credit_limit}"
        )


def _amount(value: object) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise Invalid(str(exc), field="amount") from None


def _target(account: Account) -> Target:
    return Target(Resource.PAYMENT, account_id=account.id, agent_id=account.agent_id)


def _error(line: PaymentLine, field: str, message: str) -> LineError:
    return LineError(line.line, line.account, field, message)
