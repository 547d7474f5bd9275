"""Static black- and whitelists (issue 6 §1): ``security_list_entries``.

One row per entry: ``list_type`` (blacklist/whitelist), ``kind`` (caller/callee/ip), the
canonical ``value`` (a number prefix or a CIDR network), ``account_id`` (NULL: global) and a
``note``. No two entries share list, kind, account and value: a unique constraint for the
per-account entries, and a partial unique index for the global ones (NULLs never collide in
a unique constraint, on SQLite or PostgreSQL).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_GLOBAL = "account_id IS NULL"


def upgrade() -> None:
    op.create_table(
        "security_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_type", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "list_type IN ('blacklist', 'whitelist')",
            name=op.f("ck_security_list_entries_list_type"),
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "kind IN ('caller', 'callee', 'ip')", name=op.f("ck_security_list_entries_kind")
        ),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_security_list_entries_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_list_entries")),
        sa.UniqueConstraint(
            "list_type",
            "kind",
            "account_id",
            "value",
            name=op.f("uq_security_list_entries_list_type_kind_account_id_value"),
        ),
    )
    op.create_index(
        op.f("ix_security_list_entries_account_id"), "security_list_entries", ["account_id"]
    )
    op.create_index(
        op.f("uq_security_list_entries_global"),
        "security_list_entries",
        ["list_type", "kind", "value"],
        unique=True,
        sqlite_where=sa.text(_GLOBAL),
        postgresql_where=sa.text(_GLOBAL),
    )


def downgrade() -> None:
    op.drop_index(op.f("uq_security_list_entries_global"), table_name="security_list_entries")
    op.drop_index(op.f("ix_security_list_entries_account_id"), table_name="security_list_entries")
    op.drop_table("security_list_entries")
