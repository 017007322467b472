"""Holds never orphaned (issue 13): an index for the hold sweeper.

The sweeper (controller/services/holds.py) releases the open holds whose call is gone unless a
CDR names them (that call's rating settles its hold); ix_cdr_auth_id answers "does a CDR name
this hold" without scanning the cdr table.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_cdr_auth_id ON cdr (auth_id) WHERE auth_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_cdr_auth_id")
