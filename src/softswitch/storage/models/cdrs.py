"""Call detail records: one row per call attempt, written in batches by the call path.

The table is write-optimised: no foreign keys (a CDR must be writable without locking or even
finding its account, and must survive the deletion of that account or gateway), names copied
beside ids so a record still reads correctly after renames, and only the indexes the CDR query
filters need (start time, account, caller, callee, gateways, termination reason).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import BigId, Money, UtcDateTime

__all__ = ["Cdr"]


class Cdr(Base):
    """A finished call attempt, answered or not.

    ``termination_reason`` is the call-control cause name (e.g. ``normal_clearing``,
    ``no_route``, ``balance_insufficient``); ``sip_status`` is the final SIP status seen, if any;
    ``hangup_side`` says who ended it (``caller``, ``callee`` or ``system``).
    """

    __tablename__ = "cdrs"
    __table_args__ = (
        Index(None, "start_time"),
        Index(None, "account_id", "start_time"),
        Index(None, "agent_id", "start_time"),
        Index(None, "caller", "start_time"),
        Index(None, "callee", "start_time"),
        Index(None, "routing_gateway_id", "start_time"),
        Index(None, "mapping_gateway_id", "start_time"),
        Index(None, "termination_reason"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    """The writer's id of the record (a UUID): replaying the journal after a crash inserts a
    record at most once. None only for rows written before the journal existed."""
    call_id: Mapped[str] = mapped_column(String(255))
    """Call-ID of the caller's leg."""
    call_id_out: Mapped[str] = mapped_column(String(255), default="")
    """Call-ID of the leg to the carrier (or the called phone); empty when none was sent."""
    start_time: Mapped[datetime] = mapped_column(UtcDateTime())
    ring_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """First 180/183 from the callee side."""
    answer_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_time: Mapped[datetime] = mapped_column(UtcDateTime())
    hold_time_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    billed_seconds: Mapped[int] = mapped_column(default=0)

    account_id: Mapped[int | None] = mapped_column()
    account_code: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[int | None] = mapped_column()
    """The account's agent when the call was made (copied, like the code): an agent's CDR query
    reads its own index instead of a subquery over its accounts, and a call stays with the
    agent that sold it after the account moves."""
    caller: Mapped[str] = mapped_column(String(64))
    """Caller after the ingress rewrite (the mapping gateway's rules): what rating uses."""
    callee: Mapped[str] = mapped_column(String(64))
    """Callee after the ingress rewrite: what routing and rating use."""
    caller_in: Mapped[str] = mapped_column(String(64), default="")
    """Caller as received (the From user), before any rewrite."""
    callee_in: Mapped[str] = mapped_column(String(64), default="")
    """Callee as dialled (the Request-URI user), before any rewrite."""
    caller_out: Mapped[str] = mapped_column(String(64), default="")
    """Caller as sent to the carrier, after rewrite and caller-ID rules."""
    callee_out: Mapped[str] = mapped_column(String(64), default="")
    """Callee as sent to the carrier, after rewrite rules."""
    caller_ip: Mapped[str] = mapped_column(String(64), default="")
    phone_id: Mapped[int | None] = mapped_column()
    mapping_gateway_id: Mapped[int | None] = mapped_column()
    mapping_gateway_name: Mapped[str] = mapped_column(String(64), default="")
    routing_gateway_id: Mapped[int | None] = mapped_column()
    routing_gateway_name: Mapped[str] = mapped_column(String(64), default="")
    callee_ip: Mapped[str] = mapped_column(String(64), default="")

    rate_prefix: Mapped[str] = mapped_column(String(32), default="")
    area_name: Mapped[str] = mapped_column(String(128), default="")
    currency: Mapped[str] = mapped_column(String(3), default="")
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """What the account was charged."""
    agent_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """What the account's agent is charged, at the agent's rate table."""
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """What the carrier charges us, at the routing gateway's rate table."""
    fee_unrounded: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """The customer's charge before the one rounding (to SERVER_BILLING_FEE_PRECISION places
    and up to SERVER_BILLING_FEE_UNIT), kept to the micro-unit: the audit trail of rounding."""
    profit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    """Per SERVER_BILLING_PROFIT_CALCULATE (by default charge - agent income - cost)."""
    cost_prefix: Mapped[str] = mapped_column(String(32), default="")
    """The carrier rate's prefix that priced ``cost``."""

    codec: Mapped[str] = mapped_column(String(32), default="")
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Every gateway tried, in order: ``{"gateway_id", "gateway": name, "status": SIP status or
    null, "reason"}`` — what an operator reads to see why a call failed over."""
    termination_reason: Mapped[str] = mapped_column(String(64))
    sip_status: Mapped[int | None] = mapped_column()
    hangup_side: Mapped[str] = mapped_column(String(16), default="")
