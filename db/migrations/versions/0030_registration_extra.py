"""Issue 16, registration/dashboard part: reserved for that part's own schema changes (a no-op until it has some).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
