"""SIP credential IP allow-list (issue 13)

Placeholder in the chain; filled in by the work it names (no-op until then).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from alembic import op  # noqa: F401

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
