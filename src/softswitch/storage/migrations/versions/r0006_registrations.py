"""Registrations: the registrar's bindings, persisted across restarts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 15:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("aor", sa.String(length=255), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("phone_id", sa.Integer(), nullable=True),
        sa.Column("routing_gateway_id", sa.Integer(), nullable=True),
        sa.Column("source_transport", sa.String(length=8), nullable=False),
        sa.Column("source_host", sa.String(length=64), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("behind_nat", sa.Boolean(), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("expires", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("q", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("aor", "contact", name=op.f("uq_registrations_aor_contact")),
    )
    op.create_index(
        op.f("ix_registrations_expires_at"), "registrations", ["expires_at"], unique=False
    )
    op.create_index(op.f("ix_registrations_phone_id"), "registrations", ["phone_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_registrations_phone_id"), table_name="registrations")
    op.drop_index(op.f("ix_registrations_expires_at"), table_name="registrations")
    op.drop_table("registrations")
