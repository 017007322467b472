"""A suspended account: its endpoints and calls (issue 15).

Until now ps_endpoints published only active accounts (0003, and every copy since: 0014, 0019,
0020), so suspending an account took its devices out of realtime altogether: they could no
longer register, nor call anything, 911 included. DESIGN says 911 always goes through, and a
suspended account is one the operator stopped for money or abuse, with people still behind its
phones; so its endpoints stay, with everything that serves anything but 911 taken away:

- ps_endpoints publishes a suspended account's numbers with context `suspended` (a closed
  account's still publish nothing). That context (asterisk_conf/templates/extensions.conf.j2)
  carries 911 exactly as [members] does (route outbound's emergency path, the dialplan's own
  fallback when the controller cannot be reached) and answers anything else with "I'm sorry,
  your telephone number is de-activated. Goodbye." (refusal `account_suspended`, cause 21), with
  no AGI, no hold, no call decision at all. Keeping the endpoint (and its aor and auth) is what
  lets the phone stay registered, so it can dial 911 at all: many phones refuse to dial while
  unregistered, and an endpoint that is not published cannot authenticate an INVITE.
- The call decisions refuse it too, whatever context a call comes from (a device Asterisk still
  has in its cache, a forwarded leg): route outbound refuses any call of an account that is not
  active but 911 (agi/outbound.py), route inbound refuses a call to its numbers and DIDs
  (not_in_service: "the number you have dialed is not in service", cause 1), on-net calls too.
- The change is live without a reload: accounts.status is one of the columns the realtime
  cache watches (controller/services/realtime_cache.PUBLISHED), so a committed status change
  expires the account's numbers from Asterisk's sorcery cache, and the next REGISTER or INVITE
  reads this view again. Resuming (status active) restores the `members` context the same way.

Only the members' branch of ps_endpoints changes (its context column and its WHERE); the
carriers' branch is 0020's as it was (a migration keeps its own copy). CREATE OR REPLACE keeps
every column and type.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_ACTIVE_CONTEXT = "'members'::varchar(40) AS context"
_SUSPENDED_CONTEXT = (
    "(CASE WHEN a.status = 'suspended' THEN 'suspended' ELSE 'members' END)::varchar(40) AS context"
)
_ACTIVE_WHERE = "WHERE a.status = 'active'"
_SUSPENDED_WHERE = "WHERE a.status IN ('active', 'suspended')"

_MEMBER_ENDPOINT = """
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
               'yes'::ast_bool_values AS t38_udptl,
               NULL::varchar(80) AS mailboxes,
               (CASE WHEN vn.sip_allowlist IS NOT NULL THEN '0.0.0.0/0,::/0' END)::varchar(40) AS deny,
               vn.sip_allowlist::varchar(1000) AS permit,
               NULL::varchar(255) AS outbound_auth,
               NULL::varchar(255) AS from_domain,
               NULL::varchar(80) AS from_user,
               NULL::ast_bool_values AS trust_id_outbound,
               NULL::pjsip_t38udptl_ec_values AS t38_udptl_ec
          FROM virtual_numbers vn
          JOIN accounts a ON a.id = vn.account_id
         WHERE a.status = 'active'"""

_C_ID = "('carrier-' || c.name)"
_CARRIER_ENDPOINT = f"""
        SELECT {_C_ID}::varchar(255) AS id,
               ('transport-' || c.transport)::varchar(40) AS transport,
               {_C_ID}::varchar(2048) AS aors,
               NULL::varchar(255) AS auth,
               'from-pstn'::varchar(40) AS context,
               'all'::varchar(200) AS disallow,
               c.codecs::varchar(200) AS allow,
               'no'::ast_bool_values AS direct_media,
               'rfc4733'::pjsip_dtmf_mode_values_v3 AS dtmf_mode,
               NULL::ast_bool_values AS force_rport,
               NULL::ast_bool_values AS rewrite_contact,
               NULL::ast_bool_values AS rtp_symmetric,
               NULL::varchar(40) AS callerid,
               NULL::varchar(40) AS language,
               'yes'::ast_bool_values AS send_pai,
               'no'::ast_bool_values AS allow_subscribe,
               NULL::integer AS device_state_busy_at,
               NULL::varchar(80) AS accountcode,
               'ip'::varchar(80) AS identify_by,
               'yes'::ast_bool_values AS t38_udptl,
               NULL::varchar(80) AS mailboxes,
               NULL::varchar(40) AS deny,
               NULL::varchar(1000) AS permit,
               (CASE WHEN c.auth_username <> '' THEN {_C_ID} END)::varchar(255) AS outbound_auth,
               (CASE WHEN c.auth_username <> '' THEN c.host END)::varchar(255) AS from_domain,
               (CASE WHEN c.register AND c.auth_username <> '' THEN c.auth_username END)::varchar(80) AS from_user,
               'yes'::ast_bool_values AS trust_id_outbound,
               'redundancy'::pjsip_t38udptl_ec_values AS t38_udptl_ec
          FROM realtime_carriers() c
         WHERE c.enabled AND c.transport IN ('udp', 'tcp')"""

_SUSPENDED_MEMBER_ENDPOINT = _MEMBER_ENDPOINT.replace(_ACTIVE_CONTEXT, _SUSPENDED_CONTEXT).replace(
    _ACTIVE_WHERE, _SUSPENDED_WHERE
)
assert _SUSPENDED_MEMBER_ENDPOINT.count("'suspended'") == 3

UP = f"""
CREATE OR REPLACE VIEW ps_endpoints AS{_SUSPENDED_MEMBER_ENDPOINT}
         UNION ALL{_CARRIER_ENDPOINT};
"""

DOWN = f"""
CREATE OR REPLACE VIEW ps_endpoints AS{_MEMBER_ENDPOINT}
         UNION ALL{_CARRIER_ENDPOINT};
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
