"""The ledger: ledger_entries kept by triggers, backfilled; invoices immutable once issued (issue 15).

ledger_entries is written by these triggers only (db/ledger.py reads it):

- credit_lots AFTER INSERT: +original, kind = the lot's source (voucher, payment, admin, demo),
  at purchased_at, reference = the lot's reference. A lot made by a manual adjustment (credit or
  refund, db/ledger.py adjust) carries the reference 'adjustment:<id>' and is NOT recorded here:
  the adjustment's own entry records it, once. A deferred constraint trigger checks at commit
  that such a lot really belongs to that adjustment (so no lot can hide from the ledger);
- credit_debits AFTER INSERT (the rater paying a charge from a lot): -amount, kind 'charge', with
  the charge's id, at the CDR's start (the call's time; the charge's rated_at without one). A
  call rated after its month's invoice was issued is carried into the next invoice as a late
  line (db/invoices.py), so the invoices stay continuous;
- account_adjustments AFTER INSERT: +amount for credit and refund, -amount for debit, with the
  adjustment's id and its lot (a credit's or refund's). A debit takes from the lots itself
  (UPDATE of credit_lots.remaining, no credit_debits row), so it is counted once, here.

Hence for every account sum(ledger_entries.amount) = sum(credit_lots.remaining)
(tests/billing/test_ledger.py). The backfill records the existing lots and debits the same way,
plus one correcting entry (kind debit, reference 'backfill: ...') for a lot whose remaining is
not original minus its debits (a lot changed by hand before the ledger existed).

ledger_entries and account_adjustments are never changed or deleted (but with their account;
their foreign keys may be set to NULL).

invoices: an issued invoice is never deleted, and an UPDATE may change only emailed_at,
email_error, and pdf while it is still NULL (the PDF is made once, after the row).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

UP = r"""
CREATE FUNCTION voip_ledger_lot() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reference ~ '^adjustment:[0-9]+$' THEN
        RETURN NULL;  -- recorded by its adjustment's entry
    END IF;
    INSERT INTO ledger_entries (account_id, at, kind, amount, credit_lot_id, reference)
    VALUES (NEW.account_id, NEW.purchased_at, NEW.source, NEW.original, NEW.id,
            left(coalesce(NEW.reference, ''), 200));
    RETURN NULL;
END $$;

CREATE TRIGGER credit_lots_ledger AFTER INSERT ON credit_lots
    FOR EACH ROW EXECUTE FUNCTION voip_ledger_lot();

-- at commit: a lot named after an adjustment is that adjustment's lot (same account and amount)
CREATE FUNCTION voip_ledger_lot_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM account_adjustments a
      WHERE a.id = substr(NEW.reference, 12)::bigint AND a.credit_lot_id = NEW.id
        AND a.account_id = NEW.account_id AND a.amount = NEW.original
        AND a.kind IN ('credit', 'refund');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'credit lot % names % but is not that adjustment''s lot',
            NEW.id, NEW.reference USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER credit_lots_adjustment_check AFTER INSERT ON credit_lots
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.reference ~ '^adjustment:[0-9]+$')
    EXECUTE FUNCTION voip_ledger_lot_check();

CREATE FUNCTION voip_ledger_debit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_entries (account_id, at, kind, amount, credit_lot_id, cdr_charge_id, reference)
    SELECT l.account_id, coalesce(c.start, ch.rated_at, now()), 'charge', -NEW.amount, NEW.credit_lot_id,
           NEW.charge_id, 'cdr:' || ch.cdr_id
      FROM credit_lots l
      JOIN cdr_charges ch ON ch.id = NEW.charge_id
      LEFT JOIN cdr c ON c.id = ch.cdr_id
     WHERE l.id = NEW.credit_lot_id;
    RETURN NULL;
END $$;

CREATE TRIGGER credit_debits_ledger AFTER INSERT ON credit_debits
    FOR EACH ROW EXECUTE FUNCTION voip_ledger_debit();

CREATE FUNCTION voip_ledger_adjustment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_entries (account_id, at, kind, amount, credit_lot_id, cdr_charge_id,
                                adjustment_id, reference)
    VALUES (NEW.account_id, NEW.at, NEW.kind,
            CASE WHEN NEW.kind = 'debit' THEN -NEW.amount ELSE NEW.amount END,
            NEW.credit_lot_id, NEW.cdr_charge_id, NEW.id, 'adjustment:' || NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER account_adjustments_ledger AFTER INSERT ON account_adjustments
    FOR EACH ROW EXECUTE FUNCTION voip_ledger_adjustment();

-- an adjustment is a fact: nothing of it changes (its reason and who made it from where
-- included) but its foreign keys set to NULL when the user, charge or lot goes; it is never
-- deleted (except with its account, ON DELETE CASCADE, which takes the ledger with it)
CREATE FUNCTION voip_adjustment_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.id, NEW.account_id, NEW.kind, NEW.amount, NEW.at, NEW.reason, NEW.remote_addr)
           IS NOT DISTINCT FROM (OLD.id, OLD.account_id, OLD.kind, OLD.amount, OLD.at, OLD.reason,
                                 OLD.remote_addr)
       AND (NEW.actor_user_id IS NULL OR NEW.actor_user_id IS NOT DISTINCT FROM OLD.actor_user_id)
       AND (NEW.cdr_charge_id IS NULL OR NEW.cdr_charge_id IS NOT DISTINCT FROM OLD.cdr_charge_id)
       AND (NEW.credit_lot_id IS NULL OR NEW.credit_lot_id IS NOT DISTINCT FROM OLD.credit_lot_id) THEN
        RETURN NEW;  -- the foreign keys' SET NULL
    END IF;
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id) THEN
        RETURN OLD;  -- the account is being deleted
    END IF;
    RAISE EXCEPTION 'account adjustment % is part of the ledger: it cannot be changed or deleted',
        OLD.id USING ERRCODE = 'check_violation';
