"""PIN model: calling-card and conference PINs with no oracle (issue 13)

Placeholder in the chain; filled in by the work it names (no-op until then).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from alembic import op  # noqa: F401

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
