"""The rater's work queue: a trigger on cdr queues every CDR that has a call class and
notifies the controller (pg_notify('cdr_new', id)).

Why a queue table and not "cdr LEFT JOIN cdr_charges": cdr grows without bound, and an
anti-join walks every CDR ever rated on each poll. cdr_rating_queue holds only the CDRs not
rated yet, so claiming work (SELECT ... FOR UPDATE SKIP LOCKED) stays O(pending). The rater
deletes a CDR's queue row in the same transaction that writes its cdr_charges row.
cdr_pgsql sends '' for an unset CDR variable, so an empty call_class is not ours either.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cdr_rating_queue",
        sa.Column("cdr_id", sa.BigInteger(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["cdr_id"], ["cdr.id"], ondelete="CASCADE", name=op.f("fk_cdr_rating_queue_cdr_id_cdr")
        ),
        sa.PrimaryKeyConstraint("cdr_id", name=op.f("pk_cdr_rating_queue")),
    )
    op.execute("""
        CREATE FUNCTION cdr_queue_for_rating() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.call_class IS NOT NULL AND NEW.call_class <> '' THEN
                INSERT INTO cdr_rating_queue (cdr_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
                PERFORM pg_notify('cdr_new', NEW.id::text);
            END IF;
            RETURN NULL;
        END
        $$
    """)
    op.execute(
        "CREATE TRIGGER cdr_queue_for_rating AFTER INSERT ON cdr "
        "FOR EACH ROW EXECUTE FUNCTION cdr_queue_for_rating()"
    )
    # CDRs written before this revision and never rated
    op.execute("""
        INSERT INTO cdr_rating_queue (cdr_id)
        SELECT c.id FROM cdr c
        WHERE c.call_class IS NOT NULL AND c.call_class <> ''
          AND NOT EXISTS (SELECT 1 FROM cdr_charges ch WHERE ch.cdr_id = c.id)
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS cdr_queue_for_rating ON cdr")
    op.execute("DROP FUNCTION IF EXISTS cdr_queue_for_rating()")
    op.drop_table("cdr_rating_queue")
