"""The operator's back office and the public API (issue 15): the tables. Their triggers and
functions come in the migrations after this one, each owned by one part:

- 0023 rollups: cdr_rollup_daily kept by a trigger on cdr_charges (reports);
- 0024 ledger: ledger_entries kept by triggers on credit_lots, credit_debits and
  account_adjustments, and backfilled from them (invoices, money by hand);
- 0025 suspension: a suspended account's endpoints and calls (realtime views);
- 0026 webhooks: webhook_deliveries filled by triggers on the events (an outbox).

Tables:
- ledger_entries: every change of an account's credit balance, signed (credit +, charge -),
  in order; sum(amount) of an account = sum(credit_lots.remaining);
- account_adjustments: manual credit, debit and refund by an operator, with the reason;
- cdr_rollup_daily: rated calls summed by UTC day, account, country, call type and carrier;
- invoices: monthly statements, numbered, immutable once issued (0024 adds the guard);
- api_tokens: REST API tokens, stored as their SHA-256 (tokens are 256-bit random);
- webhooks, webhook_deliveries: registered URLs and the signed deliveries' log;
- accounts.low_balance_threshold: the amount under which "low balance" is announced.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

UP = r"""
ALTER TABLE accounts ADD COLUMN low_balance_threshold numeric(12,4)
    CHECK (low_balance_threshold IS NULL OR low_balance_threshold >= 0);

CREATE TABLE account_adjustments (
    id bigserial PRIMARY KEY,
    account_id integer NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind varchar(8) NOT NULL CHECK (kind IN ('credit', 'debit', 'refund')),
    amount numeric(12,4) NOT NULL CHECK (amount > 0),
    reason varchar(500) NOT NULL CHECK (length(btrim(reason)) > 0),
    actor_user_id integer REFERENCES users(id) ON DELETE SET NULL,
    remote_addr varchar(64) NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT now(),
    cdr_charge_id bigint REFERENCES cdr_charges(id) ON DELETE SET NULL,  -- a refund's call
    credit_lot_id integer REFERENCES credit_lots(id) ON DELETE SET NULL  -- a credit's or refund's lot
);
CREATE INDEX ix_account_adjustments_account_at ON account_adjustments (account_id, at);

CREATE TABLE ledger_entries (
    id bigserial PRIMARY KEY,
    account_id integer NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    kind varchar(16) NOT NULL CHECK (kind IN
        ('voucher', 'payment', 'admin', 'demo', 'charge', 'credit', 'debit', 'refund', 'plan_fee')),
    amount numeric(12,4) NOT NULL,  -- signed: credit +, charge and debit -
    credit_lot_id integer REFERENCES credit_lots(id) ON DELETE SET NULL,
    cdr_charge_id bigint REFERENCES cdr_charges(id) ON DELETE SET NULL,
    adjustment_id bigint REFERENCES account_adjustments(id) ON DELETE SET NULL,
    reference varchar(200) NOT NULL DEFAULT ''
);
CREATE INDEX ix_ledger_entries_account_at ON ledger_entries (account_id, at, id);

CREATE TABLE cdr_rollup_daily (
    day date NOT NULL,                   -- UTC day of the call's start
    account_id integer NOT NULL DEFAULT 0,  -- 0: no account
    country varchar(2) NOT NULL DEFAULT '',
    call_type varchar(4) NOT NULL DEFAULT '',
    carrier_id integer NOT NULL DEFAULT 0,  -- 0: no carrier (the default trunk, on-net)
    calls bigint NOT NULL DEFAULT 0,
    answered bigint NOT NULL DEFAULT 0,
    billsec bigint NOT NULL DEFAULT 0,   -- answered seconds (ACD = billsec / answered)
    billable_seconds bigint NOT NULL DEFAULT 0,
    revenue numeric(16,4) NOT NULL DEFAULT 0,
    cost numeric(16,4) NOT NULL DEFAULT 0,  -- buy cost, where a carrier priced it
    margin numeric(16,4) NOT NULL DEFAULT 0,
    PRIMARY KEY (day, account_id, country, call_type, carrier_id)
);
CREATE INDEX ix_cdr_rollup_daily_account_day ON cdr_rollup_daily (account_id, day);

CREATE SEQUENCE invoice_number_seq;
CREATE TABLE invoices (
    id serial PRIMARY KEY,
    number varchar(32) NOT NULL CONSTRAINT uq_invoices_number UNIQUE,  -- e.g. INV-202611-000123
    account_id integer NOT NULL REFERENCES accounts(id) ON DELETE RESTRICT,
    period_start date NOT NULL,          -- first day of the month, in the account's time zone
    period_end date NOT NULL,            -- first day of the next month (exclusive)
    time_zone varchar(64) NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    currency varchar(3) NOT NULL DEFAULT 'USD',
    opening_balance numeric(14,4) NOT NULL,
    charges numeric(14,4) NOT NULL DEFAULT 0,
    plan_fees numeric(14,4) NOT NULL DEFAULT 0,
    credit_bought numeric(14,4) NOT NULL DEFAULT 0,
    payments numeric(14,4) NOT NULL DEFAULT 0,
    adjustments numeric(14,4) NOT NULL DEFAULT 0,  -- signed sum of manual credit, debit, refund
    closing_balance numeric(14,4) NOT NULL,
    lines jsonb NOT NULL DEFAULT '[]',
    pdf bytea,
    emailed_at timestamptz,
    email_error varchar(300) NOT NULL DEFAULT '',
    CONSTRAINT uq_invoices_account_id UNIQUE (account_id, period_start),
    CHECK (period_end > period_start)
);

CREATE TABLE api_tokens (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id integer REFERENCES accounts(id) ON DELETE CASCADE,  -- NULL for an operator's
    name varchar(80) NOT NULL,
    scope varchar(10) NOT NULL CHECK (scope IN ('read', 'member', 'operator')),
    token_hash varchar(64) NOT NULL CONSTRAINT uq_api_tokens_token_hash UNIQUE,  -- hex SHA-256
    prefix varchar(12) NOT NULL,             -- the token's first characters, to recognise it
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_id);

CREATE TABLE webhooks (
    id serial PRIMARY KEY,
    account_id integer REFERENCES accounts(id) ON DELETE CASCADE,  -- NULL: the operator's
    url varchar(500) NOT NULL,
    secret varchar(64) NOT NULL,  -- the HMAC key, shown once; needed to sign so kept
    events text[] NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by integer REFERENCES users(id) ON DELETE SET NULL,
    CHECK (events <@ ARRAY['call.ended', 'voicemail.new', 'fax.new', 'balance.low', 'fraud.tripped']::text[]
           AND cardinality(events) > 0)
);
CREATE INDEX ix_webhooks_account ON webhooks (account_id);

CREATE TABLE webhook_deliveries (
    id bigserial PRIMARY KEY,
    webhook_id integer NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event varchar(32) NOT NULL,
    event_id uuid NOT NULL DEFAULT gen_random_uuid(),
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status integer,
    last_error varchar(300) NOT NULL DEFAULT '',
    delivered_at timestamptz,
    failed_at timestamptz  -- gave up after the last retry
);
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX ix_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
"""

DOWN = r"""
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE api_tokens;
DROP TABLE invoices;
DROP SEQUENCE invoice_number_seq;
DROP TABLE cdr_rollup_daily;
DROP TABLE ledger_entries;
DROP TABLE account_adjustments;
ALTER TABLE accounts DROP COLUMN low_balance_threshold;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
