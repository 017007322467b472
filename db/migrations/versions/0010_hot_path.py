"""Call-control hot path: authorization in one statement; panel query indexes.

The call-control hot path's SQL functions (voip_lock_money, voip_money_state, voip_hold: see
their block below and db/billing.py) and the panel's query indexes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


# ----- hot path: the authorization's SQL (lead) ---------------------------------------------
# Three functions shared by every way a call is authorized (db.hotpath's optimistic and locked
# paths; the panel and the calling card read voip_money_state too):
#   voip_lock_money(account)          row-locks the account's plan subscriptions, then its
#                                     credit lots, by id (the global lock order)
#   voip_money_state(account, vn, g)  everything decide_hold needs, as one jsonb value
#   voip_hold(expected, ...)          locks, re-reads the state with a fresh snapshot and, only
#                                     if it is still `expected`, inserts the hold (its id), else
#                                     NULL: nothing changed under a decision made on `expected`
HOT_PATH_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION voip_lock_money(p_account bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM plan_subscriptions WHERE account_id = p_account AND active
      ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM credit_lots WHERE account_id = p_account AND remaining > 0
      ORDER BY id FOR NO KEY UPDATE;
END $$;

-- PL/pgSQL, not SQL: a SQL function's body is planned again on every call (0.3 ms of CPU
-- here, more than the rest of the decision); PL/pgSQL keeps its plans for the session
CREATE OR REPLACE FUNCTION voip_money_state(p_account bigint, p_vn bigint, p_group text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'owner', (SELECT jsonb_build_array(account_id, credit_limit)
                    FROM virtual_numbers WHERE id = p_vn),
        'subs', (SELECT coalesce(jsonb_agg(jsonb_build_array(id, enabled_virtual_number_id,
                                    regional_seconds_left, us_canada_seconds_left) ORDER BY id),
                                 '[]')
                   FROM plan_subscriptions WHERE account_id = p_account AND active),
        'lots', (SELECT coalesce(sum(remaining), 0) FROM credit_lots
                  WHERE account_id = p_account AND remaining > 0),
        -- open holds of other call trees (the legs of one call ring as alternatives)
        'holds', (SELECT coalesce(jsonb_agg(jsonb_build_array(s, c, p, cr, here) ORDER BY s, c),
                                  '[]')
                    FROM (SELECT plan_subscription_id AS s, call_class AS c,
                                 coalesce(sum(held_plan_seconds), 0) AS p,
                                 coalesce(sum(held_credit), 0) AS cr,
                                 coalesce(sum(held_credit) FILTER (WHERE virtual_number_id = p_vn),
                                          0) AS here
                            FROM call_authorizations
                           WHERE account_id = p_account AND settled_at IS NULL
                             AND expires_at > now()
                             AND coalesce(call_group, '') <> coalesce(p_group, '-')
                           GROUP BY 1, 2) AS h));
END $$;

CREATE OR REPLACE FUNCTION voip_hold(
    p_expected jsonb, p_account bigint, p_vn bigint, p_group text, p_uniqueid text,
    p_class text, p_dialed text, p_prefix text, p_max integer, p_subscription bigint,
    p_plan_seconds integer, p_credit numeric, p_ttl integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM voip_lock_money(p_account);
    -- a new statement: a fresh snapshot, after the locks (READ COMMITTED)
    IF voip_money_state(p_account, p_vn, p_group) IS DISTINCT FROM p_expected THEN
        RETURN NULL;
    END IF;
    INSERT INTO call_authorizations (uniqueid, account_id, virtual_number_id, call_class,
        dialed, rate_prefix, max_seconds, plan_subscription_id, held_plan_seconds, held_credit,
        call_group, expires_at)
    VALUES (left(p_uniqueid, 150), p_account, p_vn, p_class, left(p_dialed, 32), p_prefix,
        p_max, p_subscription, p_plan_seconds, p_credit, p_group,
        now() + make_interval(secs => p_ttl))
    RETURNING id INTO v_id;
    RETURN v_id;
END $$;
"""

HOT_PATH_DROP = """
DROP FUNCTION IF EXISTS voip_hold(jsonb, bigint, bigint, text, text, text, text, text, integer,
                                  bigint, integer, numeric, integer);
DROP FUNCTION IF EXISTS voip_money_state(bigint, bigint, text);
DROP FUNCTION IF EXISTS voip_lock_money(bigint);
"""


def upgrade_hot_path() -> None:
    op.execute(HOT_PATH_FUNCTIONS)


def downgrade_hot_path() -> None:
    op.execute(HOT_PATH_DROP)


# ----- end hot path ----------------------------------------------------------------------------


def upgrade() -> None:
    upgrade_hot_path()


def downgrade() -> None:
    downgrade_hot_path()
