"""Issue 16, screening: a call the called number's screening refused (a blocked caller, or a
caller without a caller ID when the number refuses those) is a call the number RECEIVED.

Route inbound tags such a call's CDR with the number (CDR vnum) before refusing it, so that Call
History shows it ("Refused: ...") and Missed Calls lists it. Migration 0012's voip_call_sides
counts a refused leg of the number's own as one it placed (an outbound call refused for
credit, permissions...); this one counts a refused leg as received when its refusal (the CDR's
dst: the extension of context `refused`) is a screening refusal: controller/rules/
channel_vars.py's REFUSE_CALLER_BLOCKED and REFUSE_ANONYMOUS, spelled out here (a migration
does not import what may change). The same rule is in webpanel/call_history/calls.py.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

CALL_SIDES = r"""
CREATE OR REPLACE FUNCTION voip_call_sides(c cdr)
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
                 %(screened)s AS screened,
                 coalesce(c.channel, '') LIKE 'Local/%%@fwd-out-%%' AS forwarded) AS leg
    CROSS JOIN LATERAL (VALUES
        -- the number's own leg: received (tagged by route inbound, no class: refused only by
        -- its screening) or forwarded for a received call, else placed by it
        (leg.own, leg.forwarded OR (leg.class IS NULL AND (NOT leg.refused OR leg.screened))),
        -- an on-net call: the member called
        (CASE WHEN leg.class = 'N' AND leg.dialed IS DISTINCT FROM leg.own THEN leg.dialed END, true)
    ) AS side(vnum, inbound)
    WHERE side.vnum IS NOT NULL AND c.start IS NOT NULL
$$;
"""

SCREENED = "coalesce(c.dcontext, '') = 'refused' AND c.dst IN ('caller_blocked', 'anonymous_rejected')"


def upgrade() -> None:
    op.execute(CALL_SIDES % {"screened": SCREENED})


def downgrade() -> None:
    op.execute(CALL_SIDES % {"screened": "false"})
