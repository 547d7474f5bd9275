"""CDRs gain what the call path records: both legs' Call-IDs, the caller as sent, the first
ringing time, the codec, every gateway attempt, and the writer's record id (unique, so a
journal replay after a crash inserts each record once).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.add_column(sa.Column("record_id", sa.String(length=36), nullable=True))
        batch.add_column(
            sa.Column("call_id_out", sa.String(length=255), server_default="", nullable=False)
        )
        batch.add_column(sa.Column("ring_time", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("caller_out", sa.String(length=64), server_default="", nullable=False)
        )
        batch.add_column(
            sa.Column("codec", sa.String(length=32), server_default="", nullable=False)
        )
        batch.add_column(sa.Column("attempts", sa.JSON(), nullable=True))
        batch.create_unique_constraint(op.f("uq_cdrs_record_id"), ["record_id"])
    op.execute(sa.text("UPDATE cdrs SET attempts = '[]' WHERE attempts IS NULL"))
    with op.batch_alter_table("cdrs") as batch:
        batch.alter_column("attempts", existing_type=sa.JSON(), nullable=False)
        for column in ("call_id_out", "caller_out", "codec"):
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_constraint(op.f("uq_cdrs_record_id"), type_="unique")
        for column in ("attempts", "codec", "caller_out", "ring_time", "call_id_out", "record_id"):
            batch.drop_column(column)
