"""Declarative base and the columns every aggregate shares.

The naming convention gives every index and constraint a deterministic name, so migrations can
refer to them by name on both engines and autogenerate never sees spurious differences.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from softswitch.storage.types import UtcDateTime, utcnow

__all__ = ["NAMING_CONVENTION", "Base", "MediaProxyMode", "Registration", "Timestamps", "Transport"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; ``Base.metadata`` is what the migrations must match."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamps:
    """Creation and last-change times, in UTC, set by the application (not the database clock)."""

    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class MediaProxyMode(enum.Enum):
    """Whether RTP is relayed through the switch (VOS3000 "media proxy": Off/On/Auto/Must On).

    ``auto`` decides per call (NAT, codec mismatch); ``must_on`` forces the relay even where the
    other side of the call asks for it off.
    """

    OFF = "off"
    ON = "on"
    AUTO = "auto"
    MUST_ON = "must_on"


class Transport(enum.Enum):
    """SIP transport towards a device or carrier."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


class Registration(enum.Enum):
    """How the switch learns a device's address.

    ``static``: a configured host/port (or source IPs); ``dynamic``: the device registers to us
    (a SIP phone, or a GSM gateway such as GoIP acting as a carrier).
    """

    STATIC = "static"
    DYNAMIC = "dynamic"
