"""SIP credential IP allow-list (issue 13): the networks a virtual number's phone may use.

`virtual_numbers.sip_allowlist` holds the member's networks in canonical CIDR form, comma
separated (`203.0.113.0/24,198.51.100.7/32`), NULL for "from anywhere". The endpoint publishes it
as res_pjsip's source-address ACL: `deny` everything, then `permit` those networks (Asterisk
applies an ACL's rules in order and the last match wins, and realtime hands it the columns in the
view's order). res_pjsip checks an endpoint's ACL on every request once it knows the endpoint,
before the digest (pjsip_distributor.c): a REGISTER or an INVITE from elsewhere gets 403 and a
`FailedACL` security event (docs/asterisk-facts.md "SIP allow-list"). The columns are NULL without
an allow-list (res_config_pgsql leaves NULL columns out: no ACL).

Both new columns go at the end of 0014's ps_endpoints (all CREATE OR REPLACE VIEW may do).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# 0014's ps_endpoints, as it was (a migration keeps its own copy)
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
_MAILBOXES = ",\n               NULL::varchar(80) AS mailboxes"
_ACL = (
    ",\n               (CASE WHEN vn.sip_allowlist IS NOT NULL THEN '0.0.0.0/0,::/0' END)::varchar(40) AS deny"
    ",\n               vn.sip_allowlist::varchar(1000) AS permit"
)


def upgrade() -> None:
    op.add_column("virtual_numbers", sa.Column("sip_allowlist", sa.String(1000), nullable=True))
    # the panel validates and canonicalizes (webpanel/virtual_number/forms.py); this keeps any
    # other writer from storing what Asterisk could not parse (the cast fails on a bad network)
    op.create_check_constraint(
        op.f("ck_virtual_numbers_sip_allowlist_cidrs"),
        "virtual_numbers",
        "sip_allowlist IS NULL OR cardinality(string_to_array(sip_allowlist, ',')::cidr[]) > 0",
    )
    op.execute(f"CREATE OR REPLACE VIEW ps_endpoints AS{_ENDPOINT_COLUMNS}{_MAILBOXES}{_ACL}{_ENDPOINT_FROM}")


def downgrade() -> None:
    # a view loses a column only by being made again
    op.execute("DROP VIEW ps_endpoints")
    op.execute(f"CREATE VIEW ps_endpoints AS{_ENDPOINT_COLUMNS}{_MAILBOXES}{_ENDPOINT_FROM}")
    op.drop_constraint(op.f("ck_virtual_numbers_sip_allowlist_cidrs"), "virtual_numbers", type_="check")
    op.drop_column("virtual_numbers", "sip_allowlist")
