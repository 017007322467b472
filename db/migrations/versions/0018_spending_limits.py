"""Spending limits and retail fraud controls (issue 13)

- account_limits: one row per account the member or the operator tuned (no row: the settings'
  defaults, controller/settings.py VOIP_DAILY_CAP...): daily and international daily caps (the
  member's and the operator's ceiling), the country allow-list (the member's within the
  operator's allowance), the highest per-minute rate, the concurrent-call limit, the premium
  opt-in, the velocity thresholds and the velocity rule's tripped state;
- number_limits: per virtual number, its country allow-list and concurrent-call limit (its
  daily credit limit is virtual_numbers.credit_limit);
- premium_prefixes: high-cost destination ranges (operator-managed), seeded with a few;
- fraud_events: every refusal of a limit and every trip of the velocity rule;
- an index serving the velocity window's international holds.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TABLES = r"""
CREATE TABLE account_limits (
    account_id bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    daily_cap numeric(12,4),
    daily_cap_ceiling numeric(12,4),
    intl_daily_cap numeric(12,4),
    intl_daily_cap_ceiling numeric(12,4),
    countries varchar(2)[],
    countries_allowed varchar(2)[],
    max_rate numeric(10,5),
    max_concurrent integer,
    premium_opt_in boolean NOT NULL DEFAULT false,
    velocity_intl_attempts integer,
    velocity_amount numeric(12,4),
    velocity_minutes integer,
    tripped_at timestamptz,
    tripped_reason varchar(200) NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_account_limits_positive CHECK (
        coalesce(daily_cap, 0) >= 0 AND coalesce(daily_cap_ceiling, 0) >= 0
        AND coalesce(intl_daily_cap, 0) >= 0 AND coalesce(intl_daily_cap_ceiling, 0) >= 0
        AND coalesce(max_rate, 0) >= 0 AND coalesce(max_concurrent, 0) >= 0
        AND coalesce(velocity_intl_attempts, 0) >= 0 AND coalesce(velocity_amount, 0) >= 0
        AND coalesce(velocity_minutes, 1) BETWEEN 1 AND 1440)
);

CREATE TABLE number_limits (
    virtual_number_id bigint PRIMARY KEY REFERENCES virtual_numbers(id) ON DELETE CASCADE,
    countries varchar(2)[],
    max_concurrent integer CHECK (coalesce(max_concurrent, 0) >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE premium_prefixes (
    prefix varchar(15) PRIMARY KEY CHECK (prefix ~ '^[0-9]{1,15}$'),
    description varchar(120) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fraud_events (
    id bigserial PRIMARY KEY,
    account_id bigint REFERENCES accounts(id) ON DELETE CASCADE,
    virtual_number_id bigint REFERENCES virtual_numbers(id) ON DELETE SET NULL,
    kind varchar(32) NOT NULL,
    detail varchar(300) NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_fraud_events_created_at ON fraud_events (created_at);
CREATE INDEX ix_fraud_events_account_id ON fraud_events (account_id, created_at);

CREATE INDEX ix_call_authorizations_international ON call_authorizations (account_id, created_at)
    WHERE call_class = 'I';

INSERT INTO premium_prefixes (prefix, description) VALUES
    ('1900', 'US/Canada 900 premium-rate services'),
    ('1976', 'US/Canada 976 pay-per-call'),
    ('44870', 'UK 0870 revenue-sharing numbers'),
    ('44871', 'UK 0871 revenue-sharing numbers'),
    ('44872', 'UK 0872 revenue-sharing numbers'),
    ('44873', 'UK 0873 revenue-sharing numbers'),
    ('449', 'UK 09 premium-rate services'),
    ('33899', 'France 0899 premium-rate services'),
    ('4990', 'Germany 0900 premium-rate services'),
    ('881', 'Global Mobile Satellite System'),
    ('882', 'International Networks'),
    ('883', 'International Networks');
"""

DROP = """
DROP INDEX IF EXISTS ix_call_authorizations_international;
DROP TABLE IF EXISTS fraud_events;
DROP TABLE IF EXISTS premium_prefixes;
DROP TABLE IF EXISTS number_limits;
DROP TABLE IF EXISTS account_limits;
"""


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    op.execute(DROP)
