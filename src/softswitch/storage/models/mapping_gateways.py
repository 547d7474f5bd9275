"""Mapping gateways: customer trunks (ingress). Calls arriving here are billed to its account.

A call is matched to a mapping gateway by source IP (``source_ips``, addresses or CIDRs) and/or
by digest credentials. Rewrite rules are applied in order to caller and callee numbers before
routing; each rule is one line of the rewrite language of ``softswitch.routing.numbers``
(strip/add prefix, regular expression). ``allowed_prefixes`` restricts the callee numbers it may
dial; empty means any.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base, MediaProxyMode, Timestamps, Transport
from softswitch.storage.types import StrList, enum_type

__all__ = ["MappingGateway"]


class MappingGateway(Timestamps, Base):
    """An ingress trunk of one customer account."""

    __tablename__ = "mapping_gateways"
    __table_args__ = (CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    source_ips: Mapped[list[str]] = mapped_column(StrList(), default=list)
    auth_username: Mapped[str | None] = mapped_column(String(64), unique=True)
    auth_password: Mapped[str | None] = mapped_column(String(128))
    capacity: Mapped[int | None] = mapped_column()
    """Line limit: concurrent calls accepted from this trunk; None means unlimited."""
    caller_rewrite: Mapped[list[str]] = mapped_column(StrList(), default=list)
    callee_rewrite: Mapped[list[str]] = mapped_column(StrList(), default=list)
    allowed_prefixes: Mapped[list[str]] = mapped_column(StrList(), default=list)
    media_proxy: Mapped[MediaProxyMode] = mapped_column(
        enum_type(MediaProxyMode, "media_proxy"), default=MediaProxyMode.AUTO
    )
    transport: Mapped[Transport] = mapped_column(
        enum_type(Transport, "transport"), default=Transport.UDP
    )
    enabled: Mapped[bool] = mapped_column(default=True)
