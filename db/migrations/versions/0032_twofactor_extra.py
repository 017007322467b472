"""Issue 16, two-factor part: reserved for that part's own schema changes (a no-op until it has some).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05
"""

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
