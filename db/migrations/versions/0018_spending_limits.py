"""Spending limits and retail fraud controls (issue 13)

Placeholder in the chain; filled in by the work it names (no-op until then).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from alembic import op  # noqa: F401

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
