"""Webhooks: deliveries queued by triggers on the events (an outbox) (issue 15).

Each event inserts one webhook_deliveries row per matching active webhook (the account's own
and the operator's, account_id NULL) in the SAME transaction as the event itself, then
pg_notify('webhook_new'): nothing is lost when the controller is down, and no call path ever
waits on HTTP (the controller's sender, controller/services/webhooks.py, delivers them).

- call.ended: AFTER INSERT on cdr_charges (the rater inserts exactly one charge per rated CDR,
  the call's classed, billed leg): account, number, destination, start, billsec, disposition,
  cost and call type; once per call: a failed-over call's unanswered attempts (cost 0) are not
  announced, only its answered attempt (or, none answered, its last; an unanswered attempt's
  event waits 10 s for a later attempt to withdraw it);
- voicemail.new: AFTER INSERT on voicemail_messages (the number's account; no audio);
- fax.new: AFTER INSERT on faxes;
- fraud.tripped: AFTER INSERT on fraud_events, every kind but 'velocity_lifted' (a call a limit
  refused, or the velocity rule tripping);
- balance.low: AFTER UPDATE / DELETE on credit_lots, once per statement (transition tables):
  the account's balance, sum(credit_lots.remaining), went from >= low_balance_threshold to
  under it (a crossing, not every charge below it; NULL threshold: never).

Cheap when nobody listens: every trigger first asks one EXISTS of the (tiny) webhooks table
before building anything.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

UP = r"""
-- is anyone listening for this event of this account (its own webhooks or the operator's)?
-- PL/pgSQL, not SQL: an SQL function with a subquery is not inlined and would be planned on
-- every call; PL/pgSQL keeps the plan for the session
CREATE FUNCTION voip_webhook_wanted(p_account integer, p_event text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM webhooks w
                    WHERE w.active AND p_event = ANY(w.events)
                      AND (w.account_id IS NULL OR w.account_id = p_account));
END $$;

-- one delivery per matching active webhook, all with the same event_id; then a notification
-- (p_delay: first sent that much later)
CREATE FUNCTION voip_webhook_enqueue(p_account integer, p_event text, p_data jsonb,
                                     p_delay interval DEFAULT interval '0') RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    eid uuid := gen_random_uuid();
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event, event_id, payload, next_attempt_at)
    SELECT w.id, p_event, eid, p_data, now() + p_delay FROM webhooks w
     WHERE w.active AND p_event = ANY(w.events)
       AND (w.account_id IS NULL OR w.account_id = p_account);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('webhook_new', '');
    END IF;
    RETURN n;
END $$;

-- one call.ended per call. A Dial attempt nobody answered that cost nothing (a carrier that
-- failed over, a forwarding alternative that did not answer) is the call's only when no other
-- classed CDR of its channel (uniqueid) was answered or came after it:
-- - such a later or answered CDR already written: it is not announced;
-- - not written yet (the rater can be quicker than Asterisk writing the next attempt): it is
--   queued to be sent SETTLE later, and the next attempt's rating withdraws it if still unsent.
-- An answered attempt, or one that cost something, is always announced, at once.
CREATE FUNCTION voip_webhook_call_ended() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d jsonb;
    uid text;
    unanswered boolean;
    settle constant interval := interval '10 seconds';
