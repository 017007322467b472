"""Issue 16, notifications part: low_balance_watch, where the balance stood at the last look.

The low-balance email goes once per crossing: when the balance (sum of credit_lots.remaining)
drops under the member's accounts.low_balance_threshold, one email; no other until the balance
has been seen at or above the threshold again. `below` is what the notifications round saw
last, `crossings` counts the emails sent (the notifications_sent key of the next one).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "low_balance_watch",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("below", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("crossings", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_low_balance_watch_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_low_balance_watch")),
    )


def downgrade() -> None:
    op.drop_table("low_balance_watch")
