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

ALTER TABLE cdr ADD COLUMN carrier varchar(40);
ALTER TABLE cdr ADD COLUMN attempts smallint;
ALTER TABLE cdr ADD COLUMN carrier_attempts varchar(255);

ALTER TABLE cdr_charges ADD COLUMN carrier_id integer REFERENCES carriers(id) ON DELETE SET NULL;
ALTER TABLE cdr_charges ADD COLUMN buy_cost numeric(12,4);
ALTER TABLE cdr_charges ADD COLUMN margin numeric(12,4);
"""

# --- realtime publishing of carriers (views): the realtime helper's section ---
REALTIME_UP = ""
REALTIME_DOWN = ""
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
        "DROP TABLE loss_prefixes; DROP TABLE carrier_rates; DROP TABLE carriers;"
    )