BEGIN
    IF NOT voip_webhook_wanted(NEW.account_id, 'call.ended') THEN
        RETURN NULL;
    END IF;
    SELECT nullif(c.uniqueid, ''),
           NEW.cost = 0 AND NOT (upper(coalesce(c.disposition, '')) = 'ANSWERED' AND c.billsec > 0)
      INTO uid, unanswered
      FROM cdr c WHERE c.id = NEW.cdr_id;
    IF uid IS NOT NULL THEN
        -- this attempt supersedes the earlier unanswered ones of its channel still settling
        DELETE FROM webhook_deliveries wd
         WHERE wd.event = 'call.ended' AND wd.attempts = 0
           AND wd.delivered_at IS NULL AND wd.failed_at IS NULL
           AND wd.next_attempt_at > now() AND wd.next_attempt_at <= now() + settle
           AND wd.payload->>'cdr_id' IN (
               SELECT o.id::text FROM cdr o
                WHERE o.uniqueid = uid AND o.id < NEW.cdr_id
                  AND NOT (upper(coalesce(o.disposition, '')) = 'ANSWERED' AND o.billsec > 0));
        IF unanswered AND EXISTS (
               SELECT 1 FROM cdr o
                WHERE o.uniqueid = uid AND o.id <> NEW.cdr_id
                  AND nullif(btrim(o.call_class), '') IS NOT NULL
                  AND (o.id > NEW.cdr_id
                       OR (upper(coalesce(o.disposition, '')) = 'ANSWERED' AND o.billsec > 0))) THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT jsonb_build_object(
               'account_id', NEW.account_id,
               'cdr_id', NEW.cdr_id,
               'number', coalesce(vn.number, c.vnum),
               'destination', coalesce(nullif(c.dialed, ''), c.dst),
               'start', c.start,
               'answer', c.answer,
               'end', c."end",
               'billsec', coalesce(c.billsec, 0),
               'disposition', c.disposition,
               'call_type', NEW.call_type,
               'country', NEW.country,
               'billable_seconds', NEW.billable_seconds,
               'plan_seconds', NEW.plan_seconds,
               'cost', NEW.cost::text,
               'linkedid', c.linkedid)
      INTO d
      FROM cdr c LEFT JOIN virtual_numbers vn ON vn.id = NEW.virtual_number_id
     WHERE c.id = NEW.cdr_id;
    PERFORM voip_webhook_enqueue(NEW.account_id, 'call.ended', d,
                                 CASE WHEN unanswered AND uid IS NOT NULL THEN settle ELSE interval '0' END);
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_call_ended AFTER INSERT ON cdr_charges
    FOR EACH ROW EXECUTE FUNCTION voip_webhook_call_ended();

CREATE FUNCTION voip_webhook_voicemail_new() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    acct integer;
    num text;
BEGIN
    SELECT vn.account_id, vn.number INTO acct, num FROM virtual_numbers vn WHERE vn.id = NEW.virtual_number_id;
    IF NOT voip_webhook_wanted(acct, 'voicemail.new') THEN
        RETURN NULL;
    END IF;
    PERFORM voip_webhook_enqueue(acct, 'voicemail.new', jsonb_build_object(
        'account_id', acct,
        'message_id', NEW.id,
        'number', num,
        'folder', NEW.folder,
        'caller_name', NEW.caller_name,
        'caller_number', NEW.caller_number,
        'received_at', NEW.received_at,
        'duration_seconds', NEW.duration_seconds));
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_voicemail_new AFTER INSERT ON voicemail_messages
    FOR EACH ROW EXECUTE FUNCTION voip_webhook_voicemail_new();

CREATE FUNCTION voip_webhook_fax_new() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT voip_webhook_wanted(NEW.account_id, 'fax.new') THEN
        RETURN NULL;
    END IF;
    PERFORM voip_webhook_enqueue(NEW.account_id, 'fax.new', jsonb_build_object(
        'account_id', NEW.account_id,
        'fax_id', NEW.id,
        'did', (SELECT d.number FROM dids d WHERE d.id = NEW.did_id),
        'received_at', NEW.received_at,
        'status', NEW.status,
        'error', NEW.error,
        'caller_number', NEW.caller_number,
        'remote_station_id', NEW.remote_station_id,
        'pages', NEW.pages));
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_fax_new AFTER INSERT ON faxes
    FOR EACH ROW EXECUTE FUNCTION voip_webhook_fax_new();

