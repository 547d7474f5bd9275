"""Every aggregate written to and read back from a real, migrated database, on SQLite and on
PostgreSQL (the ``engine``/``session`` fixtures in conftest.py run each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import selectinload

from softswitch.storage import sessions
from softswitch.storage.models import (
    Account,
    AccountStatus,
    Agent,
    AuditEntry,
    BillingMode,
    Cdr,
    LedgerEntry,
    LedgerKind,
    MappingGateway,
    MediaProxyMode,
    OperatorUser,
    ParamOverride,
    Payment,
    PaymentMethod,
    Phone,
    Rate,
    RateTable,
    Registration,
    Role,
    RoutingGateway,
    Transport,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def _fresh(engine: AsyncEngine) -> AsyncSession:
    """A new session, so reads come from the database and not the identity map."""
    return sessions(engine)()


async def _account(session: AsyncSession, code: str = "1001") -> Account:
    account = Account(code=code, currency="USD")
    session.add(account)
    await session.flush()
    return account


async def test_rate_table_and_rates(engine: AsyncEngine, session: AsyncSession) -> None:
    table = RateTable(name="retail", currency="EUR")
    table.rates = [
        Rate(
            prefix="4420",
            area_name="UK London",
            rate_per_minute=Decimal("0.0125"),
            initial_increment=6,
            subsequent_increment=6,
            connection_fee=Decimal("0.05"),
            free_seconds=3,
            effective_from=T0,
            effective_to=T0 + timedelta(days=30),
        ),
        Rate(prefix="1", rate_per_minute=Decimal("0.009"), effective_from=T0),
    ]
    session.add(table)
    await session.commit()

    async with await _fresh(engine) as fresh:
        loaded = (
            await fresh.execute(
                select(RateTable).options(selectinload(RateTable.rates)).filter_by(name="retail")
            )
        ).scalar_one()
        by_prefix = {r.prefix: r for r in loaded.rates}
        london = by_prefix["4420"]
        assert (london.area_name, london.initial_increment, london.subsequent_increment) == (
            "UK London",
            6,
            6,
        )
        assert london.rate_per_minute == Decimal("0.0125")
        assert london.connection_fee == Decimal("0.05")
        assert london.free_seconds == 3
        assert london.effective_from == T0
        assert london.effective_to == T0 + timedelta(days=30)
        usa = by_prefix["1"]
        assert (usa.initial_increment, usa.subsequent_increment, usa.free_seconds) == (60, 60, 0)
        assert usa.connection_fee == Decimal(0)
        assert usa.effective_to is None
        assert loaded.created_at.tzinfo is UTC


async def test_rate_increments_must_be_positive(session: AsyncSession) -> None:
    table = RateTable(name="bad", currency="USD")
    session.add(table)
    await session.flush()
    session.add(
        Rate(
            rate_table_id=table.id,
            prefix="1",
            rate_per_minute=Decimal(1),
            initial_increment=0,
            effective_from=T0,
        )
    )
    with pytest.raises(IntegrityError, match="ck_rates_increments"):
        await session.flush()


async def test_agent_account_and_phones(engine: AsyncEngine, session: AsyncSession) -> None:
    wholesale = RateTable(name="wholesale", currency="USD")
    retail = RateTable(name="retail", currency="USD")
    session.add_all([wholesale, retail])
    await session.flush()
    agent = Agent(name="reseller-a", rate_table_id=wholesale.id)
    account = Account(
        code="2001",
        name="ACME",
        billing_mode=BillingMode.POSTPAID,
        balance=Decimal("-12.345678"),
        credit_limit=Decimal(500),
        currency="USD",
        status=AccountStatus.LOCKED,
        agent=agent,
        rate_table_id=retail.id,
        max_concurrent_calls=30,
        daily_spend_limit=Decimal("100.50"),
        valid_until=T0 + timedelta(days=365),
    )
    account.phones = [
        Phone(
            number="2001001",
            password="s3cret",
            allowed_ips=["203.0.113.0/24"],
            caller_id="+15551234",
            max_concurrent_calls=2,
            media_proxy=MediaProxyMode.MUST_ON,
            behind_nat=True,
        ),
        Phone(
            number="2001002",
            password="pw",
            registration=Registration.STATIC,
            host="198.51.100.7",
            port=5070,
            transport=Transport.TCP,
        ),
    ]
    session.add(account)
    await session.commit()

    async with await _fresh(engine) as fresh:
        loaded = (
            await fresh.execute(
                select(Account)
                .options(selectinload(Account.phones), selectinload(Account.agent))
                .filter_by(code="2001")
            )
        ).scalar_one()
        assert loaded.billing_mode is BillingMode.POSTPAID
        assert loaded.status is AccountStatus.LOCKED
        assert loaded.balance == Decimal("-12.345678")
        assert loaded.credit_limit == Decimal(500)
        assert loaded.daily_spend_limit == Decimal("100.5")
        assert loaded.valid_until == T0 + timedelta(days=365)
        assert loaded.max_concurrent_calls == 30
        assert loaded.agent is not None and loaded.agent.name == "reseller-a"
        assert loaded.agent.rate_table_id == wholesale.id
        assert loaded.rate_table_id == retail.id
        phones = {p.number: p for p in loaded.phones}
        dynamic, static = phones["2001001"], phones["2001002"]
        assert dynamic.registration is Registration.DYNAMIC
        assert dynamic.allowed_ips == ["203.0.113.0/24"]
        assert dynamic.media_proxy is MediaProxyMode.MUST_ON
        assert dynamic.behind_nat is True
        assert (dynamic.caller_id, dynamic.max_concurrent_calls) == ("+15551234", 2)
        assert (static.host, static.port, static.transport) == ("198.51.100.7", 5070, Transport.TCP)
        assert static.allowed_ips == []
        assert static.media_proxy is MediaProxyMode.AUTO
        # Enums are stored as their lower-case values, readable by other tools.
        raw = await fresh.execute(text("SELECT billing_mode, status FROM accounts"))
        assert raw.one() == ("postpaid", "locked")


async def test_account_defaults(session: AsyncSession) -> None:
    account = await _account(session)
    await session.refresh(account)
    assert account.billing_mode is BillingMode.PREPAID
    assert account.status is AccountStatus.ACTIVE
    assert account.balance == Decimal(0) == account.credit_limit
    assert account.max_concurrent_calls is None and account.daily_spend_limit is None


async def test_mapping_gateway(engine: AsyncEngine, session: AsyncSession) -> None:
    account = await _account(session)
    session.add(
        MappingGateway(
            name="acme-trunk",
            account_id=account.id,
            source_ips=["192.0.2.10", "192.0.2.11"],
            auth_username="acme",
            auth_password="pw",
            capacity=120,
            caller_rewrite=["strip:1"],
            callee_rewrite=["s/^00/+/"],
            allowed_prefixes=["44", "49"],
            media_proxy=MediaProxyMode.OFF,
            transport=Transport.TLS,
        )
    )
    await session.commit()
    async with await _fresh(engine) as fresh:
        gateway = (await fresh.execute(select(MappingGateway))).scalar_one()
        assert gateway.source_ips == ["192.0.2.10", "192.0.2.11"]
        assert (gateway.auth_username, gateway.auth_password, gateway.capacity) == (
            "acme",
            "pw",
            120,
        )
        assert gateway.caller_rewrite == ["strip:1"]
        assert gateway.callee_rewrite == ["s/^00/+/"]
        assert gateway.allowed_prefixes == ["44", "49"]
        assert gateway.media_proxy is MediaProxyMode.OFF
        assert gateway.transport is Transport.TLS
        assert gateway.enabled is True


async def test_routing_gateway(engine: AsyncEngine, session: AsyncSession) -> None:
    cost = RateTable(name="carrier-x", currency="USD")
    session.add(cost)
    await session.flush()
    session.add_all(
        [
            RoutingGateway(
                name="carrier-x",
                host="sip.carrier.example",
                port=5060,
                prefixes=["44", "33"],
                priority=1,
                weight=70,
                capacity=300,
                asr_threshold_percent=25,
                callee_rewrite=["add:9"],
                caller_id_rules=["+1{caller}"],
                failover_codes=[486, 503],
                rate_table_id=cost.id,
                register_username="trunk1",
                register_password="reg",
                register_expires=3600,
            ),
            RoutingGateway(
                name="goip-1",
                registration=Registration.DYNAMIC,
                auth_username="goip1",
                auth_password="gsm",
                enabled=False,
            ),
        ]
    )
    await session.commit()
    async with await _fresh(engine) as fresh:
        rows = (await fresh.execute(select(RoutingGateway))).scalars().all()
        gateways = {g.name: g for g in rows}
        carrier, goip = gateways["carrier-x"], gateways["goip-1"]
        assert (carrier.host, carrier.port, carrier.transport) == (
            "sip.carrier.example",
            5060,
            Transport.UDP,
        )
        assert carrier.prefixes == ["44", "33"]
        assert (carrier.priority, carrier.weight, carrier.capacity) == (1, 70, 300)
        assert carrier.asr_threshold_percent == 25
        assert carrier.failover_codes == [486, 503]
        assert carrier.callee_rewrite == ["add:9"] and carrier.caller_rewrite == []
        assert carrier.caller_id_rules == ["+1{caller}"]
        assert carrier.rate_table_id == cost.id
        assert (carrier.register_username, carrier.register_expires) == ("trunk1", 3600)
        assert carrier.registration is Registration.STATIC
        assert goip.registration is Registration.DYNAMIC
        assert (goip.auth_username, goip.enabled, goip.host) == ("goip1", False, None)


async def test_asr_threshold_is_a_percentage(session: AsyncSession) -> None:
    session.add(RoutingGateway(name="bad", asr_threshold_percent=101))
    with pytest.raises(IntegrityError, match="ck_routing_gateways_asr_threshold"):
        await session.flush()


async def test_cdr(engine: AsyncEngine, session: AsyncSession) -> None:
    session.add(
        Cdr(
            call_id="a84b4c76e66710@pc33",
            start_time=T0,
            answer_time=T0 + timedelta(seconds=4),
            end_time=T0 + timedelta(seconds=65, milliseconds=250),
            hold_time_ms=61_250,
            billed_seconds=66,
            account_id=7,
            account_code="1001",
            caller="15551234",
            callee="442071234567",
            callee_out="9442071234567",
            mapping_gateway_id=3,
            mapping_gateway_name="acme-trunk",
            routing_gateway_id=5,
            routing_gateway_name="carrier-x",
            rate_prefix="4420",
            area_name="UK London",
            currency="USD",
            fee=Decimal("0.013750"),
            agent_fee=Decimal("0.011"),
            cost=Decimal("0.0066"),
            termination_reason="normal_clearing",
            sip_status=200,
            hangup_side="callee",
        )
    )
    await session.commit()
    async with await _fresh(engine) as fresh:
        cdr = (await fresh.execute(select(Cdr).where(Cdr.start_time >= T0))).scalar_one()
        assert cdr.id >= 1
        assert cdr.end_time - cdr.start_time == timedelta(seconds=65, milliseconds=250)
        assert cdr.answer_time == T0 + timedelta(seconds=4)
        assert (cdr.hold_time_ms, cdr.billed_seconds) == (61_250, 66)
        assert (cdr.caller, cdr.callee, cdr.callee_out) == (
            "15551234",
            "442071234567",
            "9442071234567",
        )
        assert (cdr.fee, cdr.agent_fee, cdr.cost) == (
            Decimal("0.01375"),
            Decimal("0.011"),
            Decimal("0.0066"),
        )
        assert (cdr.termination_reason, cdr.sip_status, cdr.hangup_side) == (
            "normal_clearing",
            200,
            "callee",
        )
        # No foreign keys: a CDR names an account that need not (or no longer) exist.
        assert cdr.account_id == 7


async def test_cdr_query_indexes_exist(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        indexes = await connection.run_sync(lambda c: inspect(c).get_indexes("cdrs"))
        names = {index["name"] for index in indexes}
    assert {
        "ix_cdrs_start_time",
        "ix_cdrs_account_id_start_time",
        "ix_cdrs_caller_start_time",
        "ix_cdrs_callee_start_time",
        "ix_cdrs_routing_gateway_id_start_time",
        "ix_cdrs_mapping_gateway_id_start_time",
        "ix_cdrs_termination_reason",
    } <= names


async def test_payment_and_ledger(engine: AsyncEngine, session: AsyncSession) -> None:
    account = await _account(session)
    admin = OperatorUser(username="admin", password_hash="$argon2id$x", role=Role.ADMIN)
    session.add(admin)
    await session.flush()
    payment = Payment(
        account_id=account.id,
        amount=Decimal("50"),
        currency="USD",
        method=PaymentMethod.BANK_TRANSFER,
        reference="INV-42",
        operator_user_id=admin.id,
    )
    session.add(payment)
    await session.flush()
    session.add_all(
        [
            LedgerEntry(
                account_id=account.id,
                kind=LedgerKind.TOP_UP,
                amount=Decimal(50),
                balance_after=Decimal(50),
                payment_id=payment.id,
                operator_user_id=admin.id,
                occurred_at=T0,
            ),
            LedgerEntry(
                account_id=account.id,
                kind=LedgerKind.CALL_CHARGE,
                amount=Decimal("-0.013750"),
                balance_after=Decimal("49.98625"),
                cdr_id=1,
                occurred_at=T0 + timedelta(minutes=1),
            ),
            LedgerEntry(
                account_id=account.id,
                kind=LedgerKind.REFUND,
                amount=Decimal("0.01375"),
                balance_after=Decimal(50),
                occurred_at=T0 + timedelta(minutes=2),
            ),
            LedgerEntry(
                account_id=account.id,
                kind=LedgerKind.ADJUSTMENT,
                amount=Decimal("-0.000001"),
                balance_after=Decimal("49.999999"),
                memo="rounding correction",
                occurred_at=T0 + timedelta(minutes=3),
            ),
        ]
    )
    await session.commit()
    async with await _fresh(engine) as fresh:
        loaded_payment = (await fresh.execute(select(Payment))).scalar_one()
        assert loaded_payment.amount == Decimal(50)
        assert loaded_payment.method is PaymentMethod.BANK_TRANSFER
        assert loaded_payment.reference == "INV-42"
        assert loaded_payment.paid_at.tzinfo is UTC
        entries = (
            (await fresh.execute(select(LedgerEntry).order_by(LedgerEntry.occurred_at)))
            .scalars()
            .all()
        )
        assert [e.kind for e in entries] == [
            LedgerKind.TOP_UP,
            LedgerKind.CALL_CHARGE,
            LedgerKind.REFUND,
            LedgerKind.ADJUSTMENT,
        ]
        # The ledger alone reproduces the balance: each row applies to the previous one.
        balance = Decimal(0)
        for entry in entries:
            balance += entry.amount
            assert entry.balance_after == balance
        assert entries[0].payment_id == loaded_payment.id
        assert entries[1].cdr_id == 1


async def test_operator_users_and_role_scope(engine: AsyncEngine, session: AsyncSession) -> None:
    account = await _account(session)
    agent = Agent(name="reseller")
    session.add(agent)
    await session.flush()
    locked = T0 + timedelta(minutes=15)
    session.add_all(
        [
            OperatorUser(username="ops", password_hash="h1", role=Role.OPERATOR),
            OperatorUser(username="agent", password_hash="h2", role=Role.AGENT, agent_id=agent.id),
            OperatorUser(
                username="cust",
                password_hash="h3",
                role=Role.CUSTOMER,
                account_id=account.id,
                failed_logins=5,
                locked_until=locked,
            ),
        ]
    )
    await session.commit()
    async with await _fresh(engine) as fresh:
        users = {u.username: u for u in (await fresh.execute(select(OperatorUser))).scalars()}
        assert users["ops"].role is Role.OPERATOR
        assert users["agent"].agent_id == agent.id
        assert users["cust"].account_id == account.id
        assert (users["cust"].failed_logins, users["cust"].locked_until) == (5, locked)
        assert users["ops"].enabled is True and users["ops"].last_login_at is None


@pytest.mark.parametrize("role", [Role.AGENT, Role.CUSTOMER])
async def test_scoped_role_without_scope_is_refused(session: AsyncSession, role: Role) -> None:
    session.add(OperatorUser(username="x", password_hash="h", role=role))
    with pytest.raises(IntegrityError, match=f"ck_operator_users_{role.value}_scope"):
        await session.flush()


async def test_audit_log(engine: AsyncEngine, session: AsyncSession) -> None:
    user = OperatorUser(username="admin", password_hash="h", role=Role.ADMIN)
    session.add(user)
    await session.flush()
    session.add(
        AuditEntry(
            user_id=user.id,
            username="admin",
            action="update",
            entity="account",
            entity_id="1001",
            before={"balance": "0.000000", "status": "active"},
            after={"balance": "10.000000", "status": "locked"},
            remote_addr="127.0.0.1",
        )
    )
    await session.commit()
    await session.delete(user)
    await session.commit()
    async with await _fresh(engine) as fresh:
        entry = (await fresh.execute(select(AuditEntry))).scalar_one()
        assert entry.before == {"balance": "0.000000", "status": "active"}
        assert entry.after == {"balance": "10.000000", "status": "locked"}
        assert (entry.action, entry.entity, entry.entity_id) == ("update", "account", "1001")
        # Deleting the user keeps the row and who it was.
        assert entry.user_id is None and entry.username == "admin"
        assert entry.occurred_at.tzinfo is UTC


async def test_param_overrides(engine: AsyncEngine, session: AsyncSession) -> None:
    session.add(ParamOverride(name="SS_SIP_RESEND_INTERVAL", value="500,1000", updated_by="ops"))
    await session.commit()
    override = await session.get(ParamOverride, "SS_SIP_RESEND_INTERVAL")
    assert override is not None
    override.value = "250"
    await session.commit()
    async with await _fresh(engine) as fresh:
        loaded = await fresh.get(ParamOverride, "SS_SIP_RESEND_INTERVAL")
        assert loaded is not None
        assert (loaded.value, loaded.updated_by) == ("250", "ops")
        assert loaded.updated_at.tzinfo is UTC
