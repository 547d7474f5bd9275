"""Agents (resellers), accounts (customers) and phones (SIP users): their schemas and specs.

Field meanings follow the VOS3000 guide operators know; the storage models document each column.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from softswitch.manage.entities import Dependent, EntitySpec, Owner, Reference
from softswitch.manage.errors import Invalid
from softswitch.manage.fields import (
    Code,
    Count,
    Currency,
    Host,
    Memo,
    Name,
    NonNegativeMoney,
    RowId,
    Secret,
    SourceList,
    Username,
    partial,
)
from softswitch.operators import Actor, Resource, Role
from softswitch.storage.models import (
    Account,
    AccountStatus,
    Agent,
    BillingMode,
    LedgerEntry,
    MappingGateway,
    MediaProxyMode,
    OperatorUser,
    Payment,
    Phone,
    RateTable,
    Registration,
    Reservation,
    RoutingMode,
    SecurityListEntry,
    Transport,
)

__all__ = ["ACCOUNT", "AGENT", "PHONE", "generate_sip_password"]

_SIP_PASSWORD_BYTES = 12


def generate_sip_password() -> str:
    """A random SIP digest password (16 URL-safe characters, 96 bits)."""
    return secrets.token_urlsafe(_SIP_PASSWORD_BYTES)


# -- agents ----------------------------------------------------------------------------------


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Code
    rate_table_id: RowId | None = Field(default=None, description="what the operator charges it")
    enabled: bool = True
    memo: Memo = ""


class AgentOut(AgentCreate):
    model_config = ConfigDict(extra="ignore")

    id: int
    created_at: datetime
    updated_at: datetime


AGENT = EntitySpec(
    name="agent",
    title="agent",
    model=Agent,
    resource=Resource.AGENT,
    create=AgentCreate,
    update=partial(AgentCreate, "AgentUpdate"),
    out=AgentOut,
    natural_key="name",
    owner=Owner.AGENT_SELF,
    unique=(("name",),),
    references=(Reference("rate_table_id", RateTable, "rate table"),),
    dependents=(
        Dependent(Account, "agent_id", "account"),
        Dependent(OperatorUser, "agent_id", "login"),
    ),
    filters=("name", "enabled", "rate_table_id"),
    sorts=("id", "name", "created_at"),
    default_sort="name",
)


# -- accounts --------------------------------------------------------------------------------


class AccountFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = ""
    billing_mode: BillingMode = BillingMode.PREPAID
    credit_limit: NonNegativeMoney = Field(
        default=Decimal(0), description="postpaid overdraft: how far below zero it may go"
    )
    currency: Currency
    status: AccountStatus = AccountStatus.ACTIVE
    agent_id: RowId | None = None
    rate_table_id: RowId | None = None
    max_concurrent_calls: Count | None = Field(default=None, description="null: unlimited")
    daily_spend_limit: NonNegativeMoney | None = Field(default=None, description="null: none")
    valid_until: AwareDatetime | None = None
    routing_mode: RoutingMode = Field(
        default=RoutingMode.PRIORITY,
        description="priority: gateways in their routing order; least_cost: cheapest carrier first",
    )
    lcr_min_margin: NonNegativeMoney = Field(
        default=Decimal(0),
        description="least-cost routing skips a carrier whose per-minute cost is above the "
        "account's per-minute price minus this",
    )
    memo: Memo = ""


class AccountCreate(AccountFields):
    code: Code = Field(description="the account number operators and CSV files use")


class AccountOut(AccountCreate):
    """An account; ``balance`` changes only through payments, adjustments and calls, and
    ``reserved`` (credit held by its live calls) only through the call path: neither is a field
    a create or update may set."""

    model_config = ConfigDict(extra="ignore")

    id: int
    balance: Decimal
    reserved: Decimal = Field(description="credit held by live calls (read-only)")
    created_at: datetime
    updated_at: datetime


def _prepare_account(values: dict[str, Any], actor: Actor, now: datetime) -> None:
    # An agent's login creates accounts under its own agent unless it names it.
    if actor.role is Role.AGENT and values.get("agent_id") is None:
        values["agent_id"] = actor.agent_id


ACCOUNT = EntitySpec(
    name="account",
    title="account",
    model=Account,
    resource=Resource.ACCOUNT,
    create=AccountCreate,
    update=partial(AccountCreate, "AccountUpdate"),
    out=AccountOut,
    natural_key="code",
    owner=Owner.ACCOUNT_SELF,
    unique=(("code",),),
    references=(
        Reference("agent_id", Agent, "agent"),
        Reference("rate_table_id", RateTable, "rate table"),
    ),
    dependents=(
        Dependent(Phone, "account_id", "phone"),
        Dependent(MappingGateway, "account_id", "mapping gateway"),
        Dependent(Payment, "account_id", "payment"),
        Dependent(LedgerEntry, "account_id", "ledger entry"),
        Dependent(Reservation, "account_id", "live call reservation"),
        Dependent(SecurityListEntry, "account_id", "security list entry"),
    ),
    filters=(
        "code",
        "name",
        "status",
        "billing_mode",
        "agent_id",
        "rate_table_id",
        "currency",
        "routing_mode",
    ),
    sorts=("id", "code", "name", "balance", "reserved", "status", "created_at", "valid_until"),
    default_sort="code",
    prepare=_prepare_account,
)


# -- phones ----------------------------------------------------------------------------------


class PhoneFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: RowId
    registration: Registration = Field(
        default=Registration.DYNAMIC, description="dynamic: it registers; static: host/port"
    )
    host: Host | None = None
    port: int | None = Field(default=None, gt=0, lt=65536)
    transport: Transport = Transport.UDP
    allowed_ips: SourceList = Field(default_factory=list, description="empty: anywhere")
    caller_id: Username | None = None
    display_name: Name = ""
    max_concurrent_calls: Count | None = Field(default=None, description="null: unlimited")
    media_proxy: MediaProxyMode = MediaProxyMode.AUTO
    behind_nat: bool = False
    enabled: bool = True


class PhoneCreate(PhoneFields):
    number: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[0-9A-Za-z+*#._-]+$",
        description="the SIP username and the number it is called at",
    )
    password: Secret | None = Field(default=None, description="omit to have one generated")


class PhoneOut(PhoneFields):
    model_config = ConfigDict(extra="ignore")

    id: int
    number: str
    password: str
    created_at: datetime
    updated_at: datetime


def _prepare_phone(values: dict[str, Any], actor: Actor, now: datetime) -> None:
    if not values.get("password"):
        values["password"] = generate_sip_password()


def _check_phone(values: Mapping[str, Any]) -> None:
    if values.get("registration") is Registration.STATIC and not values.get("host"):
        raise Invalid("a static phone needs the host it is reached at", field="host")


PHONE = EntitySpec(
    name="phone",
    title="phone",
    model=Phone,
    resource=Resource.PHONE,
    create=PhoneCreate,
    update=partial(PhoneCreate, "PhoneUpdate"),
    out=PhoneOut,
    natural_key="number",
    owner=Owner.ACCOUNT_CHILD,
    unique=(("number",),),
    references=(Reference("account_id", Account, "account"),),
    filters=("number", "account_id", "registration", "enabled", "display_name"),
    sorts=("id", "number", "account_id", "created_at"),
    default_sort="number",
    secrets=frozenset({"password"}),
    prepare=_prepare_phone,
    check=_check_phone,
)
