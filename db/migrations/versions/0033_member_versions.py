"""Issue 16 (Speed): the indexes that make a member's data version two index probes per number.

Call History and Missed Calls keep a member's rendered report (webpanel/call_history/kept.py)
while the member's data is unchanged. What the report shows of a number comes from its CDRs:
its own legs (cdr.vnum = the number) and the on-net legs of calls to it (call_class 'N',
dialed = the number); the trigger member_calls_add derives the member_calls rows from exactly
these. So the newest id of each set is the number's version: a new call or a new leg of one
(which member_calls only upserts) moves it, a call anywhere else does not.

- ix_cdr_vnum_id (vnum, id): max(id) of a number's own legs, one backward probe
  (ix_cdr_vnum_start_id is ordered by start first: it would read all the number's rows);
- ix_cdr_onnet_dialed_id (dialed, id) WHERE call_class = 'N': the same for on-net calls to it
  (only on-net CDRs are in it).

The version query asks for the number as a range (vnum >= n AND vnum <= n) ordered by
(vnum, id): with an equality the planner may instead walk pk_cdr backwards filtering on the
number, which reads the whole table for a number without calls.

Charges need none: ix_cdr_charges_account_rated (account_id, rated_at) gives the account's
newest charge, and the newest CDRs' charges are read by cdr_id (unique).

Built CONCURRENTLY outside the migration's transaction (as 0027): Asterisk writes CDRs all the
time.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_cdr_vnum_id", "cdr", ["vnum", "id"], postgresql_concurrently=True, if_not_exists=True
        )
        op.create_index(
            "ix_cdr_onnet_dialed_id",
            "cdr",
            ["dialed", "id"],
            postgresql_where=sa.text("call_class = 'N'"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in ("ix_cdr_onnet_dialed_id", "ix_cdr_vnum_id"):
            op.drop_index(name, table_name="cdr", postgresql_concurrently=True, if_exists=True)
