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
- an index serving the velocity window's international holds;
- account_day_spend: what each account was charged per local day (the account's time zone) and
  per number, international apart, kept by a trigger on cdr_charges (and rebuilt for the last
  days when an account's time zone changes): the decision reads today's few rows by primary key
  instead of summing the day's charges (docs/scaling.md, "Spending limits on the hot path");
- voip_open_calls: the other call trees in progress, for a concurrent-call limit.

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

# The day counters. A charge counts on the day it was rated, in its account's time zone at that
# moment; virtual_number_id 0 stands for a charge of no number. Inserts add, deletes take away,
# an update does both. Only the last two days are backfilled (a decision reads today's).
DAY_SPEND = r"""
CREATE TABLE account_day_spend (
    account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    day date NOT NULL,
    virtual_number_id bigint NOT NULL DEFAULT 0,
    amount numeric(12,4) NOT NULL DEFAULT 0,
    intl numeric(12,4) NOT NULL DEFAULT 0,
    CONSTRAINT pk_account_day_spend PRIMARY KEY (account_id, day, virtual_number_id)
);

CREATE FUNCTION voip_day_spend_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c cdr_charges;
    sign numeric;
BEGIN
    FOREACH sign IN ARRAY ARRAY[-1, 1] LOOP
        IF sign < 0 AND TG_OP IN ('UPDATE', 'DELETE') THEN
            c := OLD;
        ELSIF sign > 0 AND TG_OP IN ('UPDATE', 'INSERT') THEN
            c := NEW;
        ELSE
            CONTINUE;
        END IF;
        IF c.account_id IS NOT NULL AND c.cost <> 0 THEN
            INSERT INTO account_day_spend AS s (account_id, day, virtual_number_id, amount, intl)
            SELECT a.id, (c.rated_at AT TIME ZONE a.time_zone)::date, coalesce(c.virtual_number_id, 0),
                   sign * c.cost, CASE WHEN c.call_type = 'I' THEN sign * c.cost ELSE 0 END
              FROM accounts a WHERE a.id = c.account_id
            ON CONFLICT (account_id, day, virtual_number_id) DO UPDATE
               SET amount = s.amount + excluded.amount, intl = s.intl + excluded.intl;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER cdr_charges_day_spend AFTER INSERT OR DELETE OR UPDATE OF account_id,
    virtual_number_id, rated_at, call_type, cost ON cdr_charges
    FOR EACH ROW EXECUTE FUNCTION voip_day_spend_trigger();

-- an account's zone changed: its recent days again, in the new zone
CREATE FUNCTION voip_day_spend_rezone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM account_day_spend
     WHERE account_id = NEW.id AND day >= (now() AT TIME ZONE NEW.time_zone)::date - 2;
    INSERT INTO account_day_spend (account_id, day, virtual_number_id, amount, intl)
    SELECT NEW.id, (ch.rated_at AT TIME ZONE NEW.time_zone)::date, coalesce(ch.virtual_number_id, 0),
           sum(ch.cost), coalesce(sum(ch.cost) FILTER (WHERE ch.call_type = 'I'), 0)
      FROM cdr_charges ch
     WHERE ch.account_id = NEW.id AND ch.rated_at >= now() - interval '4 days' AND ch.cost <> 0
       AND (ch.rated_at AT TIME ZONE NEW.time_zone)::date >= (now() AT TIME ZONE NEW.time_zone)::date - 2
     GROUP BY 2, 3
    ON CONFLICT (account_id, day, virtual_number_id) DO UPDATE
       SET amount = excluded.amount, intl = excluded.intl;
    RETURN NULL;
END
$$;

CREATE TRIGGER accounts_day_spend_rezone AFTER UPDATE OF time_zone ON accounts
    FOR EACH ROW WHEN (OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION voip_day_spend_rezone();

-- the other call trees with an open hold (the account's, the number's), for a concurrent-call
-- limit: called by the decision only when one applies (db/calls.py LIMIT_SELECT)
CREATE FUNCTION voip_open_calls(p_account bigint, p_vn bigint, p_group text) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT ARRAY[count(DISTINCT coalesce(h.call_group, h.id::text)),
                         count(DISTINCT coalesce(h.call_group, h.id::text))
                             FILTER (WHERE h.virtual_number_id = p_vn)]
              FROM call_authorizations h
             WHERE h.account_id = p_account AND h.settled_at IS NULL AND h.expires_at > now()
               AND coalesce(h.call_group, '') <> coalesce(p_group, '-'));
END
$$;

INSERT INTO account_day_spend (account_id, day, virtual_number_id, amount, intl)
SELECT ch.account_id, (ch.rated_at AT TIME ZONE a.time_zone)::date, coalesce(ch.virtual_number_id, 0),
       sum(ch.cost), coalesce(sum(ch.cost) FILTER (WHERE ch.call_type = 'I'), 0)
  FROM cdr_charges ch JOIN accounts a ON a.id = ch.account_id
 WHERE ch.rated_at >= now() - interval '2 days' AND ch.cost <> 0
 GROUP BY 1, 2, 3;
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_day_spend_rezone ON accounts;
DROP TRIGGER IF EXISTS cdr_charges_day_spend ON cdr_charges;
DROP FUNCTION IF EXISTS voip_open_calls(bigint, bigint, text);
DROP FUNCTION IF EXISTS voip_day_spend_rezone();
DROP FUNCTION IF EXISTS voip_day_spend_trigger();
DROP TABLE IF EXISTS account_day_spend;
DROP INDEX IF EXISTS ix_call_authorizations_international;
DROP TABLE IF EXISTS fraud_events;
DROP TABLE IF EXISTS premium_prefixes;
DROP TABLE IF EXISTS number_limits;
DROP TABLE IF EXISTS account_limits;
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(DAY_SPEND)


def downgrade() -> None:
    op.execute(DROP)
