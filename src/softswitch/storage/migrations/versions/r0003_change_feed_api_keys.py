"""The change feed followed by the running switch, and API keys beside login tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "change_feed",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_feed")),
    )
    op.create_index(
        op.f("ix_change_feed_occurred_at"), "change_feed", ["occurred_at"], unique=False
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch.add_column(
            sa.Column("kind", sa.String(length=16), server_default="session", nullable=False)
        )
        batch.add_column(sa.Column("name", sa.String(length=64), server_default="", nullable=False))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM api_tokens WHERE expires_at IS NULL"))
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("name")
        batch.drop_column("kind")
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.drop_index(op.f("ix_change_feed_occurred_at"), table_name="change_feed")
    op.drop_table("change_feed")
