"""Reports' rollup: cdr_rollup_daily kept by a trigger on cdr_charges (issue 15).

The operator's reports (db/reports.py) read only cdr_rollup_daily: rated calls summed by the
UTC day of the CDR's start, account (0: none), country, call type and carrier (0: none).

- cdr_charges AFTER INSERT (the rater's one row per CDR, db.billing.insert_charge): one upsert
  of the charge's rollup row, the CDR read by its primary key (day of cdr.start, disposition,
  billsec). calls +1; answered +1 and billsec += cdr.billsec when the CDR's disposition is
  ANSWERED; billable_seconds, revenue (+= cost), cost (+= buy_cost, 0 when NULL) and margin
  (+= margin, 0 when NULL: a call through no known carrier has no buy cost, so revenue minus
  cost is not its margin either);
- nothing in the code updates or deletes a cdr_charges row (the rater only inserts, and cdr is
  insert-only: cdr_pgsql writes it, nothing purges it). Updates and deletes happen anyway by
  hand and through the foreign keys (an account or carrier deleted sets account_id or
  carrier_id NULL; a CDR deleted deletes its charge), so they are followed too: an UPDATE of a
  rolled-up column moves the row's figures from its old group to its new one, a DELETE takes
  them out (a group left with no call is removed). A CDR deleted takes its charge's figures out
  itself (BEFORE DELETE on cdr: the cascade's delete of the charge runs after the CDR is gone,
  when its day and disposition can no longer be read), and an UPDATE of a rated CDR's start,
  disposition or billsec moves its figures too;
- the backfill sums the charges already there, in the same transaction that creates the
  triggers (CREATE TRIGGER locks cdr_charges against inserts until the commit, so no charge is
  counted twice or missed). voip_rollup_rebuild(from, to) recomputes a range of UTC days from
  cdr and cdr_charges (for a bulk load made with the triggers off).

Concurrency: a rater locks its batch's accounts' credit lots and plans first
(db.billing.lock_accounts), and a charge with a cost locks its account's row (0018's day-spend
trigger), so two raters seldom upsert the same rollup rows at once; where they do in opposite
orders (free calls of an account with no credit, calls with no account: account 0), the
deadlock is a retryable error for the rater, its transaction rolls back and the CDRs, still
queued, are rated again.
The backfill holds cdr_charges against inserts while it runs (the rater waits, nothing is lost).

Cost: bench/rollup_cost.py measures the rater with and without the trigger, and the trigger
function's own time per call (pg_stat_user_functions).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

UP = r"""
-- the hot path: one upsert per rated CDR, the CDR read by its primary key
CREATE FUNCTION voip_rollup_charge_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cdr_rollup_daily AS r (day, account_id, country, call_type, carrier_id, calls, answered,
                                       billsec, billable_seconds, revenue, cost, margin)
    SELECT (coalesce(d.start, NEW.rated_at) AT TIME ZONE 'UTC')::date, coalesce(NEW.account_id, 0),
           NEW.country, NEW.call_type, coalesce(NEW.carrier_id, 0), 1,
           CASE WHEN upper(d.disposition) = 'ANSWERED' THEN 1 ELSE 0 END,
           CASE WHEN upper(d.disposition) = 'ANSWERED' THEN coalesce(d.billsec, 0) ELSE 0 END,
           NEW.billable_seconds, NEW.cost, coalesce(NEW.buy_cost, 0), coalesce(NEW.margin, 0)
      FROM cdr d WHERE d.id = NEW.cdr_id
    ON CONFLICT (day, account_id, country, call_type, carrier_id) DO UPDATE
       SET calls = r.calls + 1, answered = r.answered + excluded.answered,
           billsec = r.billsec + excluded.billsec,
           billable_seconds = r.billable_seconds + excluded.billable_seconds,
           revenue = r.revenue + excluded.revenue, cost = r.cost + excluded.cost,
           margin = r.margin + excluded.margin;
    RETURN NULL;
END
$$;

