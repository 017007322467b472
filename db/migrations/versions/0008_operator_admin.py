"""Operator admin: dialplan overrides and their history; vouchers an admin voided.

`dialplan_versions` keeps every version of the admin-overridable part of the dialplan
(extensions_admin.conf, included at the end of the generated extensions.conf) that was applied
to Asterisk, with who applied it and when. The newest row is what Asterisk runs; a rollback
applies an older body again as a new row (source 'rollback', rolled_back_to_id naming it), so
the history only ever grows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dialplan_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.String(length=200), server_default="", nullable=False),
        sa.Column("source", sa.String(length=16), server_default="edit", nullable=False),
        sa.Column("rolled_back_to_id", sa.Integer(), nullable=True),
        sa.Column("applied_by_user_id", sa.Integer(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source IN ('edit', 'rollback')", name=op.f("ck_dialplan_versions_source")),
        sa.CheckConstraint("length(body) <= 100000", name=op.f("ck_dialplan_versions_body_length")),
        sa.ForeignKeyConstraint(
            ["applied_by_user_id"],
            ["users.id"],
            name=op.f("fk_dialplan_versions_applied_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rolled_back_to_id"],
            ["dialplan_versions.id"],
            name=op.f("fk_dialplan_versions_rolled_back_to_id_dialplan_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialplan_versions")),
    )
    op.add_column("vouchers", sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("vouchers", "voided_at")
    op.drop_table("dialplan_versions")
