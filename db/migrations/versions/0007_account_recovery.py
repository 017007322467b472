"""Account recovery: password reset tokens.

Reserved slot (filled in by the work that needs it; empty until then).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""
from alembic import op  # noqa: F401

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
