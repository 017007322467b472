"""Realtime `mailboxes`: each number's AOR publishes its mailbox, so res_pjsip_mwi accepts a
phone's SUBSCRIBE to message-summary (it answers 404 for an AOR without mailboxes); endpoints
publish none.

The AOR is named by the number and so is its mailbox, in app_voicemail's context `default`
(controller/services/voicemail/spool.py MWI_CONTEXT): `<number>@default`. res_pjsip_mwi takes a
subscription for an AOR of the subscribing endpoint only, so a phone can watch its own mailbox and
no other. An endpoint's `mailboxes` would make Asterisk send unsolicited NOTIFYs of its own beside
the controller's (controller/services/voicemail/mwi.py), so ps_endpoints.mailboxes is NULL; the
column exists because res_pjsip_mwi looks those endpoints up when it loads (`SELECT * FROM
ps_endpoints WHERE mailboxes != ''`), which failed with an ERROR in Asterisk's log without it.

Both views are 0003's with the column added at the end (all CREATE OR REPLACE VIEW may do).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ENDPOINT_COLUMNS = """
        SELECT vn.number::varchar(255) AS id,
               'transport-udp'::varchar(40) AS transport,
               vn.number::varchar(2048) AS aors,
               vn.number::varchar(255) AS auth,
               'members'::varchar(40) AS context,
               'all'::varchar(200) AS disallow,
               'ulaw,alaw,gsm,h264,vp8'::varchar(200) AS allow,
               (CASE WHEN vn.mpo THEN 'yes' ELSE 'no' END)::ast_bool_values AS direct_media,
               'rfc4733'::pjsip_dtmf_mode_values_v3 AS dtmf_mode,
               'yes'::ast_bool_values AS force_rport,
               'yes'::ast_bool_values AS rewrite_contact,
               'yes'::ast_bool_values AS rtp_symmetric,
               left('"' || replace(coalesce(nullif(vn.display_name, ''), vn.number), '"', '')
                    || '" <' || vn.number || '>', 40)::varchar(40) AS callerid,
               a.language::varchar(40) AS language,
               'yes'::ast_bool_values AS send_pai,
               'yes'::ast_bool_values AS allow_subscribe,
               1 AS device_state_busy_at,
               a.id::varchar(80) AS accountcode,
               'username'::varchar(80) AS identify_by,
               'yes'::ast_bool_values AS t38_udptl"""
_ENDPOINT_FROM = """
          FROM virtual_numbers vn
          JOIN accounts a ON a.id = vn.account_id
         WHERE a.status = 'active'"""

_AOR_COLUMNS = """
        SELECT vn.number::varchar(255) AS id,
               vn.max_contacts::integer AS max_contacts,
               3600 AS default_expiration,
               60 AS minimum_expiration,
               7200 AS maximum_expiration,
               'yes'::ast_bool_values AS remove_existing,
               'yes'::ast_bool_values AS remove_unavailable,
               0 AS qualify_frequency"""
_AOR_FROM = """
          FROM virtual_numbers vn"""


def upgrade() -> None:
    op.execute(
        f"CREATE OR REPLACE VIEW ps_endpoints AS{_ENDPOINT_COLUMNS},\n"
        f"               NULL::varchar(80) AS mailboxes{_ENDPOINT_FROM}"
    )
    op.execute(
        f"CREATE OR REPLACE VIEW ps_aors AS{_AOR_COLUMNS},\n"
        f"               (vn.number || '@default')::varchar(80) AS mailboxes{_AOR_FROM}"
    )


def downgrade() -> None:
    # a view loses a column only by being made again
    op.execute("DROP VIEW ps_aors")
    op.execute(f"CREATE VIEW ps_aors AS{_AOR_COLUMNS}{_AOR_FROM}")
    op.execute("DROP VIEW ps_endpoints")
    op.execute(f"CREATE VIEW ps_endpoints AS{_ENDPOINT_COLUMNS}{_ENDPOINT_FROM}")
