"""Call records: the indexes the operator's search across accounts needs (issue 15).

The admin's Call Records page (db/records.py) lists CDRs of every account newest first,
keyset-paged on (start DESC, id DESC), optionally filtered. At 10M rows each common search
must read a page's worth of index entries, not sort a range:

- no filter, a date range, an outcome (disposition): ix_cdr_start_id, (start, id) scanned
  backwards from the cursor (an outcome is a filter on that scan: every outcome is common
  enough that a page is a few hundred entries away at most);
- a carrier: ix_cdr_carrier_start_id, (carrier, start, id) where a carrier carried the call
  (a handful of carriers share millions of rows: only an ordered scan per carrier is fast);
- a destination prefix: ix_cdr_dialed_pattern, dialed with varchar_pattern_ops (the database
  collation is C.UTF-8, so a plain btree cannot answer LIKE 'p%'): a rare prefix is a bitmap
  of its rows; a common one is the (start, id) scan with a filter, whichever the planner costs
  lower;
- a number as the caller (src): ix_cdr_src_start_id; as the member's own (vnum) the existing
  ix_cdr_vnum_start_id; an account: the existing ix_cdr_accountcode_start and vnum's; a DID:
  the existing ix_cdr_dst_start (and dialed's).

ix_cdr_vnum_start (vnum, start) goes: it is a prefix of ix_cdr_vnum_start_id (vnum, start, id)
INCLUDE (...) (migration 0006 says so), so every scan it could serve the wider one serves in
the same order, and every CDR insert paid for both.

Built CONCURRENTLY outside the migration's transaction (as 0006): Asterisk writes CDRs all the
time and a plain CREATE INDEX would block its inserts for the whole build.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_cdr_start_id", "cdr", ["start", "id"], postgresql_concurrently=True, if_not_exists=True
        )
        op.create_index(
            "ix_cdr_carrier_start_id",
            "cdr",
            ["carrier", "start", "id"],
            postgresql_where=sa.text("carrier IS NOT NULL"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.create_index(
            "ix_cdr_dialed_pattern",
            "cdr",
            ["dialed"],
            postgresql_ops={"dialed": "varchar_pattern_ops"},
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.create_index(
            "ix_cdr_src_start_id",
            "cdr",
            ["src", "start", "id"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index("ix_cdr_vnum_start", table_name="cdr", postgresql_concurrently=True, if_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_cdr_vnum_start",
            "cdr",
            ["vnum", "start"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        for name in (
            "ix_cdr_src_start_id",
            "ix_cdr_dialed_pattern",
            "ix_cdr_carrier_start_id",
            "ix_cdr_start_id",
        ):
            op.drop_index(name, table_name="cdr", postgresql_concurrently=True, if_exists=True)
