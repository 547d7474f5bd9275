"""Initial schema: every aggregate of the management plane.

Plain column types only (BIGINT micro-units for money, timestamptz, JSON, VARCHAR with CHECK
for enums), so this revision never changes when the model-side type helpers evolve.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 12:23:28.421319
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "cdrs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hold_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("billed_seconds", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("account_code", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("callee", sa.String(length=64), nullable=False),
        sa.Column("callee_out", sa.String(length=64), nullable=False),
        sa.Column("caller_ip", sa.String(length=64), nullable=False),
        sa.Column("phone_id", sa.Integer(), nullable=True),
        sa.Column("mapping_gateway_id", sa.Integer(), nullable=True),
        sa.Column("mapping_gateway_name", sa.String(length=64), nullable=False),
        sa.Column("routing_gateway_id", sa.Integer(), nullable=True),
        sa.Column("routing_gateway_name", sa.String(length=64), nullable=False),
        sa.Column("callee_ip", sa.String(length=64), nullable=False),
        sa.Column("rate_prefix", sa.String(length=32), nullable=False),
        sa.Column("area_name", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("agent_fee", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("termination_reason", sa.String(length=64), nullable=False),
        sa.Column("sip_status", sa.Integer(), nullable=True),
        sa.Column("hangup_side", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdrs")),
    )
    op.create_index(
        op.f("ix_cdrs_account_id_start_time"), "cdrs", ["account_id", "start_time"], unique=False
    )
    op.create_index(
        op.f("ix_cdrs_callee_start_time"), "cdrs", ["callee", "start_time"], unique=False
    )
    op.create_index(
        op.f("ix_cdrs_caller_start_time"), "cdrs", ["caller", "start_time"], unique=False
    )
    op.create_index(
        op.f("ix_cdrs_mapping_gateway_id_start_time"),
        "cdrs",
        ["mapping_gateway_id", "start_time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cdrs_routing_gateway_id_start_time"),
        "cdrs",
        ["routing_gateway_id", "start_time"],
        unique=False,
    )
    op.create_index(op.f("ix_cdrs_start_time"), "cdrs", ["start_time"], unique=False)
    op.create_index(
        op.f("ix_cdrs_termination_reason"), "cdrs", ["termination_reason"], unique=False
    )

    op.create_table(
        "param_overrides",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_param_overrides")),
    )
    op.create_table(
        "rate_tables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_tables")),
        sa.UniqueConstraint("name", name=op.f("uq_rate_tables_name")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("rate_table_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rate_table_id"],
            ["rate_tables.id"],
            name=op.f("fk_agents_rate_table_id_rate_tables"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
    )
    op.create_index(op.f("ix_agents_rate_table_id"), "agents", ["rate_table_id"], unique=False)

    op.create_table(
        "rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_table_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("area_name", sa.String(length=128), nullable=False),
        sa.Column("rate_per_minute", sa.BigInteger(), nullable=False),
        sa.Column("initial_increment", sa.Integer(), nullable=False),
        sa.Column("subsequent_increment", sa.Integer(), nullable=False),
        sa.Column("connection_fee", sa.BigInteger(), nullable=False),
        sa.Column("free_seconds", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to > effective_from",
            name=op.f("ck_rates_effective_window"),
        ),
        sa.CheckConstraint("free_seconds >= 0", name=op.f("ck_rates_free_seconds")),
        sa.CheckConstraint(
            "initial_increment > 0 AND subsequent_increment > 0", name=op.f("ck_rates_increments")
        ),
        sa.ForeignKeyConstraint(
            ["rate_table_id"],
            ["rate_tables.id"],
            name=op.f("fk_rates_rate_table_id_rate_tables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rates")),
        sa.UniqueConstraint(
            "rate_table_id",
            "prefix",
            "effective_from",
            name=op.f("uq_rates_rate_table_id_prefix_effective_from"),
        ),
    )
    op.create_index(
        op.f("ix_rates_rate_table_id_prefix"), "rates", ["rate_table_id", "prefix"], unique=False
    )

    op.create_table(
        "routing_gateways",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "registration IN ('static', 'dynamic')", name=op.f("ck_routing_gateways_registration")
        ),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "transport IN ('udp', 'tcp', 'tls')", name=op.f("ck_routing_gateways_transport")
        ),
        sa.Column("prefixes", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("asr_threshold_percent", sa.Integer(), nullable=True),
        sa.Column("caller_rewrite", sa.JSON(), nullable=False),
        sa.Column("callee_rewrite", sa.JSON(), nullable=False),
        sa.Column("caller_id_rules", sa.JSON(), nullable=False),
        sa.Column("failover_codes", sa.JSON(), nullable=False),
        sa.Column("rate_table_id", sa.Integer(), nullable=True),
        sa.Column("media_proxy", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "media_proxy IN ('off', 'on', 'auto', 'must_on')",
            name=op.f("ck_routing_gateways_media_proxy"),
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("auth_username", sa.String(length=64), nullable=True),
        sa.Column("auth_password", sa.String(length=128), nullable=True),
        sa.Column("register_username", sa.String(length=64), nullable=True),
        sa.Column("register_password", sa.String(length=128), nullable=True),
        sa.Column("register_expires", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "asr_threshold_percent IS NULL OR "
            "(asr_threshold_percent >= 0 AND asr_threshold_percent <= 100)",
            name=op.f("ck_routing_gateways_asr_threshold"),
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity >= 0", name=op.f("ck_routing_gateways_capacity")
        ),
        sa.CheckConstraint(
            "port IS NULL OR (port > 0 AND port < 65536)", name=op.f("ck_routing_gateways_port")
        ),
        sa.CheckConstraint("weight >= 0", name=op.f("ck_routing_gateways_weight")),
        sa.ForeignKeyConstraint(
            ["rate_table_id"],
            ["rate_tables.id"],
            name=op.f("fk_routing_gateways_rate_table_id_rate_tables"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_gateways")),
        sa.UniqueConstraint("auth_username", name=op.f("uq_routing_gateways_auth_username")),
        sa.UniqueConstraint("name", name=op.f("uq_routing_gateways_name")),
    )
    op.create_index(
        op.f("ix_routing_gateways_rate_table_id"),
        "routing_gateways",
        ["rate_table_id"],
        unique=False,
    )

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("billing_mode", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "billing_mode IN ('prepaid', 'postpaid')", name=op.f("ck_accounts_billing_mode")
        ),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'locked', 'expired')", name=op.f("ck_accounts_status")
        ),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("rate_table_id", sa.Integer(), nullable=True),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=True),
        sa.Column("daily_spend_limit", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("credit_limit >= 0", name=op.f("ck_accounts_credit_limit")),
        sa.CheckConstraint(
            "daily_spend_limit IS NULL OR daily_spend_limit >= 0",
            name=op.f("ck_accounts_daily_limit"),
        ),
        sa.CheckConstraint(
            "max_concurrent_calls IS NULL OR max_concurrent_calls >= 0",
            name=op.f("ck_accounts_mcc"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_accounts_agent_id_agents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["rate_table_id"],
            ["rate_tables.id"],
            name=op.f("fk_accounts_rate_table_id_rate_tables"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_accounts_code")),
    )
    op.create_index(op.f("ix_accounts_agent_id"), "accounts", ["agent_id"], unique=False)
    op.create_index(op.f("ix_accounts_rate_table_id"), "accounts", ["rate_table_id"], unique=False)

    op.create_table(
        "mapping_gateways",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("source_ips", sa.JSON(), nullable=False),
        sa.Column("auth_username", sa.String(length=64), nullable=True),
        sa.Column("auth_password", sa.String(length=128), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("caller_rewrite", sa.JSON(), nullable=False),
        sa.Column("callee_rewrite", sa.JSON(), nullable=False),
        sa.Column("allowed_prefixes", sa.JSON(), nullable=False),
        sa.Column("media_proxy", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "media_proxy IN ('off', 'on', 'auto', 'must_on')",
            name=op.f("ck_mapping_gateways_media_proxy"),
        ),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "transport IN ('udp', 'tcp', 'tls')", name=op.f("ck_mapping_gateways_transport")
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity >= 0", name=op.f("ck_mapping_gateways_capacity")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_mapping_gateways_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mapping_gateways")),
        sa.UniqueConstraint("auth_username", name=op.f("uq_mapping_gateways_auth_username")),
        sa.UniqueConstraint("name", name=op.f("uq_mapping_gateways_name")),
    )
    op.create_index(
        op.f("ix_mapping_gateways_account_id"), "mapping_gateways", ["account_id"], unique=False
    )

    op.create_table(
        "operator_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'operator', 'agent', 'customer')",
            name=op.f("ck_operator_users_role"),
        ),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role <> 'agent' OR agent_id IS NOT NULL", name=op.f("ck_operator_users_agent_scope")
        ),
        sa.CheckConstraint(
            "role <> 'customer' OR account_id IS NOT NULL",
            name=op.f("ck_operator_users_customer_scope"),
        ),
        sa.CheckConstraint("failed_logins >= 0", name=op.f("ck_operator_users_failed_logins")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_operator_users_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_operator_users_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_users")),
        sa.UniqueConstraint("username", name=op.f("uq_operator_users_username")),
    )
    op.create_index(
        op.f("ix_operator_users_account_id"), "operator_users", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_operator_users_agent_id"), "operator_users", ["agent_id"], unique=False
    )

    op.create_table(
        "phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("password", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "registration IN ('static', 'dynamic')", name=op.f("ck_phones_registration")
        ),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.CheckConstraint("transport IN ('udp', 'tcp', 'tls')", name=op.f("ck_phones_transport")),
        sa.Column("allowed_ips", sa.JSON(), nullable=False),
        sa.Column("caller_id", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=True),
        sa.Column("media_proxy", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "media_proxy IN ('off', 'on', 'auto', 'must_on')", name=op.f("ck_phones_media_proxy")
        ),
        sa.Column("behind_nat", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "max_concurrent_calls IS NULL OR max_concurrent_calls >= 0", name=op.f("ck_phones_mcc")
        ),
        sa.CheckConstraint(
            "port IS NULL OR (port > 0 AND port < 65536)", name=op.f("ck_phones_port")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_phones_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phones")),
        sa.UniqueConstraint("number", name=op.f("uq_phones_number")),
    )
    op.create_index(op.f("ix_phones_account_id"), "phones", ["account_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["operator_users.id"],
            name=op.f("fk_audit_log_user_id_operator_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_entity_entity_id"), "audit_log", ["entity", "entity_id"], unique=False
    )
    op.create_index(op.f("ix_audit_log_occurred_at"), "audit_log", ["occurred_at"], unique=False)
    op.create_index(op.f("ix_audit_log_user_id"), "audit_log", ["user_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "method IN ('cash', 'bank_transfer', 'card', 'online', 'other')",
            name=op.f("ck_payments_method"),
        ),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator_user_id", sa.Integer(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_payments_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["operator_user_id"],
            ["operator_users.id"],
            name=op.f("fk_payments_operator_user_id_operator_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(
        op.f("ix_payments_account_id_paid_at"), "payments", ["account_id", "paid_at"], unique=False
    )

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "kind IN ('top_up', 'call_charge', 'refund', 'adjustment')",
            name=op.f("ck_ledger_entries_kind"),
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("cdr_id", sa.BigInteger(), nullable=True),
        sa.Column("operator_user_id", sa.Integer(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_ledger_entries_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["operator_user_id"],
            ["operator_users.id"],
            name=op.f("fk_ledger_entries_operator_user_id_operator_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_ledger_entries_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        op.f("ix_ledger_entries_account_id_occurred_at"),
        "ledger_entries",
        ["account_id", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_entries_account_id_occurred_at"), table_name="ledger_entries")

    op.drop_table("ledger_entries")
    op.drop_index(op.f("ix_payments_account_id_paid_at"), table_name="payments")

    op.drop_table("payments")
    op.drop_index(op.f("ix_audit_log_user_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_occurred_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_entity_entity_id"), table_name="audit_log")

    op.drop_table("audit_log")
    op.drop_index(op.f("ix_phones_account_id"), table_name="phones")

    op.drop_table("phones")
    op.drop_index(op.f("ix_operator_users_agent_id"), table_name="operator_users")
    op.drop_index(op.f("ix_operator_users_account_id"), table_name="operator_users")

    op.drop_table("operator_users")
    op.drop_index(op.f("ix_mapping_gateways_account_id"), table_name="mapping_gateways")

    op.drop_table("mapping_gateways")
    op.drop_index(op.f("ix_accounts_rate_table_id"), table_name="accounts")
    op.drop_index(op.f("ix_accounts_agent_id"), table_name="accounts")

    op.drop_table("accounts")
    op.drop_index(op.f("ix_routing_gateways_rate_table_id"), table_name="routing_gateways")

    op.drop_table("routing_gateways")
    op.drop_index(op.f("ix_rates_rate_table_id_prefix"), table_name="rates")

    op.drop_table("rates")
    op.drop_index(op.f("ix_agents_rate_table_id"), table_name="agents")

    op.drop_table("agents")
    op.drop_table("rate_tables")
    op.drop_table("param_overrides")
    op.drop_index(op.f("ix_cdrs_termination_reason"), table_name="cdrs")
    op.drop_index(op.f("ix_cdrs_start_time"), table_name="cdrs")
    op.drop_index(op.f("ix_cdrs_routing_gateway_id_start_time"), table_name="cdrs")
    op.drop_index(op.f("ix_cdrs_mapping_gateway_id_start_time"), table_name="cdrs")
    op.drop_index(op.f("ix_cdrs_caller_start_time"), table_name="cdrs")
    op.drop_index(op.f("ix_cdrs_callee_start_time"), table_name="cdrs")
    op.drop_index(op.f("ix_cdrs_account_id_start_time"), table_name="cdrs")

    op.drop_table("cdrs")
