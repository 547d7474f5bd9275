"""Operator users of the API and console, with their role and the scope the role applies to."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from softswitch.storage.models.base import Base, Timestamps
from softswitch.storage.types import UtcDateTime, enum_type

__all__ = ["OperatorUser", "Role"]


class Role(enum.Enum):
    """``admin`` does everything; ``operator`` all but user management; ``agent`` only its
    accounts; ``customer`` only its own account, phones, CDRs and payments."""

    ADMIN = "admin"
    OPERATOR = "operator"
    AGENT = "agent"
    CUSTOMER = "customer"


class OperatorUser(Timestamps, Base):
    """A login. The password is stored only as a slow hash (argon2/bcrypt, encoded string).

    The CHECK constraints make a scoped role without its scope unrepresentable: an agent user
    names its agent, a customer user its account.
    """

    __tablename__ = "operator_users"
    __table_args__ = (
        CheckConstraint("role <> 'agent' OR agent_id IS NOT NULL", name="agent_scope"),
        CheckConstraint("role <> 'customer' OR account_id IS NOT NULL", name="customer_scope"),
        CheckConstraint("failed_logins >= 0", name="failed_logins"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
