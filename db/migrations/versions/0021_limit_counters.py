"""Spending limits on the hot path: the facts every decision needs on the account's own row
(issue 13, speed; docs/scaling.md section 8)

The outbound decision's one statement read five more relations for the limits (account_limits,
number_limits, premium_prefixes, account_day_spend, cdr_charges) on every call, although most
accounts have no limits of their own. Now:

- accounts.spend_day, spend_today, spend_today_intl, spend_recent: the account's charges of its
  latest local day with any (all, international) and of that day and the two before it (an upper
  bound of any velocity window's charges: a window is at most 1440 minutes, and two local days
  before today start at least 46 hours ago). Kept from account_day_spend by the same trigger on
  cdr_charges (and recounted on a time-zone change), so the decision reads them on the accounts
  row it already joins;
- accounts.limit_flags: 1 when the account has an account_limits row, 2 when one of its numbers
  has a number_limits row, kept by triggers on those tables; the decision calls
  voip_limit_facts (the limits rows, the number's spend today, the calls in progress, the
  window's international attempts) only when a flag is set, the number has a credit limit, or
  the call may be international or limited in concurrent calls;
- the window's charges are summed (cdr_charges) by the controller only when the bound above plus
  the credit held could be over the velocity amount.

The accounts row is locked before account_day_spend in the charge trigger, the order the
time-zone recount (an UPDATE of accounts) takes them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

UP = r"""
ALTER TABLE accounts
    ADD COLUMN limit_flags smallint NOT NULL DEFAULT 0,
    ADD COLUMN spend_day date,
    ADD COLUMN spend_today numeric(12,4) NOT NULL DEFAULT 0,
    ADD COLUMN spend_today_intl numeric(12,4) NOT NULL DEFAULT 0,
    ADD COLUMN spend_recent numeric(12,4) NOT NULL DEFAULT 0;

-- the account's counters from its day rows: its latest day with spend, and that day's two before
CREATE FUNCTION voip_spend_refresh(p_account bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d date;
BEGIN
    SELECT max(s.day) INTO d FROM account_day_spend s WHERE s.account_id = p_account;
    UPDATE accounts a
       SET spend_day = d, spend_today = t.today, spend_today_intl = t.today_intl, spend_recent = t.recent
      FROM (SELECT coalesce(sum(s.amount) FILTER (WHERE s.day = d), 0) AS today,
                   coalesce(sum(s.intl) FILTER (WHERE s.day = d), 0) AS today_intl,
                   coalesce(sum(s.amount), 0) AS recent
              FROM account_day_spend s WHERE s.account_id = p_account AND s.day >= d - 2) t
     WHERE a.id = p_account
       AND (a.spend_day, a.spend_today, a.spend_today_intl, a.spend_recent)
           IS DISTINCT FROM (d, t.today, t.today_intl, t.recent);
END
$$;

CREATE OR REPLACE FUNCTION voip_day_spend_trigger() RETURNS trigger
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
            -- the accounts row first: the time-zone recount's order
            PERFORM 1 FROM accounts a WHERE a.id = c.account_id FOR NO KEY UPDATE;
            INSERT INTO account_day_spend AS s (account_id, day, virtual_number_id, amount, intl)
            SELECT a.id, (c.rated_at AT TIME ZONE a.time_zone)::date, coalesce(c.virtual_number_id, 0),
                   sign * c.cost, CASE WHEN c.call_type = 'I' THEN sign * c.cost ELSE 0 END
              FROM accounts a WHERE a.id = c.account_id
            ON CONFLICT (account_id, day, virtual_number_id) DO UPDATE
               SET amount = s.amount + excluded.amount, intl = s.intl + excluded.intl;
            PERFORM voip_spend_refresh(c.account_id);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION voip_day_spend_rezone() RETURNS trigger
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
    PERFORM voip_spend_refresh(NEW.id);
    RETURN NULL;
END
$$;

-- limit_flags: bit 1, the account has an account_limits row; bit 2, one of its numbers has a
-- number_limits row
CREATE FUNCTION voip_limit_flags_refresh(p_account bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts a
       SET limit_flags = f.flags
      FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM account_limits l WHERE l.account_id = p_account)
                        THEN 1 ELSE 0 END
                 | CASE WHEN EXISTS (SELECT 1 FROM number_limits nl
                                       JOIN virtual_numbers v ON v.id = nl.virtual_number_id
                                      WHERE v.account_id = p_account) THEN 2 ELSE 0 END AS flags) f
     WHERE a.id = p_account AND a.limit_flags IS DISTINCT FROM f.flags;
END
$$;

