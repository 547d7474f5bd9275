"""Static black- and whitelists: numbers and addresses operators block or trust (issue 6 §1).

One row is one entry: a number prefix (``caller`` or ``callee``) or an address/network
(``ip``, CIDR) on the ``blacklist`` or the ``whitelist``, for every call (``account_id`` NULL)
or for one account's calls. ``softswitch.security.lists`` says what the lists mean; the call
path reads them from its snapshot, never from here.
"""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base, Timestamps
from softswitch.storage.types import enum_type

__all__ = ["SecurityEntryKind", "SecurityListEntry", "SecurityListType"]


class SecurityListType(enum.Enum):
    """Which list an entry is on: a blacklist entry blocks, a whitelist entry exempts."""

    BLACKLIST = "blacklist"
    WHITELIST = "whitelist"


class SecurityEntryKind(enum.Enum):
    """What an entry's value is matched against."""

    CALLER = "caller"
    """The caller's number, by prefix."""
    CALLEE = "callee"
    """The called number, by prefix."""
    IP = "ip"
    """The source address of SIP packets, by network."""


_GLOBAL = "account_id IS NULL"


class SecurityListEntry(Timestamps, Base):
    """One entry of the static lists.

    ``value`` is stored canonical (``parse_entry_value``): a prefix of digits with an optional
    leading ``+``, or a network in CIDR form (``10.0.0.1`` is kept as ``10.0.0.1/32``), so two
    spellings of one entry are one row. No two entries share list, kind, account and value:
    the unique constraint covers the per-account entries, and since NULLs never collide in SQL,
    a partial unique index covers the global ones.
    """

    __tablename__ = "security_list_entries"
    __table_args__ = (
        UniqueConstraint("list_type", "kind", "account_id", "value"),
        Index(
            "uq_security_list_entries_global",
            "list_type",
            "kind",
            "value",
            unique=True,
            sqlite_where=text(_GLOBAL),
            postgresql_where=text(_GLOBAL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_type: Mapped[SecurityListType] = mapped_column(enum_type(SecurityListType, "list_type"))
    kind: Mapped[SecurityEntryKind] = mapped_column(enum_type(SecurityEntryKind, "kind"))
    value: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    """The account whose calls the entry applies to; NULL: every call."""
    note: Mapped[str] = mapped_column(String(128), default="")
    """Why the entry is there (free text for operators)."""
