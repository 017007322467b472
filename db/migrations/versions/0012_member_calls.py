"""Call History by call, not by CDR: member_calls, one row per call per member number, filled
by a trigger on cdr; and cdr (linkedid) to read a call's legs.

Asterisk writes one CDR per leg: a call that rings two devices or a ring list is a CDR per
number rung (and one per Local channel forwarding to the PSTN), a Dial that ends unanswered is
followed by another CDR for what the channel does next (voicemail, the Hangup after busy), and
all of them share the call's linkedid. An on-net call is the caller's CDRs only (vnum = the
caller, class N, dialed = the member called). So which calls are a member's, and when each
started, is not one CDR but the CDRs of a linkedid that are the member's:
  - its own legs (vnum = the number): calls it placed, PSTN calls route inbound tagged for it,
    and the legs its forwarding dialed (a Local channel in fwd-out, charged to it);
  - on-net calls to it (class N, dialed = the number, placed by another number).
The trigger keeps one member_calls row per (number, linkedid) from those legs, upserting as each
leg's CDR arrives (in any order): the first leg's start (the call's key in the report), whether
the call came in for the member (a call it received, or a leg its forwarding dialed for one),
whether a person answered (a leg answered by a party: not voicemail, not a refusal's
announcement), and the longest answered leg (the call's duration, for the chart). Call History
pages, counts and charts member_calls with index-only keyset scans as it did cdr (migration
0006), and reads the legs of the 50 calls of a page by linkedid (webpanel/call_history/
calls.py says what happened from them); Missed Calls is its received calls nobody answered.

The dialplan names below are controller/rules/channel_vars.py's: CTX_REFUSED (a refused call's
announcement) and CTX_FWD_OUT (a forwarded leg's Local channel). cdr_pgsql sends '' for an
unset CDR variable: '' counts as unset.

The index on cdr and the backfill of calls already recorded run outside the migration's
transaction (as 0006's index): Asterisk keeps writing CDRs meanwhile, the trigger covers them,
and the backfill's upsert merges with what the trigger wrote (it is idempotent).

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

CALL_SIDES = r"""
CREATE FUNCTION voip_call_sides(c cdr)
RETURNS TABLE (vnum varchar, linkedid varchar, start timestamptz, inbound boolean,
               answered boolean, seconds integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT side.vnum,
           coalesce(nullif(c.linkedid, ''), nullif(c.uniqueid, ''), 'cdr-' || c.id)::varchar,
           c.start,
           side.inbound,
           c.disposition = 'ANSWERED' AND coalesce(c.dstchannel, '') <> '' AND NOT leg.refused,
           CASE WHEN c.disposition = 'ANSWERED' AND NOT leg.refused
                THEN greatest(coalesce(c.billsec, 0), 0) ELSE 0 END
    FROM (SELECT nullif(c.vnum, '') AS own,
                 nullif(c.call_class, '') AS class,
                 nullif(c.dialed, '') AS dialed,
                 coalesce(c.dcontext, '') = 'refused' AS refused,
                 coalesce(c.channel, '') LIKE 'Local/%@fwd-out-%' AS forwarded) AS leg
    CROSS JOIN LATERAL (VALUES
        -- the number's own leg: received (tagged by route inbound, no class) or forwarded for
        -- a received call, else placed by it
        (leg.own, leg.forwarded OR (leg.class IS NULL AND NOT leg.refused)),
        -- an on-net call: the member called
        (CASE WHEN leg.class = 'N' AND leg.dialed IS DISTINCT FROM leg.own THEN leg.dialed END, true)
    ) AS side(vnum, inbound)
    WHERE side.vnum IS NOT NULL AND c.start IS NOT NULL
$$;

CREATE FUNCTION member_calls_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_calls AS m (vnum, linkedid, start, inbound, answered, seconds)
    SELECT s.vnum, s.linkedid, s.start, s.inbound, s.answered, s.seconds
      FROM voip_call_sides(NEW) s
    ON CONFLICT (vnum, linkedid) DO UPDATE SET
        start = least(m.start, EXCLUDED.start),
        inbound = m.inbound OR EXCLUDED.inbound,
        answered = m.answered OR EXCLUDED.answered,
        seconds = greatest(m.seconds, EXCLUDED.seconds);
    RETURN NULL;
END $$;
"""

BACKFILL = """
INSERT INTO member_calls AS m (vnum, linkedid, start, inbound, answered, seconds)
SELECT s.vnum, s.linkedid, min(s.start), bool_or(s.inbound), bool_or(s.answered), max(s.seconds)
  FROM cdr c CROSS JOIN LATERAL voip_call_sides(c) s
 GROUP BY s.vnum, s.linkedid
ON CONFLICT (vnum, linkedid) DO UPDATE SET
    start = least(m.start, EXCLUDED.start),
    inbound = m.inbound OR EXCLUDED.inbound,
    answered = m.answered OR EXCLUDED.answered,
    seconds = greatest(m.seconds, EXCLUDED.seconds)
"""


def upgrade() -> None:
    op.create_table(
        "member_calls",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("vnum", sa.String(length=40), nullable=False),
        sa.Column("linkedid", sa.String(length=150), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inbound", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("answered", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("seconds", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_calls")),
        sa.UniqueConstraint("vnum", "linkedid", name=op.f("uq_member_calls_vnum")),
    )
    # Call History: pages, day totals and counts, index-only (as cdr's in 0006)
    op.create_index(
        "ix_member_calls_vnum_start_id",
        "member_calls",
        ["vnum", "start", "id"],
        postgresql_include=["seconds"],
    )
    # Missed Calls: the received calls nobody answered
    op.create_index(
        "ix_member_calls_missed",
        "member_calls",
        ["vnum", "start", "id"],
        postgresql_where=sa.text("inbound AND NOT answered"),
    )
    op.execute(CALL_SIDES)
    op.execute(
        "CREATE TRIGGER member_calls_add AFTER INSERT ON cdr FOR EACH ROW EXECUTE FUNCTION member_calls_add()"
    )
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_cdr_linkedid",
            "cdr",
            ["linkedid"],
            unique=False,
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.execute(BACKFILL)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_cdr_linkedid", table_name="cdr", postgresql_concurrently=True, if_exists=True)
    op.execute("DROP TRIGGER IF EXISTS member_calls_add ON cdr")
    op.execute("DROP FUNCTION IF EXISTS member_calls_add()")
    op.execute("DROP FUNCTION IF EXISTS voip_call_sides(cdr)")
    op.drop_index("ix_member_calls_missed", table_name="member_calls")
    op.drop_index("ix_member_calls_vnum_start_id", table_name="member_calls")
    op.drop_table("member_calls")
