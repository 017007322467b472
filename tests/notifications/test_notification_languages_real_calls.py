"""Issue 16, the voicemail email of a real deposit in the account's language: a PSTN caller from
the test carrier (SIP) leaves a message on the real Asterisk for a French-speaking member; the
deposit (ari_apps/voicemail/deposit.py) emails it at once, in French, over real SMTP."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from db.models import Account
from db.session import transaction
from tests.support.realparts import unique_number
from tests.voicemail.helpers import CALLER, leave_message, vm_member, wait_for_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


async def test_a_french_members_voicemail_email_is_in_french(controller, factory, settings, smtp_server):
    m = vm_member(factory, settings, email=f"vmfr{unique_number('8')}@example.test")
    with transaction(factory) as s:
        s.execute(
            update(Account).where(Account.id == m.account_id).values(language="fr", time_zone="Europe/Paris")
        )
    await leave_message(controller, m.number, wait=1)
    [msg] = await wait_for_messages(factory, m, 1)
    [mail] = await smtp_server.wait_for(1)
    assert mail.message["Subject"].startswith(f"Nouveau message vocal pour {m.number} de ")
    assert CALLER[1] in mail.message["Subject"]
    body = mail.message.get_body(("plain",)).get_content()
    assert f"Vous avez un nouveau message vocal sur le {m.number}." in body
    assert "Le message est joint." in body and "(Europe/Paris)" in body and "Reçu : " in body
    assert "You have a new" not in body
    [(filename, content, _mime)] = mail.attachments()
    assert filename.endswith(".wav") and content == msg.audio
