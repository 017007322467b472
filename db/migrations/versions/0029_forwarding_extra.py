"""Issue 16, FWD part: reserved for that part's own schema changes (a no-op until it has some).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05
"""

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
