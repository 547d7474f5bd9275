"""Routing gateways: carriers (egress) the switch sends calls to.

Selection (``softswitch.routing``) takes the gateways whose ``prefixes`` match the callee, orders
them by ``priority`` (lower first), spreads load by ``weight`` among equals, skips those at
``capacity`` or below their ``asr_threshold_percent``, and fails over to the next one when the
answer's status is in ``failover_codes``. A ``dynamic`` gateway (a GSM gateway such as GoIP)
registers to us with ``auth_username``/``auth_password``; a static one is reached at
``host``/``port``/``transport``, optionally after we register to it (``register_*``).
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import (
    Base,
    MediaProxyMode,
    Registration,
    Timestamps,
    Transport,
)
from softswitch.storage.types import IntList, StrList, enum_type

__all__ = ["RoutingGateway"]


class RoutingGateway(Timestamps, Base):
    """An egress carrier trunk. Its rate table is the carrier's cost to us."""

    __tablename__ = "routing_gateways"
    __table_args__ = (
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
        CheckConstraint("weight >= 0", name="weight"),
        CheckConstraint(
            "asr_threshold_percent IS NULL OR "
            "(asr_threshold_percent >= 0 AND asr_threshold_percent <= 100)",
            name="asr_threshold",
        ),
        CheckConstraint("port IS NULL OR (port > 0 AND port < 65536)", name="port"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    registration: Mapped[Registration] = mapped_column(
        enum_type(Registration, "registration"), default=Registration.STATIC
    )
    host: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column()
    transport: Mapped[Transport] = mapped_column(
        enum_type(Transport, "transport"), default=Transport.UDP
    )
    prefixes: Mapped[list[str]] = mapped_column(StrList(), default=list)
    priority: Mapped[int] = mapped_column(default=0)
    weight: Mapped[int] = mapped_column(default=1)
    capacity: Mapped[int | None] = mapped_column()
    """Line limit: concurrent calls sent to this carrier; None means unlimited."""
    asr_threshold_percent: Mapped[int | None] = mapped_column()
    caller_rewrite: Mapped[list[str]] = mapped_column(StrList(), default=list)
    callee_rewrite: Mapped[list[str]] = mapped_column(StrList(), default=list)
    caller_id_rules: Mapped[list[str]] = mapped_column(StrList(), default=list)
    failover_codes: Mapped[list[int]] = mapped_column(IntList(), default=list)
    rate_table_id: Mapped[int | None] = mapped_column(
        ForeignKey("rate_tables.id", ondelete="RESTRICT"), index=True
    )
    media_proxy: Mapped[MediaProxyMode] = mapped_column(
        enum_type(MediaProxyMode, "media_proxy"), default=MediaProxyMode.AUTO
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    auth_username: Mapped[str | None] = mapped_column(String(64), unique=True)
    """Digest username a dynamic gateway registers with."""
    auth_password: Mapped[str | None] = mapped_column(String(128))
    register_username: Mapped[str | None] = mapped_column(String(64))
    """Outbound registration to the carrier; None means we do not register."""
    register_password: Mapped[str | None] = mapped_column(String(128))
    register_expires: Mapped[int | None] = mapped_column()
