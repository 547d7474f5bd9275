"""Phones: SIP users (devices or softphones) that call on an account's behalf."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from softswitch.storage.models.base import Base, MediaProxyMode, Registration, Timestamps, Transport
from softswitch.storage.types import StrList, enum_type

if TYPE_CHECKING:
    from softswitch.storage.models.accounts import Account

__all__ = ["Phone"]


class Phone(Timestamps, Base):
    """A SIP user. ``number`` is both the digest username and the dialable number.

    The password is kept as given because digest authentication (RFC 8760 §2) needs the secret
    itself for each algorithm offered; protect the database accordingly. A ``static`` phone is
    reached at ``host``/``port``; a ``dynamic`` one registers. ``allowed_ips`` (addresses or
    CIDRs) restricts where it may call from; empty means anywhere.
    """

    __tablename__ = "phones"
    __table_args__ = (
        CheckConstraint("max_concurrent_calls IS NULL OR max_concurrent_calls >= 0", name="mcc"),
        CheckConstraint("port IS NULL OR (port > 0 AND port < 65536)", name="port"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    password: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    registration: Mapped[Registration] = mapped_column(
        enum_type(Registration, "registration"), default=Registration.DYNAMIC
    )
    host: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column()
    transport: Mapped[Transport] = mapped_column(
        enum_type(Transport, "transport"), default=Transport.UDP
    )
    allowed_ips: Mapped[list[str]] = mapped_column(StrList(), default=list)
    caller_id: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    max_concurrent_calls: Mapped[int | None] = mapped_column()
    media_proxy: Mapped[MediaProxyMode] = mapped_column(
        enum_type(MediaProxyMode, "media_proxy"), default=MediaProxyMode.AUTO
    )
    behind_nat: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)

    account: Mapped[Account] = relationship(back_populates="phones")
