"""Service numbers: the platform's own numbers in one table the operator sees, which a member's
phone reaches inside and free (controller/rules/service_numbers.py).

Until now they lived only in settings (VOIP_CONFERENCE_NUMBERS, VOIP_CONFERENCE_TOLLFREE_NUMBERS,
VOIP_CALLINGCARD_NUMBERS, VOIP_VOICEMAIL_NUMBERS), from which extensions.conf renders their
entries in [incoming]. The table starts with those of this install's settings (as the
environment of the migration holds them), each to its own entry in [incoming], so every number
that worked from the PSTN works the same from a member's phone and nothing else changes.

A target is `context,extension,priority`, in [incoming] or one of the admin dialplan's
contexts (admin-...); the CHECK below is rules.service_numbers.TARGET_PATTERN as of this revision.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from controller.rules.service_numbers import from_settings
from controller.settings import load

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "service_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=130), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "service IN ('conference', 'calling_card', 'voicemail', 'other')",
            name=op.f("ck_service_numbers_service"),
        ),
        sa.CheckConstraint("number ~ '^[0-9]{3,15}$'", name=op.f("ck_service_numbers_number_digits")),
        sa.CheckConstraint(
            "target ~ '^(incoming|admin-[a-z0-9][a-z0-9-]{0,38}),[0-9A-Za-z*#+-]{1,40},[0-9]{1,4}$'",
            name=op.f("ck_service_numbers_target_location"),
        ),
        sa.CheckConstraint("length(description) <= 200", name=op.f("ck_service_numbers_description_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_service_numbers_number")),
    )
    settings = load()
    seeds = from_settings(
        conference_numbers=settings.conference_numbers,
        conference_tollfree_numbers=settings.conference_tollfree_numbers,
        callingcard_numbers=settings.callingcard_numbers,
        voicemail_numbers=settings.voicemail_numbers,
    )
    if seeds:
        op.bulk_insert(
            table,
            [
                {"number": s.number, "service": s.service, "target": s.target, "description": s.description}
                for s in seeds
            ],
        )


def downgrade() -> None:
    op.drop_table("service_numbers")
