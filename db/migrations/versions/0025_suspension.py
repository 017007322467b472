"""A suspended account: its endpoints and calls (issue 15).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

from alembic import op

revision = "0025"
down_revision = "0024"
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
