"""Issue 16, notifications part: reserved for that part's own schema changes (a no-op until it has some).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05
"""

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