CREATE FUNCTION voip_account_limits_flag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM voip_limit_flags_refresh(OLD.account_id);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM voip_limit_flags_refresh(NEW.account_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER account_limits_flag AFTER INSERT OR DELETE OR UPDATE OF account_id ON account_limits
    FOR EACH ROW EXECUTE FUNCTION voip_account_limits_flag();

CREATE FUNCTION voip_number_limits_flag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM voip_limit_flags_refresh(v.account_id) FROM virtual_numbers v
          WHERE v.id = OLD.virtual_number_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM voip_limit_flags_refresh(v.account_id) FROM virtual_numbers v
          WHERE v.id = NEW.virtual_number_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER number_limits_flag AFTER INSERT OR DELETE OR UPDATE OF virtual_number_id ON number_limits
    FOR EACH ROW EXECUTE FUNCTION voip_number_limits_flag();

-- a number with its own limits moved to another account: both accounts' flags again
CREATE FUNCTION voip_number_moved_flag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM number_limits nl WHERE nl.virtual_number_id = NEW.id) THEN
        PERFORM voip_limit_flags_refresh(OLD.account_id);
        PERFORM voip_limit_flags_refresh(NEW.account_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER virtual_numbers_limit_flag AFTER UPDATE OF account_id ON virtual_numbers
    FOR EACH ROW WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION voip_number_moved_flag();

-- What an account's and a number's own limits are, and the facts only they need (db/calls.py
-- LIMIT_SELECT calls it only when one may apply): the number's charges on day p_day, the other
-- call trees in progress (only for a concurrent-call limit), the international holds taken in
-- the velocity window by other call trees.
CREATE TYPE voip_limit_facts AS (
    daily_cap numeric(12,4),
    daily_cap_ceiling numeric(12,4),
    intl_daily_cap numeric(12,4),
    intl_daily_cap_ceiling numeric(12,4),
    countries varchar(2)[],
    countries_allowed varchar(2)[],
    max_rate numeric(10,5),
    max_concurrent integer,
    premium_opt_in boolean,
    velocity_intl_attempts integer,
    velocity_amount numeric(12,4),
    velocity_minutes integer,
    tripped_at timestamptz,
    tripped_reason varchar(200),
    number_countries varchar(2)[],
    number_max_concurrent integer,
    charged_here numeric(12,4),
    calls bigint[],
    attempts bigint
);

CREATE FUNCTION voip_limit_facts(p_account bigint, p_vn bigint, p_group text, p_minutes integer,
                                 p_max_concurrent integer, p_day date) RETURNS voip_limit_facts
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r voip_limit_facts;
BEGIN
    SELECT l.daily_cap, l.daily_cap_ceiling, l.intl_daily_cap, l.intl_daily_cap_ceiling, l.countries,
           l.countries_allowed, l.max_rate, l.max_concurrent, l.premium_opt_in,
           l.velocity_intl_attempts, l.velocity_amount, l.velocity_minutes, l.tripped_at,
           l.tripped_reason
      INTO r.daily_cap, r.daily_cap_ceiling, r.intl_daily_cap, r.intl_daily_cap_ceiling, r.countries,
           r.countries_allowed, r.max_rate, r.max_concurrent, r.premium_opt_in,
           r.velocity_intl_attempts, r.velocity_amount, r.velocity_minutes, r.tripped_at,
           r.tripped_reason
      FROM account_limits l WHERE l.account_id = p_account;
    SELECT nl.countries, nl.max_concurrent INTO r.number_countries, r.number_max_concurrent
      FROM number_limits nl WHERE nl.virtual_number_id = p_vn;
    r.charged_here := coalesce((SELECT s.amount FROM account_day_spend s
                                 WHERE s.account_id = p_account AND s.day = p_day
                                   AND s.virtual_number_id = p_vn), 0);
    IF coalesce(r.max_concurrent, p_max_concurrent) > 0 OR coalesce(r.number_max_concurrent, 0) > 0 THEN
        r.calls := voip_open_calls(p_account, p_vn, p_group);
    END IF;
    r.attempts := (SELECT count(*) FROM call_authorizations w
                    WHERE w.account_id = p_account AND w.call_class = 'I'
                      AND w.created_at > now() - make_interval(mins => coalesce(r.velocity_minutes, p_minutes))
                      AND coalesce(w.call_group, '') <> coalesce(p_group, '-'));
    RETURN r;
END
$$;

UPDATE accounts a SET limit_flags = 1 WHERE EXISTS (SELECT 1 FROM account_limits l WHERE l.account_id = a.id);
UPDATE accounts a SET limit_flags = a.limit_flags | 2
 WHERE EXISTS (SELECT 1 FROM number_limits nl JOIN virtual_numbers v ON v.id = nl.virtual_number_id
                WHERE v.account_id = a.id);
SELECT voip_spend_refresh(a.id) FROM accounts a
 WHERE EXISTS (SELECT 1 FROM account_day_spend s WHERE s.account_id = a.id);
"""

DOWN = r"""
DROP FUNCTION IF EXISTS voip_limit_facts(bigint, bigint, text, integer, integer, date);
DROP TYPE IF EXISTS voip_limit_facts;
DROP TRIGGER IF EXISTS virtual_numbers_limit_flag ON virtual_numbers;
DROP TRIGGER IF EXISTS number_limits_flag ON number_limits;
DROP TRIGGER IF EXISTS account_limits_flag ON account_limits;
DROP FUNCTION IF EXISTS voip_number_moved_flag();
DROP FUNCTION IF EXISTS voip_number_limits_flag();
DROP FUNCTION IF EXISTS voip_account_limits_flag();
DROP FUNCTION IF EXISTS voip_limit_flags_refresh(bigint);

CREATE OR REPLACE FUNCTION voip_day_spend_trigger() RETURNS trigger
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

CREATE OR REPLACE FUNCTION voip_day_spend_rezone() RETURNS trigger
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

DROP FUNCTION IF EXISTS voip_spend_refresh(bigint);
ALTER TABLE accounts DROP COLUMN spend_recent, DROP COLUMN spend_today_intl, DROP COLUMN spend_today,
    DROP COLUMN spend_day, DROP COLUMN limit_flags;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