END $$;

CREATE TRIGGER account_adjustments_immutable BEFORE UPDATE OR DELETE ON account_adjustments
    FOR EACH ROW EXECUTE FUNCTION voip_adjustment_immutable();

-- a ledger entry is written once, by the triggers above: the same rule (an invoice's figures
-- and a statement's opening balance rest on it)
CREATE FUNCTION voip_ledger_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.id, NEW.account_id, NEW.at, NEW.kind, NEW.amount, NEW.reference)
           IS NOT DISTINCT FROM (OLD.id, OLD.account_id, OLD.at, OLD.kind, OLD.amount, OLD.reference)
       AND (NEW.credit_lot_id IS NULL OR NEW.credit_lot_id IS NOT DISTINCT FROM OLD.credit_lot_id)
       AND (NEW.cdr_charge_id IS NULL OR NEW.cdr_charge_id IS NOT DISTINCT FROM OLD.cdr_charge_id)
       AND (NEW.adjustment_id IS NULL OR NEW.adjustment_id IS NOT DISTINCT FROM OLD.adjustment_id) THEN
        RETURN NEW;  -- the foreign keys' SET NULL
    END IF;
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM accounts WHERE id = OLD.account_id) THEN
        RETURN OLD;  -- the account is being deleted
    END IF;
    RAISE EXCEPTION 'ledger entry % is part of the ledger: it cannot be changed or deleted',
        OLD.id USING ERRCODE = 'check_violation';
END $$;

CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION voip_ledger_immutable();

-- backfill: the lots (those of no adjustment), the debits, then the corrections, in time order
INSERT INTO ledger_entries (account_id, at, kind, amount, credit_lot_id, reference)
SELECT l.account_id, l.purchased_at, l.source, l.original, l.id, left(coalesce(l.reference, ''), 200)
  FROM credit_lots l
 WHERE coalesce(l.reference, '') !~ '^adjustment:[0-9]+$'
 ORDER BY l.purchased_at, l.id;

INSERT INTO ledger_entries (account_id, at, kind, amount, credit_lot_id, cdr_charge_id, reference)
SELECT l.account_id, coalesce(c.start, ch.rated_at), 'charge', -d.amount, d.credit_lot_id, d.charge_id,
       'cdr:' || ch.cdr_id
  FROM credit_debits d
  JOIN credit_lots l ON l.id = d.credit_lot_id
  JOIN cdr_charges ch ON ch.id = d.charge_id
  LEFT JOIN cdr c ON c.id = ch.cdr_id
 ORDER BY 2, d.id;

INSERT INTO ledger_entries (account_id, at, kind, amount, credit_lot_id, cdr_charge_id,
                            adjustment_id, reference)
SELECT a.account_id, a.at, a.kind, CASE WHEN a.kind = 'debit' THEN -a.amount ELSE a.amount END,
       a.credit_lot_id, a.cdr_charge_id, a.id, 'adjustment:' || a.id
  FROM account_adjustments a ORDER BY a.at, a.id;

INSERT INTO ledger_entries (account_id, at, kind, amount, credit_lot_id, reference)
SELECT l.account_id, coalesce(l.last_used_at, l.purchased_at),
       CASE WHEN x.diff < 0 THEN 'debit' ELSE 'credit' END, x.diff, l.id,
       'backfill: lot ' || l.id || ' changed before the ledger'
  FROM credit_lots l
  CROSS JOIN LATERAL (
      SELECT l.remaining - l.original + coalesce((SELECT sum(d.amount) FROM credit_debits d
                                                   WHERE d.credit_lot_id = l.id), 0) AS diff) x
 WHERE coalesce(l.reference, '') !~ '^adjustment:[0-9]+$' AND x.diff <> 0;

-- invoices: issued means final
CREATE FUNCTION voip_invoice_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'invoice % is issued: it cannot be deleted', OLD.number
            USING ERRCODE = 'check_violation';
    END IF;
    IF (to_jsonb(NEW) - 'emailed_at' - 'email_error' - 'pdf')
       IS DISTINCT FROM (to_jsonb(OLD) - 'emailed_at' - 'email_error' - 'pdf') THEN
        RAISE EXCEPTION 'invoice % is issued: only emailed_at, email_error and a missing pdf may change',
            OLD.number USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.pdf IS NOT NULL AND NEW.pdf IS DISTINCT FROM OLD.pdf THEN
        RAISE EXCEPTION 'invoice % already has its PDF: it cannot be replaced', OLD.number
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION voip_invoice_immutable();
"""

DOWN = r"""
DROP TRIGGER ledger_entries_immutable ON ledger_entries;
DROP FUNCTION voip_ledger_immutable();
DROP TRIGGER invoices_immutable ON invoices;
DROP FUNCTION voip_invoice_immutable();
DROP TRIGGER account_adjustments_immutable ON account_adjustments;
DROP FUNCTION voip_adjustment_immutable();
DROP TRIGGER account_adjustments_ledger ON account_adjustments;
DROP FUNCTION voip_ledger_adjustment();
DROP TRIGGER credit_debits_ledger ON credit_debits;
DROP FUNCTION voip_ledger_debit();
DROP TRIGGER credit_lots_adjustment_check ON credit_lots;
DROP FUNCTION voip_ledger_lot_check();
DROP TRIGGER credit_lots_ledger ON credit_lots;
DROP FUNCTION voip_ledger_lot();
DELETE FROM ledger_entries;
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
