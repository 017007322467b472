"""Webhooks: deliveries queued by triggers on the events (an outbox) (issue 15).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

UP = r"""
SELECT 1;
"""

DOWN = r"""
SELECT 1;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
