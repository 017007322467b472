"""domain schema: accounts, users, virtual numbers, DIDs, forwarding, plans, credit, rates,
charges, faxes, conferences, voicemail, buddies, notes, lockouts, audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("first_name", sa.String(length=80), server_default="", nullable=False),
        sa.Column("last_name", sa.String(length=80), server_default="", nullable=False),
        sa.Column("company", sa.String(length=120), server_default="", nullable=False),
        sa.Column("address1", sa.String(length=120), server_default="", nullable=False),
        sa.Column("address2", sa.String(length=120), server_default="", nullable=False),
        sa.Column("city", sa.String(length=80), server_default="", nullable=False),
        sa.Column("state", sa.String(length=80), server_default="", nullable=False),
        sa.Column("postal_code", sa.String(length=20), server_default="", nullable=False),
        sa.Column("country", sa.String(length=2), server_default="US", nullable=False),
        sa.Column("time_zone", sa.String(length=64), server_default="America/New_York", nullable=False),
        sa.Column("language", sa.String(length=8), server_default="en", nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("pstn_phone", sa.String(length=32), server_default="", nullable=False),
        sa.Column("pstn_fax", sa.String(length=32), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('active', 'suspended', 'closed')", name=op.f("ck_accounts_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "calling_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("regional_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("us_canada_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("monthly_price", sa.Numeric(precision=12, scale=4), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.CheckConstraint("monthly_price >= 0", name=op.f("ck_calling_plans_price_positive")),
        sa.CheckConstraint(
            "regional_minutes >= 0 AND us_canada_minutes >= 0", name=op.f("ck_calling_plans_minutes_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calling_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_calling_plans_name")),
    )
    op.create_table(
        "lockouts",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "first_failure_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_lockouts")),
    )
    op.create_table(
        "rate_decks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_decks")),
    )
    op.create_index(
        "uq_rate_decks_one_active", "rate_decks", ["active"], unique=True, postgresql_where=sa.text("active")
    )
    op.create_table(
        "regional_area_codes",
        sa.Column("area_code", sa.String(length=3), nullable=False),
        sa.Column("regional_area_code", sa.String(length=3), nullable=False),
        sa.PrimaryKeyConstraint("area_code", "regional_area_code", name=op.f("pk_regional_area_codes")),
    )
    op.create_table(
        "conferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("admin_pin", sa.String(length=10), nullable=False),
        sa.Column("admin_name", sa.String(length=120), server_default="", nullable=False),
        sa.Column("admin_phone", sa.String(length=40), server_default="", nullable=False),
        sa.Column("video", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("quiet_mode", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("allow_800", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), server_default="60", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="created", nullable=False),
        sa.Column("bridge_id", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("admin_pin ~ '^[0-9]{4,10}$'", name=op.f("ck_conferences_admin_pin_digits")),
        sa.CheckConstraint("status IN ('created', 'started', 'expired')", name=op.f("ck_conferences_status")),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 1440", name=op.f("ck_conferences_duration_range")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_conferences_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conferences")),
        sa.UniqueConstraint("admin_pin", name=op.f("uq_conferences_admin_pin")),
    )
    op.create_index(op.f("ix_conferences_account_id"), "conferences", ["account_id"], unique=False)
    op.create_table(
        "credit_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "purchased_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("original", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("remaining", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.CheckConstraint(
            "source IN ('voucher', 'payment', 'admin', 'demo')", name=op.f("ck_credit_lots_source")
        ),
        sa.CheckConstraint("original > 0", name=op.f("ck_credit_lots_original_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= original", name=op.f("ck_credit_lots_remaining_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_credit_lots_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_lots")),
    )
    op.create_index(
        "ix_credit_lots_account_open",
        "credit_lots",
        ["account_id", "purchased_at"],
        unique=False,
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_table(
        "rates",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("deck_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=15), nullable=False),
        sa.Column("destination", sa.String(length=120), server_default="", nullable=False),
        sa.Column("country", sa.String(length=2), server_default="", nullable=False),
        sa.Column("rate_per_minute", sa.Numeric(precision=10, scale=5), nullable=False),
        sa.Column("connect_fee", sa.Numeric(precision=10, scale=5), server_default="0", nullable=False),
        sa.Column("min_seconds", sa.SmallInteger(), server_default="60", nullable=False),
        sa.Column("increment_seconds", sa.SmallInteger(), server_default="60", nullable=False),
        sa.CheckConstraint("prefix ~ '^[0-9]{1,15}$'", name=op.f("ck_rates_prefix_digits")),
        sa.CheckConstraint(
            "min_seconds >= 0 AND increment_seconds >= 1", name=op.f("ck_rates_increments_valid")
        ),
        sa.CheckConstraint("rate_per_minute >= 0 AND connect_fee >= 0", name=op.f("ck_rates_rate_positive")),
        sa.ForeignKeyConstraint(
            ["deck_id"], ["rate_decks.id"], name=op.f("fk_rates_deck_id_rate_decks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rates")),
        sa.UniqueConstraint("deck_id", "prefix", name="uq_rates_deck_prefix"),
    )
    op.create_table(
        "virtual_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=80), server_default="", nullable=False),
        sa.Column("vm_password_hash", sa.String(length=255), nullable=True),
        sa.Column("sip_md5_cred", sa.String(length=40), nullable=True),
        sa.Column("sip_password_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pin_hmac", sa.String(length=64), nullable=True),
        sa.Column("allow_us_canada_ld", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("allow_international_ld", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("allow_incoming_800", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("voicemail_enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("white_pages", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("no_email_updates", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("mpo", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("credit_limit", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("max_contacts", sa.SmallInteger(), server_default="3", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("number ~ '^[0-9]{4,15}$'", name=op.f("ck_virtual_numbers_number_digits")),
        sa.CheckConstraint(
            "credit_limit IS NULL OR credit_limit >= 0", name=op.f("ck_virtual_numbers_credit_limit_positive")
        ),
        sa.CheckConstraint(
            "max_contacts BETWEEN 1 AND 10", name=op.f("ck_virtual_numbers_max_contacts_range")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_virtual_numbers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virtual_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_virtual_numbers_number")),
        sa.UniqueConstraint("pin_hmac", name=op.f("uq_virtual_numbers_pin_hmac")),
    )
    op.create_index(op.f("ix_virtual_numbers_account_id"), "virtual_numbers", ["account_id"], unique=False)
    op.create_table(
        "conference_guests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Integer(), nullable=False),
        sa.Column("virtual_number", sa.String(length=40), server_default="", nullable=False),
        sa.Column("name", sa.String(length=120), server_default="", nullable=False),
        sa.Column("pin", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("role", sa.String(length=16), server_default="normal", nullable=False),
        sa.Column("send_invite", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("pin ~ '^[0-9]{4,10}$'", name=op.f("ck_conference_guests_pin_digits")),
        sa.CheckConstraint(
            "role IN ('normal', 'talk_only', 'listen_only')", name=op.f("ck_conference_guests_role")
        ),
        sa.ForeignKeyConstraint(
            ["conference_id"],
            ["conferences.id"],
            name=op.f("fk_conference_guests_conference_id_conferences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conference_guests")),
        sa.UniqueConstraint("pin", name=op.f("uq_conference_guests_pin")),
    )
    op.create_index(
        op.f("ix_conference_guests_conference_id"), "conference_guests", ["conference_id"], unique=False
    )
    op.create_table(
        "dids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("connection", sa.String(length=16), server_default="none", nullable=False),
        sa.Column("virtual_number_id", sa.Integer(), nullable=True),
        sa.Column("fax_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(connection = 'virtual_number' AND virtual_number_id IS NOT NULL AND fax_email IS NULL) OR (connection = 'fax_to_email' AND virtual_number_id IS NULL AND fax_email IS NOT NULL) OR (connection = 'none' AND virtual_number_id IS NULL AND fax_email IS NULL)",
            name=op.f("ck_dids_connection_target"),
        ),
        sa.CheckConstraint(
            "connection IN ('virtual_number', 'fax_to_email', 'none')", name=op.f("ck_dids_connection")
        ),
        sa.CheckConstraint("number ~ '^[0-9]{4,15}$'", name=op.f("ck_dids_number_digits")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_dids_account_id_accounts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["virtual_number_id"],
            ["virtual_numbers.id"],
            name=op.f("fk_dids_virtual_number_id_virtual_numbers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dids")),
        sa.UniqueConstraint("number", name=op.f("uq_dids_number")),
    )
    op.create_index(op.f("ix_dids_account_id"), "dids", ["account_id"], unique=False)
    op.create_index(op.f("ix_dids_virtual_number_id"), "dids", ["virtual_number_id"], unique=False)
    op.create_table(
        "forwarding_rules",
        sa.Column("virtual_number_id", sa.Integer(), nullable=False),
        sa.Column("step1", sa.String(length=16), server_default="none", nullable=False),
        sa.Column("step1_mode", sa.String(length=16), server_default="simultaneous", nullable=False),
        sa.Column("step1_seconds", sa.SmallInteger(), server_default="20", nullable=False),
        sa.Column(
            "step1_numbers", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False
        ),
        sa.Column("device_seconds", sa.SmallInteger(), server_default="20", nullable=False),
        sa.Column("no_answer_enabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("no_answer_mode", sa.String(length=16), server_default="simultaneous", nullable=False),
        sa.Column("no_answer_seconds", sa.SmallInteger(), server_default="20", nullable=False),
        sa.Column(
            "no_answer_numbers", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False
        ),
        sa.Column("busy_enabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("busy_mode", sa.String(length=16), server_default="simultaneous", nullable=False),
        sa.Column("busy_seconds", sa.SmallInteger(), server_default="20", nullable=False),
        sa.Column(
            "busy_numbers", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "busy_mode IN ('simultaneous', 'sequential')", name=op.f("ck_forwarding_rules_busy_mode")
        ),
        sa.CheckConstraint(
            "no_answer_mode IN ('simultaneous', 'sequential')",
            name=op.f("ck_forwarding_rules_no_answer_mode"),
        ),
        sa.CheckConstraint(
            "step1 IN ('voicemail', 'ring_list', 'none')", name=op.f("ck_forwarding_rules_step1")
        ),
        sa.CheckConstraint(
            "step1_mode IN ('simultaneous', 'sequential')", name=op.f("ck_forwarding_rules_step1_mode")
        ),
        sa.CheckConstraint(
            "busy_seconds BETWEEN 1 AND 99", name=op.f("ck_forwarding_rules_busy_seconds_range")
        ),
        sa.CheckConstraint(
            "device_seconds BETWEEN 1 AND 99", name=op.f("ck_forwarding_rules_device_seconds_range")
        ),
        sa.CheckConstraint(
            "no_answer_seconds BETWEEN 1 AND 99", name=op.f("ck_forwarding_rules_no_answer_seconds_range")
        ),
        sa.CheckConstraint(
            "step1_seconds BETWEEN 1 AND 99", name=op.f("ck_forwarding_rules_step1_seconds_range")
        ),
        sa.ForeignKeyConstraint(
            ["virtual_number_id"],
            ["virtual_numbers.id"],
            name=op.f("fk_forwarding_rules_virtual_number_id_virtual_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("virtual_number_id", name=op.f("pk_forwarding_rules")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=120), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("credit_lot_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payments_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["credit_lot_id"], ["credit_lots.id"], name=op.f("fk_payments_credit_lot_id_credit_lots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("provider_payment_id", name=op.f("uq_payments_provider_payment_id")),
    )
    op.create_table(
        "plan_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("enabled_virtual_number_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("renew_date", sa.Date(), nullable=False),
        sa.Column("regional_seconds_left", sa.Integer(), server_default="0", nullable=False),
        sa.Column("us_canada_seconds_left", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.CheckConstraint(
            "regional_seconds_left >= 0", name=op.f("ck_plan_subscriptions_regional_left_positive")
        ),
        sa.CheckConstraint(
            "us_canada_seconds_left >= 0", name=op.f("ck_plan_subscriptions_us_canada_left_positive")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_plan_subscriptions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enabled_virtual_number_id"],
            ["virtual_numbers.id"],
            name=op.f("fk_plan_subscriptions_enabled_virtual_number_id_virtual_numbers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["calling_plans.id"], name=op.f("fk_plan_subscriptions_plan_id_calling_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_subscriptions")),
    )
    op.create_index(
        op.f("ix_plan_subscriptions_account_id"), "plan_subscriptions", ["account_id"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("virtual_number_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(role = 'admin' AND account_id IS NULL) OR (role <> 'admin' AND account_id IS NOT NULL)",
            name=op.f("ck_users_admin_has_no_account"),
        ),
        sa.CheckConstraint(
            "role <> 'secondary' OR virtual_number_id IS NOT NULL",
            name=op.f("ck_users_secondary_bound_to_number"),
        ),
        sa.CheckConstraint("role IN ('primary', 'secondary', 'admin')", name=op.f("ck_users_role")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_users_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["virtual_number_id"],
            ["virtual_numbers.id"],
            name=op.f("fk_users_virtual_number_id_virtual_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("login", name=op.f("uq_users_login")),
    )
    op.create_index(
        "uq_users_one_primary_per_account",
        "users",
        ["account_id"],
        unique=True,
        postgresql_where=sa.text("role = 'primary'"),
    )
    op.create_table(
        "voicemail_greetings",
        sa.Column("virtual_number_id", sa.Integer(), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.Column("audio_format", sa.String(length=8), server_default="wav", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["virtual_number_id"],
            ["virtual_numbers.id"],
            name=op.f("fk_voicemail_greetings_virtual_number_id_virtual_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("virtual_number_id", name=op.f("pk_voicemail_greetings")),
    )
    op.create_table(
        "voicemail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("virtual_number_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=8), server_default="new", nullable=False),
        sa.Column("caller_name", sa.String(length=80), server_default="", nullable=False),
        sa.Column("caller_number", sa.String(length=40), server_default="", nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("duration_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.Column("audio_format", sa.String(length=8), server_default="wav", nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("folder IN ('new', 'saved')", name=op.f("ck_voicemail_messages_folder")),
        sa.ForeignKeyConstraint(
            ["virtual_number_id"],
            ["virtual_numbers.id"],
            name=op.f("fk_voicemail_messages_virtual_number_id_virtual_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemail_messages")),
    )
    op.create_index(
        "ix_voicemail_messages_box",
        "voicemail_messages",
        ["virtual_number_id", "folder", "received_at"],
        unique=False,
    )
    op.create_table(
        "vouchers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hmac", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_by_account_id", sa.Integer(), nullable=True),
        sa.Column("credit_lot_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_vouchers_amount_positive")),
        sa.ForeignKeyConstraint(
            ["credit_lot_id"], ["credit_lots.id"], name=op.f("fk_vouchers_credit_lot_id_credit_lots")
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_by_account_id"],
            ["accounts.id"],
            name=op.f("fk_vouchers_redeemed_by_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("code_hmac", name=op.f("uq_vouchers_code_hmac")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=40), server_default="", nullable=False),
        sa.Column("object_id", sa.String(length=40), server_default="", nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("remote_addr", sa.String(length=64), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_audit_log_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_account_at", "audit_log", ["account_id", "at"], unique=False)
    op.create_table(
        "buddies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("virtual_number", sa.String(length=40), server_default="", nullable=False),
        sa.Column("pstn_phone", sa.String(length=40), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_buddies_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buddies")),
    )
    op.create_index(op.f("ix_buddies_user_id"), "buddies", ["user_id"], unique=False)
    op.create_table(
        "cdr_charges",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("cdr_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("virtual_number_id", sa.Integer(), nullable=True),
        sa.Column("call_type", sa.String(length=4), nullable=False),
        sa.Column("country", sa.String(length=2), server_default="", nullable=False),
        sa.Column("prefix", sa.String(length=15), nullable=True),
        sa.Column("billable_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("plan_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("plan_subscription_id", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Numeric(precision=12, scale=4), server_default="0", nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "billable_seconds >= 0 AND plan_seconds >= 0", name=op.f("ck_cdr_charges_seconds_positive")
        ),
        sa.CheckConstraint("cost >= 0", name=op.f("ck_cdr_charges_cost_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_cdr_charges_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cdr_id"], ["cdr.id"], name=op.f("fk_cdr_charges_cdr_id_cdr"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["plan_subscription_id"],
            ["plan_subscriptions.id"],
            name=op.f("fk_cdr_charges_plan_subscription_id_plan_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["virtual_number_id"],
            ["virtual_numbers.id"],
            name=op.f("fk_cdr_charges_virtual_number_id_virtual_numbers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr_charges")),
        sa.UniqueConstraint("cdr_id", name=op.f("uq_cdr_charges_cdr_id")),
    )
    op.create_index("ix_cdr_charges_account_rated", "cdr_charges", ["account_id", "rated_at"], unique=False)
    op.create_table(
        "e911_addresses",
        sa.Column("did_id", sa.Integer(), nullable=False),
        sa.Column("in_us_ca", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("comment", sa.String(length=200), server_default="", nullable=False),
        sa.Column("state", sa.String(length=80), nullable=False),
        sa.Column("city", sa.String(length=80), nullable=False),
        sa.Column("house_number", sa.String(length=20), nullable=False),
        sa.Column("number_suffix", sa.String(length=10), server_default="", nullable=False),
        sa.Column("street_dir_prefix", sa.String(length=2), server_default="", nullable=False),
        sa.Column("street_name", sa.String(length=120), nullable=False),
        sa.Column("street_dir_suffix", sa.String(length=2), server_default="", nullable=False),
        sa.Column("street_type", sa.String(length=20), server_default="", nullable=False),
        sa.Column("location", sa.String(length=200), server_default="", nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), server_default="US", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["did_id"], ["dids.id"], name=op.f("fk_e911_addresses_did_id_dids"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("did_id", name=op.f("pk_e911_addresses")),
    )
    op.create_table(
        "faxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("did_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=255), server_default="", nullable=False),
        sa.Column("remote_station_id", sa.String(length=40), server_default="", nullable=False),
        sa.Column("caller_number", sa.String(length=40), server_default="", nullable=False),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bytes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("resolution", sa.String(length=40), server_default="", nullable=False),
        sa.Column("transfer_rate", sa.String(length=20), server_default="", nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("emailed_to", sa.String(length=254), server_default="", nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('received', 'failed')", name=op.f("ck_faxes_status")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_faxes_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["did_id"], ["dids.id"], name=op.f("fk_faxes_did_id_dids"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faxes")),
    )
    op.create_index("ix_faxes_account_received", "faxes", ["account_id", "received_at"], unique=False)
    op.create_table(
        "notes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(body) <= 20000", name=op.f("ck_notes_body_length")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notes")),
    )
    op.create_table(
        "credit_debits",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("charge_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_lot_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["cdr_charges.id"],
            name=op.f("fk_credit_debits_charge_id_cdr_charges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["credit_lot_id"],
            ["credit_lots.id"],
            name=op.f("fk_credit_debits_credit_lot_id_credit_lots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_debits")),
    )
    op.create_index(op.f("ix_credit_debits_charge_id"), "credit_debits", ["charge_id"], unique=False)
    op.create_index(op.f("ix_credit_debits_credit_lot_id"), "credit_debits", ["credit_lot_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_credit_debits_credit_lot_id"), table_name="credit_debits")
    op.drop_index(op.f("ix_credit_debits_charge_id"), table_name="credit_debits")
    op.drop_table("credit_debits")
    op.drop_table("notes")
    op.drop_index("ix_faxes_account_received", table_name="faxes")
    op.drop_table("faxes")
    op.drop_table("e911_addresses")
    op.drop_index("ix_cdr_charges_account_rated", table_name="cdr_charges")
    op.drop_table("cdr_charges")
    op.drop_index(op.f("ix_buddies_user_id"), table_name="buddies")
    op.drop_table("buddies")
    op.drop_index("ix_audit_log_account_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("vouchers")
    op.drop_index("ix_voicemail_messages_box", table_name="voicemail_messages")
    op.drop_table("voicemail_messages")
    op.drop_table("voicemail_greetings")
    op.drop_index(
        "uq_users_one_primary_per_account", table_name="users", postgresql_where=sa.text("role = 'primary'")
    )
    op.drop_table("users")
    op.drop_index(op.f("ix_plan_subscriptions_account_id"), table_name="plan_subscriptions")
    op.drop_table("plan_subscriptions")
    op.drop_table("payments")
    op.drop_table("forwarding_rules")
    op.drop_index(op.f("ix_dids_virtual_number_id"), table_name="dids")
    op.drop_index(op.f("ix_dids_account_id"), table_name="dids")
    op.drop_table("dids")
    op.drop_index(op.f("ix_conference_guests_conference_id"), table_name="conference_guests")
    op.drop_table("conference_guests")
    op.drop_index(op.f("ix_virtual_numbers_account_id"), table_name="virtual_numbers")
    op.drop_table("virtual_numbers")
    op.drop_table("rates")
    op.drop_index(
        "ix_credit_lots_account_open", table_name="credit_lots", postgresql_where=sa.text("remaining > 0")
    )
    op.drop_table("credit_lots")
    op.drop_index(op.f("ix_conferences_account_id"), table_name="conferences")
    op.drop_table("conferences")
    op.drop_table("regional_area_codes")
    op.drop_index("uq_rate_decks_one_active", table_name="rate_decks", postgresql_where=sa.text("active"))
    op.drop_table("rate_decks")
    op.drop_table("lockouts")
    op.drop_table("calling_plans")
    op.drop_table("accounts")
