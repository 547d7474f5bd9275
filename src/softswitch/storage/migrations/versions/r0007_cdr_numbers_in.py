"""CDRs keep the numbers as the caller sent them, beside the ones after the ingress rewrite
(``caller``/``callee``, what routing and rating use) and as sent to the carrier (``*_out``):
an operator tracing a customer's complaint searches for what the customer dialled.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = ("caller_in", "callee_in")


def upgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        for column in _COLUMNS:
            batch.add_column(
                sa.Column(column, sa.String(length=64), server_default="", nullable=False)
            )
    with op.batch_alter_table("cdrs") as batch:
        for column in _COLUMNS:
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
