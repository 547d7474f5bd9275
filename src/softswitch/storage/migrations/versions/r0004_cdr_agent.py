"""CDRs carry the agent of their account, indexed with the start time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
    op.create_index(
        op.f("ix_cdrs_agent_id_start_time"), "cdrs", ["agent_id", "start_time"], unique=False
    )
    # Rows written before this revision take their account's current agent.
    op.execute(
        sa.text(
            "UPDATE cdrs SET agent_id = "
            "(SELECT accounts.agent_id FROM accounts WHERE accounts.id = cdrs.account_id) "
            "WHERE account_id IS NOT NULL"
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cdrs_agent_id_start_time"), table_name="cdrs")
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_column("agent_id")