-- add (sign 1) or take out (sign -1) one charge of one CDR
CREATE FUNCTION voip_rollup_apply(p_start timestamptz, p_disposition text, p_billsec integer,
                                  c cdr_charges, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    k_day date := (coalesce(p_start, c.rated_at) AT TIME ZONE 'UTC')::date;
    is_answered boolean := coalesce(upper(p_disposition) = 'ANSWERED', false);
BEGIN
    INSERT INTO cdr_rollup_daily AS r (day, account_id, country, call_type, carrier_id, calls, answered,
                                       billsec, billable_seconds, revenue, cost, margin)
    VALUES (k_day, coalesce(c.account_id, 0), c.country, c.call_type, coalesce(c.carrier_id, 0), sign,
            CASE WHEN is_answered THEN sign ELSE 0 END,
            CASE WHEN is_answered THEN sign * coalesce(p_billsec, 0) ELSE 0 END,
            sign * c.billable_seconds, sign * c.cost, sign * coalesce(c.buy_cost, 0),
            sign * coalesce(c.margin, 0))
    ON CONFLICT (day, account_id, country, call_type, carrier_id) DO UPDATE
       SET calls = r.calls + excluded.calls, answered = r.answered + excluded.answered,
           billsec = r.billsec + excluded.billsec,
           billable_seconds = r.billable_seconds + excluded.billable_seconds,
           revenue = r.revenue + excluded.revenue, cost = r.cost + excluded.cost,
           margin = r.margin + excluded.margin;
    IF sign < 0 THEN
        DELETE FROM cdr_rollup_daily r
         WHERE r.day = k_day AND r.account_id = coalesce(c.account_id, 0) AND r.country = c.country
           AND r.call_type = c.call_type AND r.carrier_id = coalesce(c.carrier_id, 0) AND r.calls = 0;
    END IF;
END
$$;

-- a charge updated or deleted (by hand, or by a foreign key's SET NULL): out of its old group,
-- into its new one. A charge deleted with its CDR was taken out by voip_rollup_cdr_change
-- (the CDR is gone by now: nothing is found, nothing is done).
CREATE FUNCTION voip_rollup_charge_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    IF TG_OP = 'DELETE' OR NEW.cdr_id <> OLD.cdr_id THEN
        SELECT start, disposition, billsec INTO d FROM cdr WHERE id = OLD.cdr_id;
        IF FOUND THEN
            PERFORM voip_rollup_apply(d.start, d.disposition, d.billsec, OLD, -1);
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN NULL;
        END IF;
        SELECT start, disposition, billsec INTO d FROM cdr WHERE id = NEW.cdr_id;
        PERFORM voip_rollup_apply(d.start, d.disposition, d.billsec, NEW, 1);
        RETURN NULL;
    END IF;
    SELECT start, disposition, billsec INTO d FROM cdr WHERE id = NEW.cdr_id;
    PERFORM voip_rollup_apply(d.start, d.disposition, d.billsec, OLD, -1);
    PERFORM voip_rollup_apply(d.start, d.disposition, d.billsec, NEW, 1);
    RETURN NULL;
END
$$;

-- a rated CDR deleted (its charge goes by the cascade) or its day, disposition or billsec changed
CREATE FUNCTION voip_rollup_cdr_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c cdr_charges;
BEGIN
    SELECT * INTO c FROM cdr_charges WHERE cdr_id = OLD.id;
    IF FOUND THEN
        PERFORM voip_rollup_apply(OLD.start, OLD.disposition, OLD.billsec, c, -1);
        IF TG_OP = 'UPDATE' THEN
            PERFORM voip_rollup_apply(NEW.start, NEW.disposition, NEW.billsec, c, 1);
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;

-- recompute the UTC days [p_from, p_to] from cdr and cdr_charges (NULL: all of them)
CREATE FUNCTION voip_rollup_rebuild(p_from date DEFAULT NULL, p_to date DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM cdr_rollup_daily r
     WHERE (p_from IS NULL OR r.day >= p_from) AND (p_to IS NULL OR r.day <= p_to);
    INSERT INTO cdr_rollup_daily (day, account_id, country, call_type, carrier_id, calls, answered,
                                  billsec, billable_seconds, revenue, cost, margin)
    SELECT k.day, coalesce(c.account_id, 0), c.country, c.call_type, coalesce(c.carrier_id, 0),
           count(*), count(*) FILTER (WHERE upper(d.disposition) = 'ANSWERED'),
           coalesce(sum(d.billsec) FILTER (WHERE upper(d.disposition) = 'ANSWERED'), 0),
           sum(c.billable_seconds), sum(c.cost), coalesce(sum(c.buy_cost), 0), coalesce(sum(c.margin), 0)
      FROM cdr_charges c
      JOIN cdr d ON d.id = c.cdr_id
     CROSS JOIN LATERAL (SELECT (coalesce(d.start, c.rated_at) AT TIME ZONE 'UTC')::date AS day) k
     WHERE (p_from IS NULL OR k.day >= p_from) AND (p_to IS NULL OR k.day <= p_to)
     GROUP BY 1, 2, 3, 4, 5;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE TRIGGER cdr_charges_rollup AFTER INSERT ON cdr_charges
    FOR EACH ROW EXECUTE FUNCTION voip_rollup_charge_insert();
CREATE TRIGGER cdr_charges_rollup_change AFTER DELETE OR UPDATE OF cdr_id, account_id, country,
    call_type, carrier_id, billable_seconds, cost, buy_cost, margin ON cdr_charges
    FOR EACH ROW EXECUTE FUNCTION voip_rollup_charge_change();
CREATE TRIGGER cdr_rollup_delete BEFORE DELETE ON cdr
    FOR EACH ROW EXECUTE FUNCTION voip_rollup_cdr_change();
CREATE TRIGGER cdr_rollup_update AFTER UPDATE OF start, disposition, billsec ON cdr
    FOR EACH ROW
    WHEN (OLD.start IS DISTINCT FROM NEW.start OR OLD.disposition IS DISTINCT FROM NEW.disposition
          OR OLD.billsec IS DISTINCT FROM NEW.billsec)
    EXECUTE FUNCTION voip_rollup_cdr_change();

-- the charges rated before this revision
SELECT voip_rollup_rebuild();
"""

DOWN = r"""
DROP TRIGGER cdr_rollup_update ON cdr;
DROP TRIGGER cdr_rollup_delete ON cdr;
DROP TRIGGER cdr_charges_rollup_change ON cdr_charges;
DROP TRIGGER cdr_charges_rollup ON cdr_charges;
DROP FUNCTION voip_rollup_rebuild(date, date);
DROP FUNCTION voip_rollup_cdr_change();
DROP FUNCTION voip_rollup_charge_change();
DROP FUNCTION voip_rollup_apply(timestamptz, text, integer, cdr_charges, integer);
DROP FUNCTION voip_rollup_charge_insert();
DELETE FROM cdr_rollup_daily;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
