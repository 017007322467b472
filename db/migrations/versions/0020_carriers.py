"""Carriers and least-cost routing (issue 14)

- carriers: the operator's SIP trunks (host, port, transport, outbound auth, optional outbound
  registration, technical prefix, caller-ID rule, codecs, concurrent-call limit, qualify,
  priority and weight among equal costs, enabled). Published to Asterisk through realtime
  (the realtime part of this migration: ps_endpoints/ps_aors/ps_auths rows named
  `carrier-<name>`, ps_endpoint_id_ips for inbound identification by source address,
  ps_registrations for carriers that want an outbound registration);
- carrier_rates: each carrier's buy deck (the sell deck's columns; an import replaces the
  carrier's whole deck in one transaction);
- loss_prefixes: destination prefixes on which the operator accepts a buy price above the
  member's sell price (without one, such a route is refused);
- cdr: the carrier that carried the call, the attempts made ("name:cause;..." in order) and
  their number, set by the dialplan on the member's CDR before each attempt;
- cdr_charges: the carrier, its buy cost and the margin (cost - buy_cost; may be negative on
  an allowed-loss prefix).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLES = r"""
CREATE TABLE carriers (
    id serial PRIMARY KEY,
    name varchar(32) NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    description varchar(120) NOT NULL DEFAULT '',
    host varchar(253) NOT NULL CHECK (host ~ '^[A-Za-z0-9.:-]{1,253}$'),
    port integer NOT NULL DEFAULT 5060 CHECK (port BETWEEN 1 AND 65535),
    transport varchar(3) NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp', 'tls')),
    inbound_match varchar(255) NOT NULL DEFAULT '',
    auth_username varchar(80) NOT NULL DEFAULT '',
    auth_realm varchar(80) NOT NULL DEFAULT '',
    auth_type varchar(8) NOT NULL DEFAULT 'userpass' CHECK (auth_type IN ('userpass', 'md5')),
    auth_secret varchar(255) NOT NULL DEFAULT '',
    register boolean NOT NULL DEFAULT false,
    tech_prefix varchar(10) NOT NULL DEFAULT '' CHECK (tech_prefix ~ '^[0-9#*]{0,10}$'),
    caller_id_mode varchar(8) NOT NULL DEFAULT 'pass'
        CHECK (caller_id_mode IN ('pass', 'e164', 'national', 'fixed')),
    caller_id_number varchar(20) NOT NULL DEFAULT '' CHECK (caller_id_number ~ '^[+]?[0-9]{0,19}$'),
    codecs varchar(100) NOT NULL DEFAULT 'ulaw,alaw'
        CHECK (codecs ~ '^[a-z0-9_]{1,16}(,[a-z0-9_]{1,16}){0,9}$'),
    max_channels integer NOT NULL DEFAULT 0 CHECK (max_channels >= 0),
    qualify_seconds integer NOT NULL DEFAULT 30 CHECK (qualify_seconds BETWEEN 0 AND 3600),
    setup_timeout integer NOT NULL DEFAULT 8 CHECK (setup_timeout BETWEEN 1 AND 120),
    priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 1000),
    weight smallint NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE carrier_rates (
    id bigserial PRIMARY KEY,
    carrier_id integer NOT NULL REFERENCES carriers(id) ON DELETE CASCADE,
    prefix varchar(15) NOT NULL CHECK (prefix ~ '^[0-9]{1,15}$'),
    destination varchar(120) NOT NULL DEFAULT '',
    country varchar(2) NOT NULL DEFAULT '',
    rate_per_minute numeric(10,5) NOT NULL CHECK (rate_per_minute >= 0),
    connect_fee numeric(10,5) NOT NULL DEFAULT 0 CHECK (connect_fee >= 0),
    min_seconds smallint NOT NULL DEFAULT 60 CHECK (min_seconds >= 0),
    increment_seconds smallint NOT NULL DEFAULT 60 CHECK (increment_seconds >= 1),
    CONSTRAINT uq_carrier_rates_carrier_prefix UNIQUE (carrier_id, prefix)
);

