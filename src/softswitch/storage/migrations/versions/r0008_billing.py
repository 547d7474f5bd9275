"""Real-time billing (issue 5): rate fields, reservations, settlement keys, CDR money fields.

- ``rate_tables``: ``time_of_day_mode`` (answer/split) and ``time_zone`` of the profiles.
- ``rates``: ``first_price``, ``min_duration``, ``profile``; the unique key gains ``profile``
  (one prefix may have a peak and an off-peak price from the same date).
- ``accounts``: ``reserved`` (credit held by live calls), ``routing_mode``, ``lcr_min_margin``.
- ``billing_reservations``: one row per live call holding credit.
- ``ledger_entries.call_ref``: unique, so a call is charged once however often it is settled.
- ``cdrs``: ``fee_unrounded``, ``profit``, ``cost_prefix``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("rate_tables") as batch:
        batch.add_column(
            sa.Column(
                "time_of_day_mode", sa.String(length=8), server_default="answer", nullable=False
            )
        )
        batch.add_column(
            sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False)
        )
        batch.create_check_constraint("time_of_day_mode", "time_of_day_mode IN ('answer', 'split')")
    with op.batch_alter_table("rate_tables") as batch:
        batch.alter_column("time_of_day_mode", server_default=None)
        batch.alter_column("time_zone", server_default=None)

    with op.batch_alter_table("rates") as batch:
        batch.add_column(sa.Column("first_price", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("min_duration", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("profile", sa.String(length=64), server_default="", nullable=False)
        )
        batch.create_check_constraint("min_duration", "min_duration >= 0")
        batch.drop_constraint(op.f("uq_rates_rate_table_id_prefix_effective_from"), type_="unique")
        batch.create_unique_constraint(
            op.f("uq_rates_rate_table_id_prefix_effective_from_profile"),
            ["rate_table_id", "prefix", "effective_from", "profile"],
        )
    with op.batch_alter_table("rates") as batch:
        batch.alter_column("min_duration", server_default=None)
        batch.alter_column("profile", server_default=None)

    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("reserved", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column(
                "routing_mode", sa.String(length=16), server_default="priority", nullable=False
            )
        )
        batch.add_column(
            sa.Column("lcr_min_margin", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.create_check_constraint("reserved", "reserved >= 0")
        batch.create_check_constraint("lcr_min_margin", "lcr_min_margin >= 0")
        batch.create_check_constraint("routing_mode", "routing_mode IN ('priority', 'least_cost')")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("reserved", server_default=None)
        batch.alter_column("routing_mode", server_default=None)
        batch.alter_column("lcr_min_margin", server_default=None)

    op.create_table(
        "billing_reservations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_billing_reservations_amount")),
        sa.CheckConstraint("seconds >= 0", name=op.f("ck_billing_reservations_seconds")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_billing_reservations_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_reservations")),
        sa.UniqueConstraint("ref", name=op.f("uq_billing_reservations_ref")),
    )
    op.create_index(
        op.f("ix_billing_reservations_account_id"), "billing_reservations", ["account_id"]
    )
    op.create_index(op.f("ix_billing_reservations_node"), "billing_reservations", ["node"])

    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("call_ref", sa.String(length=36), nullable=True))
        batch.create_unique_constraint(op.f("uq_ledger_entries_call_ref"), ["call_ref"])

    with op.batch_alter_table("cdrs") as batch:
        batch.add_column(
            sa.Column("fee_unrounded", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("profit", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("cost_prefix", sa.String(length=32), server_default="", nullable=False)
        )
    with op.batch_alter_table("cdrs") as batch:
        for column in ("fee_unrounded", "profit", "cost_prefix"):
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        for column in ("cost_prefix", "profit", "fee_unrounded"):
            batch.drop_column(column)
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_constraint(op.f("uq_ledger_entries_call_ref"), type_="unique")
        batch.drop_column("call_ref")
    op.drop_index(op.f("ix_billing_reservations_node"), table_name="billing_reservations")
    op.drop_index(op.f("ix_billing_reservations_account_id"), table_name="billing_reservations")
    op.drop_table("billing_reservations")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint(op.f("ck_accounts_routing_mode"), type_="check")
        batch.drop_constraint(op.f("ck_accounts_lcr_min_margin"), type_="check")
        batch.drop_constraint(op.f("ck_accounts_reserved"), type_="check")
        for column in ("lcr_min_margin", "routing_mode", "reserved"):
            batch.drop_column(column)
    with op.batch_alter_table("rates") as batch:
        batch.drop_constraint(
            "uq_rates_rate_table_id_prefix_effective_from_profile", type_="unique"
        )
        batch.create_unique_constraint(
            op.f("uq_rates_rate_table_id_prefix_effective_from"),
            ["rate_table_id", "prefix", "effective_from"],
        )
        batch.drop_constraint(op.f("ck_rates_min_duration"), type_="check")
        for column in ("profile", "min_duration", "first_price"):
            batch.drop_column(column)
    with op.batch_alter_table("rate_tables") as batch:
        batch.drop_constraint(op.f("ck_rate_tables_time_of_day_mode"), type_="check")
        batch.drop_column("time_zone")
        batch.drop_column("time_of_day_mode")
