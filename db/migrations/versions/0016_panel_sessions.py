"""Panel sessions and login limits (issue 13)

Server-side panel sessions (webpanel/auth/sessions.py): the signed cookie carries a random
token, this table its SHA-256, so logging out, a password change or an operator ends a session
for good. The login limits live in the existing lockouts table (new kinds, no schema change).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "panel_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_addr", sa.String(45), server_default="", nullable=False),
        sa.Column("user_agent", sa.String(255), server_default="", nullable=False),
    )
    op.create_index("ix_panel_sessions_user_id", "panel_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_panel_sessions_user_id", table_name="panel_sessions")
    op.drop_table("panel_sessions")
