"""Call History's index: cdr (vnum, start, id) INCLUDE (billsec, disposition).

The panel's Call History reads one member's CDRs of a range of days, newest first, keyset-paged
on (start, id), and counts calls and answered seconds per day for the records counter and the
chart. With this index every one of those is an index-only range scan in exactly that order:
a page is the first 50 index entries after the cursor (no sort of the whole range, whatever the
planner estimates for a parameterized range), and the totals never touch the heap.
ix_cdr_vnum_start (vnum, start) is a prefix of it and could go in a later revision.

Built CONCURRENTLY (outside the migration's transaction): Asterisk writes CDRs all the time,
and a plain CREATE INDEX would block those inserts for as long as the build takes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_cdr_vnum_start_id",
            "cdr",
            ["vnum", "start", "id"],
            unique=False,
            postgresql_include=["billsec", "disposition"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_cdr_vnum_start_id", table_name="cdr", postgresql_concurrently=True, if_exists=True)
