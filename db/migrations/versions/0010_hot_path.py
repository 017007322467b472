"""Call-control hot path: authorization in one statement; panel query indexes.

Reserved slot (filled in by the work that needs it; empty until then).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""
from alembic import op  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
