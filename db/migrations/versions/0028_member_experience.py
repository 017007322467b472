"""The member experience, second pass (issue 16): the schema every part of it shares.

- forwarding_rules gains what the inbound route screens a call with before the plan runs
  (controller/rules/screening.py): do not disturb, reject anonymous callers, find-me
  confirmation (a forwarded leg must press 1), and office hours in the account's time zone
  (days as a bit mask, Monday = 1 ... Sunday = 64; closes before opens spans midnight) with
  the step 1 the number uses outside them (after_hours_*: the same choices as step1);
- call_blocks: a number's blocklist (caller IDs as digits);
- registration_events: what Asterisk said about a number's registrations (AMI security and
  contact events, written by the controller): the dashboard's state and "check my registration";
- notification_settings: which emails an account gets; notifications_sent: what was sent, once
  per (account, kind, key); job_cursors: how far a poller has read (e.g. CDRs for missed calls);
- users gain two-factor login (the TOTP secret encrypted with the panel's key, never plain;
  the last accepted time step against replay) and home_seen_at (missed calls "since last
  visit"); user_recovery_codes (hashes, once each); user_devices (a browser, known by a cookie
  whose SHA-256 is stored: new-device emails and "remember this device for 30 days").

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

UP = r"""
ALTER TABLE forwarding_rules
    ADD COLUMN dnd boolean NOT NULL DEFAULT false,
    ADD COLUMN reject_anonymous boolean NOT NULL DEFAULT false,
    ADD COLUMN confirm_forwarded boolean NOT NULL DEFAULT false,
    ADD COLUMN hours_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN hours_days smallint NOT NULL DEFAULT 31,
    ADD COLUMN hours_open time NOT NULL DEFAULT '09:00',
    ADD COLUMN hours_close time NOT NULL DEFAULT '17:00',
    ADD COLUMN after_hours_step1 varchar(16) NOT NULL DEFAULT 'voicemail',
    ADD COLUMN after_hours_mode varchar(16) NOT NULL DEFAULT 'simultaneous',
    ADD COLUMN after_hours_seconds smallint NOT NULL DEFAULT 20,
    ADD COLUMN after_hours_numbers varchar(32)[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT ck_forwarding_rules_hours_days_range CHECK (hours_days BETWEEN 1 AND 127),
    ADD CONSTRAINT ck_forwarding_rules_hours_open_close CHECK (hours_open <> hours_close),
    ADD CONSTRAINT ck_forwarding_rules_after_hours_step1
        CHECK (after_hours_step1 IN ('voicemail', 'ring_list', 'none')),
    ADD CONSTRAINT ck_forwarding_rules_after_hours_mode
        CHECK (after_hours_mode IN ('simultaneous', 'sequential')),
    ADD CONSTRAINT ck_forwarding_rules_after_hours_seconds_range
        CHECK (after_hours_seconds BETWEEN 1 AND 99);

CREATE TABLE call_blocks (
    id serial PRIMARY KEY,
    virtual_number_id integer NOT NULL REFERENCES virtual_numbers(id) ON DELETE CASCADE,
    number varchar(32) NOT NULL CONSTRAINT ck_call_blocks_number_digits CHECK (number ~ '^[0-9]{2,32}$'),
    note varchar(80) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_call_blocks_number UNIQUE (virtual_number_id, number)
);

CREATE TABLE registration_events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    -- the endpoint (account name) the phone used, as Asterisk reported it: may be no number of ours
    number varchar(64) NOT NULL,
    virtual_number_id integer REFERENCES virtual_numbers(id) ON DELETE CASCADE,
    event varchar(24) NOT NULL CONSTRAINT ck_registration_events_event CHECK (event IN (
        'registered', 'unregistered', 'expired', 'bad_password', 'unknown_user',
        'address_refused', 'too_many_devices', 'other_failure')),
    remote_addr varchar(64) NOT NULL DEFAULT '',
    user_agent varchar(200) NOT NULL DEFAULT '',
    detail varchar(200) NOT NULL DEFAULT ''
);
CREATE INDEX ix_registration_events_vn_at ON registration_events (virtual_number_id, at DESC, id DESC);
CREATE INDEX ix_registration_events_number_at ON registration_events (number, at DESC, id DESC);
CREATE INDEX ix_registration_events_at ON registration_events (at);

CREATE TABLE notification_settings (
    account_id integer PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    missed_call boolean NOT NULL DEFAULT false,
    voicemail_email boolean NOT NULL DEFAULT true,
    voicemail_attach boolean NOT NULL DEFAULT true,
    voicemail_delete_after boolean NOT NULL DEFAULT false,
    low_balance boolean NOT NULL DEFAULT false,
    weekly_summary boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications_sent (
    id bigserial PRIMARY KEY,
    account_id integer NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind varchar(24) NOT NULL CONSTRAINT ck_notifications_sent_kind CHECK (kind IN (
        'missed_call', 'voicemail', 'low_balance', 'weekly_summary', 'new_device')),
    key varchar(100) NOT NULL,
    sent_to varchar(254) NOT NULL DEFAULT '',
    sent_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_notifications_sent_once UNIQUE (account_id, kind, key)
);

CREATE TABLE job_cursors (
    name varchar(64) PRIMARY KEY,
    last_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE users
    ADD COLUMN totp_secret_enc varchar(255),
    ADD COLUMN totp_enabled_at timestamptz,
    ADD COLUMN totp_last_step bigint,
    ADD COLUMN home_seen_at timestamptz;

CREATE TABLE user_recovery_codes (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash varchar(255) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at timestamptz
);
CREATE INDEX ix_user_recovery_codes_user ON user_recovery_codes (user_id);

CREATE TABLE user_devices (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash varchar(64) NOT NULL CONSTRAINT uq_user_devices_token_hash UNIQUE,
    user_agent varchar(200) NOT NULL DEFAULT '',
    remote_addr varchar(64) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- two-factor login is skipped from this browser until then (NULL: not remembered)
    remember_until timestamptz
);
CREATE INDEX ix_user_devices_user ON user_devices (user_id);
"""

DOWN = r"""
DROP TABLE user_devices;
DROP TABLE user_recovery_codes;
ALTER TABLE users DROP COLUMN totp_secret_enc, DROP COLUMN totp_enabled_at,
    DROP COLUMN totp_last_step, DROP COLUMN home_seen_at;
DROP TABLE job_cursors;
DROP TABLE notifications_sent;
DROP TABLE notification_settings;
DROP TABLE registration_events;
DROP TABLE call_blocks;
ALTER TABLE forwarding_rules
    DROP CONSTRAINT ck_forwarding_rules_hours_days_range,
    DROP CONSTRAINT ck_forwarding_rules_hours_open_close,
    DROP CONSTRAINT ck_forwarding_rules_after_hours_step1,
    DROP CONSTRAINT ck_forwarding_rules_after_hours_mode,
    DROP CONSTRAINT ck_forwarding_rules_after_hours_seconds_range,
    DROP COLUMN dnd, DROP COLUMN reject_anonymous, DROP COLUMN confirm_forwarded,
    DROP COLUMN hours_enabled, DROP COLUMN hours_days, DROP COLUMN hours_open,
    DROP COLUMN hours_close, DROP COLUMN after_hours_step1, DROP COLUMN after_hours_mode,
    DROP COLUMN after_hours_seconds, DROP COLUMN after_hours_numbers;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
