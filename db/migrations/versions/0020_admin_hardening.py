"""Admin input hardening (issue 13)

Placeholder in the chain; filled in by the work it names (no-op until then).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from alembic import op  # noqa: F401

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
