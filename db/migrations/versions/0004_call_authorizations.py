"""Billing links: CDR columns the controller fills (call_class, dialed, auth_id via
CDR(...) variables; cdr_pgsql fills unknown columns from CDR variables) and the holds
(call_authorizations) that keep concurrent calls from spending the same balance twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cdr", sa.Column("call_class", sa.String(2)))
    op.add_column("cdr", sa.Column("dialed", sa.String(32)))
    op.add_column("cdr", sa.Column("auth_id", sa.BigInteger()))
    # the rater's work queue: rows with a class and no charge yet
    op.create_index("ix_cdr_unrated", "cdr", ["id"], postgresql_where=sa.text("call_class IS NOT NULL"))
    op.create_table(
        "call_authorizations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("uniqueid", sa.String(150), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("virtual_number_id", sa.Integer()),
        sa.Column("call_class", sa.String(2), nullable=False),
        sa.Column("dialed", sa.String(32), nullable=False),
        sa.Column("rate_prefix", sa.String(15)),
        sa.Column("max_seconds", sa.Integer(), nullable=False),
        sa.Column("plan_subscription_id", sa.Integer()),
        sa.Column("held_plan_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("held_credit", sa.Numeric(12, 4), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.Column("call_group", sa.String(150)),
        sa.CheckConstraint(
            "held_credit >= 0 AND held_plan_seconds >= 0 AND max_seconds >= 0",
            name=op.f("ck_call_authorizations_holds_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            ondelete="CASCADE",
            name=op.f("fk_call_authorizations_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["virtual_number_id"],
            ["virtual_numbers.id"],
            ondelete="SET NULL",
            name=op.f("fk_call_authorizations_virtual_number_id_virtual_numbers"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_subscription_id"],
            ["plan_subscriptions.id"],
            ondelete="SET NULL",
            name=op.f("fk_call_authorizations_plan_subscription_id_plan_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_authorizations")),
    )
    op.create_index(op.f("ix_call_authorizations_uniqueid"), "call_authorizations", ["uniqueid"])
    op.create_index(
        "ix_call_authorizations_open",
        "call_authorizations",
        ["account_id"],
        postgresql_where=sa.text("settled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("call_authorizations")
    op.drop_index("ix_cdr_unrated", table_name="cdr")
    op.drop_column("cdr", "auth_id")
    op.drop_column("cdr", "dialed")
    op.drop_column("cdr", "call_class")
