"""System parameter overrides: the values operators set, on top of the catalogue defaults.

Only overrides are stored: a parameter absent here has its catalogue default, so a new release
can change a default without a migration. ``value`` is the parameter's text form, parsed and
range-checked by ``softswitch.params`` on load.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base
from softswitch.storage.types import UtcDateTime, utcnow

__all__ = ["ParamOverride"]


class ParamOverride(Base):
    """One overridden system parameter, under its canonical name."""

    __tablename__ = "param_overrides"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
