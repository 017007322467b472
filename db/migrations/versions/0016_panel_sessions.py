"""Panel sessions and login limits (issue 13)

Placeholder in the chain; filled in by the work it names (no-op until then).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from alembic import op  # noqa: F401

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