CREATE TABLE loss_prefixes (
    prefix varchar(15) PRIMARY KEY CHECK (prefix ~ '^[0-9]{1,15}$'),
    note varchar(120) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- each carrier's last OPTIONS probe by the controller (controller/services/carrier_qualify.py)
CREATE TABLE carrier_health (
    carrier_id integer PRIMARY KEY REFERENCES carriers(id) ON DELETE CASCADE,
    reachable boolean NOT NULL,
    rtt_ms real,
    checked_at timestamptz NOT NULL DEFAULT now(),
    detail varchar(120) NOT NULL DEFAULT ''
);

ALTER TABLE cdr ADD COLUMN carrier varchar(40);
ALTER TABLE cdr ADD COLUMN attempts smallint;
ALTER TABLE cdr ADD COLUMN carrier_attempts varchar(255);

ALTER TABLE cdr_charges ADD COLUMN carrier_id integer REFERENCES carriers(id) ON DELETE SET NULL;
ALTER TABLE cdr_charges ADD COLUMN buy_cost numeric(12,4);
ALTER TABLE cdr_charges ADD COLUMN margin numeric(12,4);
"""

# --- realtime publishing of carriers (views): the realtime helper's section ---
# Each enabled carrier is published as Asterisk objects named `carrier-<name>` (db.carriers
# endpoint_id): an endpoint in context from-pstn (a carrier's inbound calls take the PSTN path),
# known only by its source address (identify_by = ip, so a From user of `carrier-x` from
# elsewhere is not taken for it), an aor with its static contact (qualified by the controller,
# controller/services/carrier_qualify.py: Asterisk does not qualify a realtime AOR), an
# outbound auth when it has a user name, an identify and, when it registers, a registration.
# A disabled carrier publishes nothing: its endpoint is gone on the next lookup, so a Dial to it
# fails at once. UDP and TCP carriers are published, on pjsip.conf's transport-udp or
# transport-tcp (a TCP carrier's contact says `;transport=tcp`, so Asterisk connects over TCP);
# tls carriers are refused by the admin (no certificate yet), and a row that slips through is not
# published at all rather than published with a transport that does not exist.
# The members' branches are 0019's ps_endpoints, 0014's ps_aors and 0003's ps_auths as they
# were (a migration keeps its own copy); the columns only carriers use go at the end, NULL for
# members (res_config_pgsql leaves NULL columns out, so members' objects do not change), and
# both branches cast to the same types so CREATE OR REPLACE VIEW keeps every column's type.
_C_ID = "('carrier-' || c.name)"
_C_HOSTPART = "(CASE WHEN position(':' in c.host) > 0 THEN '[' || c.host || ']' ELSE c.host END)"
_C_WHERE = "\n          FROM carriers c\n         WHERE c.enabled AND c.transport IN ('udp', 'tcp')"
_C_TRANSPORT = "('transport-' || c.transport)"
# res_config_pgsql splits every value on ';' (realtime's list separator) and decodes `^3B` back
# to ';': a plain ';transport=tcp' arrived as two contacts, the second `transport=tcp`
_C_URI_PARAMS = "(CASE WHEN c.transport = 'tcp' THEN '^3Btransport=tcp' ELSE '' END)"
# The endpoint, aor and auth views serve members too, so the carriers they read come through
# realtime_carriers(): a query naming `carriers` waits for any lock on that table (a migration's
# ALTER, an explicit LOCK), and that would stall every member lookup Asterisk makes that misses
# its cache (the username identifier asks for `<number>@<domain>` first, on every INVITE, 911s
# included). The function gives up after 200 ms and returns no carriers instead (a carrier
# lookup during the lock finds nothing and is asked again next time). The identify and
# registration views read the table itself: an empty answer there would stay in Asterisk's
# identify cache, or drop the registrations, until the next carrier change.
_C_LOCKFREE = _C_WHERE.replace("FROM carriers c", "FROM realtime_carriers() c")

_MEMBER_ENDPOINT_COLUMNS = """
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
               vn.sip_allowlist::varchar(1000) AS permit"""
_MEMBER_ENDPOINT_FROM = """
          FROM virtual_numbers vn
          JOIN accounts a ON a.id = vn.account_id
         WHERE a.status = 'active'"""
_MEMBER_ENDPOINT_CARRIER_COLUMNS = """,
               NULL::varchar(255) AS outbound_auth,
               NULL::varchar(255) AS from_domain,
               NULL::varchar(80) AS from_user,
               NULL::ast_bool_values AS trust_id_outbound,
               NULL::pjsip_t38udptl_ec_values AS t38_udptl_ec"""
# like the static trunk (asterisk_conf/templates/pjsip.conf.j2 pstn_endpoint): G.711 and what
# the operator lists, no direct media, RFC 4733 DTMF, PAI sent and trusted outbound, T.38 with
# redundancy. From: the carrier's domain when it authenticates us; the account as From user when
# it registers (the caller's number then travels in the P-Asserted-Identity only).
_CARRIER_ENDPOINT = f"""
        SELECT {_C_ID}::varchar(255) AS id,
               {_C_TRANSPORT}::varchar(40) AS transport,
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
               'redundancy'::pjsip_t38udptl_ec_values AS t38_udptl_ec{_C_LOCKFREE}"""

_MEMBER_AOR = """
        SELECT vn.number::varchar(255) AS id,
               vn.max_contacts::integer AS max_contacts,
               3600 AS default_expiration,
               60 AS minimum_expiration,
               7200 AS maximum_expiration,
               'yes'::ast_bool_values AS remove_existing,
               'yes'::ast_bool_values AS remove_unavailable,
               0 AS qualify_frequency,
               (vn.number || '@default')::varchar(80) AS mailboxes"""
_MEMBER_AOR_FROM = """
          FROM virtual_numbers vn"""
# the carrier's static contact; qualify_frequency is published, but Asterisk does not qualify a
# realtime AOR (docs/asterisk-facts.md): the controller does (controller/services/carrier_qualify.py)
_CARRIER_AOR = f"""
        SELECT {_C_ID}::varchar(255) AS id,
               NULL::integer AS max_contacts,
               NULL::integer AS default_expiration,
               NULL::integer AS minimum_expiration,
               NULL::integer AS maximum_expiration,
               NULL::ast_bool_values AS remove_existing,
               NULL::ast_bool_values AS remove_unavailable,
               c.qualify_seconds::integer AS qualify_frequency,
               NULL::varchar(80) AS mailboxes,
               ('sip:' || {_C_HOSTPART} || ':' || c.port || {_C_URI_PARAMS})::varchar(511) AS contact{_C_LOCKFREE}"""

_MEMBER_AUTH = """
        SELECT vn.number::varchar(255) AS id,
               'md5'::pjsip_auth_type_values_v2 AS auth_type,
               vn.sip_md5_cred::varchar(40) AS md5_cred,
               vn.number::varchar(40) AS username"""
_MEMBER_AUTH_FROM = """
          FROM virtual_numbers vn
         WHERE vn.sip_md5_cred IS NOT NULL"""
# A carrier's outbound credentials as the admin stored them (auth_secret is the password for
# userpass, md5(user:realm:password) for md5). Members' rows have no password: only their
# md5_cred is ever stored.
_CARRIER_AUTH = f"""
        SELECT {_C_ID}::varchar(255) AS id,
               c.auth_type::pjsip_auth_type_values_v2 AS auth_type,
               (CASE WHEN c.auth_type = 'md5' THEN c.auth_secret END)::varchar(40) AS md5_cred,
               c.auth_username::varchar(80) AS username,
               (CASE WHEN c.auth_type = 'userpass' THEN c.auth_secret END)::varchar(128) AS password,
               nullif(c.auth_realm, '')::varchar(255) AS realm{_C_LOCKFREE} AND c.auth_username <> ''"""
# a carrier's account name is up to 80 characters (db/carriers.py), a member's only its number:
# the column is as wide as the longer (a view's column type changes only by making it again)
_MEMBER_AUTH_WIDE = _MEMBER_AUTH.replace(
    "vn.number::varchar(40) AS username", "vn.number::varchar(80) AS username"
)

REALTIME_UP = f"""
CREATE TYPE pjsip_t38udptl_ec_values AS ENUM ('none', 'fec', 'redundancy');

-- its own column list, not `SETOF carriers`: a query over a function of the table's row type
-- opens the table (and waits for its lock) only to learn that type
CREATE FUNCTION realtime_carriers()
    RETURNS TABLE (name text, host text, port integer, transport text, codecs text,
                   qualify_seconds integer, enabled boolean, register boolean, auth_username text,
                   auth_type text, auth_secret text, auth_realm text)
    LANGUAGE plpgsql STABLE SET lock_timeout = '200ms' AS $$
BEGIN
    RETURN QUERY SELECT c.name::text, c.host::text, c.port, c.transport::text, c.codecs::text,
                        c.qualify_seconds, c.enabled, c.register, c.auth_username::text,
                        c.auth_type::text, c.auth_secret::text, c.auth_realm::text
                   FROM carriers c;
EXCEPTION WHEN lock_not_available THEN
    RETURN;
END $$;

CREATE OR REPLACE VIEW ps_endpoints AS{_MEMBER_ENDPOINT_COLUMNS}{_MEMBER_ENDPOINT_CARRIER_COLUMNS}{_MEMBER_ENDPOINT_FROM}
         UNION ALL{_CARRIER_ENDPOINT};

CREATE OR REPLACE VIEW ps_aors AS{_MEMBER_AOR},
               NULL::varchar(511) AS contact{_MEMBER_AOR_FROM}
         UNION ALL{_CARRIER_AOR};

DROP VIEW ps_auths;
CREATE VIEW ps_auths AS{_MEMBER_AUTH_WIDE},
               NULL::varchar(128) AS password,
               NULL::varchar(255) AS realm{_MEMBER_AUTH_FROM}
         UNION ALL{_CARRIER_AUTH};

-- inbound identification by source address: the carrier's listed addresses/networks, else its host
CREATE VIEW ps_endpoint_id_ips AS
        SELECT {_C_ID}::varchar(255) AS id,
               {_C_ID}::varchar(255) AS endpoint,
               coalesce(nullif(c.inbound_match, ''), c.host)::varchar(255) AS match,
               'no'::ast_bool_values AS srv_lookups{_C_WHERE};

-- outbound registrations; res_pjsip_outbound_registration reads them when it loads or reloads
CREATE VIEW ps_registrations AS
        SELECT {_C_ID}::varchar(255) AS id,
               {_C_TRANSPORT}::varchar(40) AS transport,
               (CASE WHEN c.auth_username <> '' THEN {_C_ID} END)::varchar(255) AS outbound_auth,
               ('sip:' || {_C_HOSTPART} || ':' || c.port || {_C_URI_PARAMS})::varchar(255) AS server_uri,
               ('sip:' || coalesce(nullif(c.auth_username, ''), c.name) || '@' || {_C_HOSTPART})::varchar(255)
                   AS client_uri,
               coalesce(nullif(c.auth_username, ''), c.name)::varchar(80) AS contact_user,
               60 AS retry_interval,
               300 AS forbidden_retry_interval,
               10000 AS max_retries,
               3600 AS expiration,
               'no'::ast_bool_values AS auth_rejection_permanent{_C_WHERE} AND c.register;
"""

# a view loses columns only by being made again
REALTIME_DOWN = f"""
DROP VIEW ps_registrations;
DROP VIEW ps_endpoint_id_ips;
DROP VIEW ps_auths;
CREATE VIEW ps_auths AS{_MEMBER_AUTH}{_MEMBER_AUTH_FROM};
DROP VIEW ps_aors;
CREATE VIEW ps_aors AS{_MEMBER_AOR}{_MEMBER_AOR_FROM};
DROP VIEW ps_endpoints;
CREATE VIEW ps_endpoints AS{_MEMBER_ENDPOINT_COLUMNS}{_MEMBER_ENDPOINT_FROM};
DROP FUNCTION realtime_carriers();
DROP TYPE pjsip_t38udptl_ec_values;
"""
# --- end realtime publishing ---


def upgrade() -> None:
    op.execute(TABLES)
    if REALTIME_UP:
        op.execute(REALTIME_UP)


def downgrade() -> None:
    if REALTIME_DOWN:
        op.execute(REALTIME_DOWN)
    op.execute(
        "ALTER TABLE cdr_charges DROP COLUMN margin, DROP COLUMN buy_cost, DROP COLUMN carrier_id;"
        "ALTER TABLE cdr DROP COLUMN carrier_attempts, DROP COLUMN attempts, DROP COLUMN carrier;"
        "DROP TABLE carrier_health; DROP TABLE loss_prefixes; DROP TABLE carrier_rates; DROP TABLE carriers;"
    )