CREATE FUNCTION voip_webhook_fraud_tripped() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'velocity_lifted' OR NOT voip_webhook_wanted(NEW.account_id::integer, 'fraud.tripped') THEN
        RETURN NULL;
    END IF;
    PERFORM voip_webhook_enqueue(NEW.account_id::integer, 'fraud.tripped', jsonb_build_object(
        'account_id', NEW.account_id,
        'fraud_event_id', NEW.id,
        'kind', NEW.kind,
        'detail', NEW.detail,
        'number', (SELECT vn.number FROM virtual_numbers vn WHERE vn.id = NEW.virtual_number_id),
        'created_at', NEW.created_at));
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_fraud_tripped AFTER INSERT ON fraud_events
    FOR EACH ROW EXECUTE FUNCTION voip_webhook_fraud_tripped();

-- balance.low: per statement, per account whose lots went down: before = now - change. The
-- transition tables are read by one small query (its plan is made per call); the rest are
-- plain lookups whose plans PL/pgSQL keeps
CREATE FUNCTION voip_webhook_balance_check(p_account integer, p_delta numeric) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t numeric;
    bal numeric;
BEGIN
    SELECT a.low_balance_threshold INTO t FROM accounts a WHERE a.id = p_account;
    IF t IS NULL THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(l.remaining), 0) INTO bal
      FROM credit_lots l WHERE l.account_id = p_account AND l.remaining > 0;
    IF bal - p_delta >= t AND bal < t THEN
        PERFORM voip_webhook_enqueue(p_account, 'balance.low', jsonb_build_object(
            'account_id', p_account,
            'balance', bal::text,
            'previous_balance', (bal - p_delta)::text,
            'threshold', t::text));
    END IF;
END $$;

CREATE FUNCTION voip_webhook_balance_low() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.active AND 'balance.low' = ANY(w.events)) THEN
        RETURN NULL;
    END IF;
    FOR r IN
        SELECT n.account_id, sum(n.remaining - o.remaining) AS delta
          FROM new_lots n JOIN old_lots o ON o.id = n.id
         GROUP BY n.account_id
    LOOP
        IF r.delta < 0 THEN
            PERFORM voip_webhook_balance_check(r.account_id, r.delta);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
-- a DELETE statement has no NEW TABLE
CREATE FUNCTION voip_webhook_balance_low_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.active AND 'balance.low' = ANY(w.events)) THEN
        RETURN NULL;
    END IF;
    FOR r IN SELECT o.account_id, -sum(o.remaining) AS delta FROM old_lots o GROUP BY o.account_id LOOP
        IF r.delta < 0 THEN
            PERFORM voip_webhook_balance_check(r.account_id, r.delta);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_balance_low AFTER UPDATE ON credit_lots
    REFERENCING OLD TABLE AS old_lots NEW TABLE AS new_lots
    FOR EACH STATEMENT EXECUTE FUNCTION voip_webhook_balance_low();
CREATE TRIGGER webhook_balance_low_delete AFTER DELETE ON credit_lots
    REFERENCING OLD TABLE AS old_lots
    FOR EACH STATEMENT EXECUTE FUNCTION voip_webhook_balance_low_delete();
"""

DOWN = r"""
DROP TRIGGER webhook_balance_low_delete ON credit_lots;
DROP TRIGGER webhook_balance_low ON credit_lots;
DROP FUNCTION voip_webhook_balance_low_delete();
DROP FUNCTION voip_webhook_balance_low();
DROP FUNCTION voip_webhook_balance_check(integer, numeric);
DROP TRIGGER webhook_fraud_tripped ON fraud_events;
DROP FUNCTION voip_webhook_fraud_tripped();
DROP TRIGGER webhook_fax_new ON faxes;
DROP FUNCTION voip_webhook_fax_new();
DROP TRIGGER webhook_voicemail_new ON voicemail_messages;
DROP FUNCTION voip_webhook_voicemail_new();
DROP TRIGGER webhook_call_ended ON cdr_charges;
DROP FUNCTION voip_webhook_call_ended();
DROP FUNCTION voip_webhook_enqueue(integer, text, jsonb, interval);
DROP FUNCTION voip_webhook_wanted(integer, text);
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
