"""Asterisk realtime: ps_endpoints, ps_auths and ps_aors as views over virtual_numbers.

A panel write to virtual_numbers (or to the account's status or language) is what Asterisk
reads on the next REGISTER or call: no reload, no copy to keep in sync. Column names and
types follow Asterisk 22's realtime schema (contrib/ast-db-manage): `id` varchar(255), yes/no
columns of type ast_bool_values, dtmf_mode pjsip_dtmf_mode_values_v3, auth_type
pjsip_auth_type_values_v2. res_config_pgsql reads a view's columns from pg_attribute like a
table's. Only md5_cred is published: the plain SIP password is never stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TYPE pjsip_dtmf_mode_values_v3 AS ENUM ('rfc4733', 'inband', 'info', 'auto', 'auto_info')"
    )
    op.execute("CREATE TYPE pjsip_auth_type_values_v2 AS ENUM ('md5', 'userpass', 'google_oauth')")
    # Suspended or closed accounts publish no endpoint: their devices can neither register nor call.
    op.execute("""
        CREATE VIEW ps_endpoints AS
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
               'yes'::ast_bool_values AS t38_udptl
          FROM virtual_numbers vn
          JOIN accounts a ON a.id = vn.account_id
         WHERE a.status = 'active'
    """)
    op.execute("""
        CREATE VIEW ps_auths AS
        SELECT vn.number::varchar(255) AS id,
               'md5'::pjsip_auth_type_values_v2 AS auth_type,
               vn.sip_md5_cred::varchar(40) AS md5_cred,
               vn.number::varchar(40) AS username
          FROM virtual_numbers vn
         WHERE vn.sip_md5_cred IS NOT NULL
    """)
    op.execute("""
        CREATE VIEW ps_aors AS
        SELECT vn.number::varchar(255) AS id,
               vn.max_contacts::integer AS max_contacts,
               3600 AS default_expiration,
               60 AS minimum_expiration,
               7200 AS maximum_expiration,
               'yes'::ast_bool_values AS remove_existing,
               'yes'::ast_bool_values AS remove_unavailable,
               0 AS qualify_frequency
          FROM virtual_numbers vn
    """)


def downgrade() -> None:
    op.execute("DROP VIEW ps_aors")
    op.execute("DROP VIEW ps_auths")
    op.execute("DROP VIEW ps_endpoints")
    op.execute("DROP TYPE pjsip_auth_type_values_v2")
    op.execute("DROP TYPE pjsip_dtmf_mode_values_v3")
