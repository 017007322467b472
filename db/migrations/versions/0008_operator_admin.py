"""Operator admin: dialplan overrides and their history.

Reserved slot (filled in by the work that needs it; empty until then).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""
from alembic import op  # noqa: F401

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
