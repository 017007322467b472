"""Issue 16, registration/dashboard part: contacts made and removed become registration_events.

Asterisk sends no ContactStatus AMI event for realtime AORs (checked on Asterisk 22: a REGISTER
that succeeds writes ps_contacts and sends nothing), so the contact events come from the table
the registrar writes: a trigger on ps_contacts records an INSERT as `registered` (the device's
user agent and address) and a DELETE as `expired` (Asterisk's sweep removes a contact whose time
is up) or `unregistered` (the phone said Expires: 0, or a newer device took the slot:
remove_existing). A renewal is an UPDATE and is not recorded (ps_contacts itself shows the live
state; measured with SIPp refreshing every 300 ms: one `registered` row). A row the trigger cannot
write is left out, never the contact. ps_contacts.user_agent becomes text kept to 255 characters
(a longer User-Agent made the registrar's INSERT fail while the phone got its 200 OK). The failures (wrong password, unknown account, address refused) are AMI security events,
written by the controller (controller/services/registrations.py).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

UP = r"""
CREATE FUNCTION registration_event_from_contact() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c ps_contacts%ROWTYPE;
    kind varchar(24);
BEGIN
    IF TG_OP = 'INSERT' THEN
        c := NEW;
        kind := 'registered';
    ELSE
        c := OLD;
        kind := CASE WHEN c.expiration_time IS NOT NULL
                          AND c.expiration_time <= extract(epoch FROM now())::bigint + 1
                     THEN 'expired' ELSE 'unregistered' END;
    END IF;
    IF c.endpoint IS NULL OR c.endpoint = '' THEN
        RETURN NULL;
    END IF;
    -- the registrar's own write must never fail for the dashboard's history: a row that cannot
    -- be written is left out (one subtransaction per new or removed contact, none per renewal)
    BEGIN
        INSERT INTO registration_events (number, virtual_number_id, event, remote_addr, user_agent, detail)
        SELECT left(c.endpoint, 64),
               (SELECT vn.id FROM virtual_numbers vn WHERE vn.number = c.endpoint),
               kind,
               left(coalesce(c.via_addr, '') || CASE WHEN c.via_port IS NOT NULL AND c.via_port > 0
                                                      THEN ':' || c.via_port ELSE '' END, 64),
               left(coalesce(c.user_agent, ''), 200),
               left(coalesce(c.uri, ''), 200);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'registration event of % not written: %', c.endpoint, SQLERRM;
    END;
    RETURN NULL;
END $$;

CREATE TRIGGER ps_contacts_registration_events
    AFTER INSERT OR DELETE ON ps_contacts
    FOR EACH ROW EXECUTE FUNCTION registration_event_from_contact();

-- A phone's User-Agent longer than ps_contacts.user_agent (255) made the registrar's INSERT fail
-- ("value too long", checked before any BEFORE trigger): Asterisk still answered 200 OK, stored
-- no contact, and the phone was unreachable while it showed "registered"
-- (tests/asterisk/test_registration_reason.py, a 300-character one). The column takes any length
-- (varchar(255) -> text: no table rewrite) and a trigger keeps its first 255 characters; the
-- WHEN clause keeps the usual REGISTER free of the call.
ALTER TABLE ps_contacts ALTER COLUMN user_agent TYPE text;

CREATE FUNCTION ps_contacts_clip_user_agent() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.user_agent := left(NEW.user_agent, 255);
    RETURN NEW;
END $$;

CREATE TRIGGER ps_contacts_clip_user_agent
    BEFORE INSERT OR UPDATE OF user_agent ON ps_contacts
    FOR EACH ROW WHEN (length(NEW.user_agent) > 255)
    EXECUTE FUNCTION ps_contacts_clip_user_agent();
"""

DOWN = r"""
DROP TRIGGER IF EXISTS ps_contacts_clip_user_agent ON ps_contacts;
DROP FUNCTION IF EXISTS ps_contacts_clip_user_agent();
ALTER TABLE ps_contacts ALTER COLUMN user_agent TYPE varchar(255) USING left(user_agent, 255);
DROP TRIGGER IF EXISTS ps_contacts_registration_events ON ps_contacts;
DROP FUNCTION IF EXISTS registration_event_from_contact();
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
